"""The secrets detector: every catalogued kind is found, ordinary text is left alone."""

import pytest

from identities.inbound import tokens
from rules.detectors.secret_kinds import BY_KIND, FAMILIES, KINDS
from rules.detectors.secrets import SecretsDetector
from tests.support.rules import fake, fake_parts, rule, run, text_result


def detector(**config):
    return SecretsDetector(SecretsDetector.clean_config(config))


def found(text, **config):
    d = detector(**config)
    return [(m.kind, text[m.start : m.end]) for m in d.find(text)]


def test_the_catalogue_is_at_least_as_broad_as_the_peer_rule_set():
    assert len(KINDS) >= 88
    assert len(BY_KIND) == len(KINDS)  # no kind listed twice
    assert len(FAMILIES) >= 60


@pytest.mark.parametrize("spec", KINDS, ids=[k.kind for k in KINDS])
def test_each_kind_is_found_in_running_text(spec):
    value = fake(spec.sample, spec.kind)
    text = f"debug output:\n{value}\nend of output"
    kinds = [kind for kind, _ in found(text)]
    assert spec.kind in kinds


STARTING = [k for k in KINDS if k.starts]


@pytest.mark.parametrize("spec", STARTING, ids=[k.kind for k in STARTING])
def test_each_kind_starts_where_it_says(spec):
    # In ASCII text a kind with `starts` is tried only there: a match elsewhere would be lost.
    value = fake(spec.sample, spec.kind + "-starts")
    text = f"{value} and x{value} ({value}), {value}{value}"
    lowered = text.lower()
    starts = [m.start() for m in spec.compile().finditer(text)]
    assert starts
    for start in starts:
        assert any(
            lowered.startswith(hint.lower(), start + distance)
            for hint in spec.hints
            for distance in spec.starts
        )


def test_ascii_text_is_scanned_as_other_text_is():
    # Text with a non-ASCII letter is scanned in whole windows; ASCII text only where a match
    # can start. Both find the same.
    values = [fake(k.sample, k.kind + "-ascii") for k in KINDS]
    text = "\n".join(
        f"line {i}: {value} x{value} {value}{value};" for i, value in enumerate(values)
    )
    assert text.isascii()
    assert found(text) == found(text + " \u00e9")
    assert len(found(text)) >= len(KINDS)


@pytest.mark.parametrize("family", sorted(FAMILIES), ids=sorted(FAMILIES))
def test_each_family_is_redacted_completely(family):
    specs = [k for k in KINDS if k.family == family]
    samples = [fake_parts(k.sample, k.kind + "-redact") for k in specs]
    text = "\n".join(f"line {i}: {value} ;" for i, (value, _) in enumerate(samples))
    result = run([rule(detector_config={"kinds": [family]})], text_result(text))
    out = result.payload["content"][0]["text"]
    for spec, (_, randoms) in zip(specs, samples, strict=True):
        for piece in randoms:
            assert len(piece) < 8 or piece not in out, spec.kind
    assert out.count("[REDACTED:") >= len(specs)
    assert out.startswith("line 0: ")


def test_the_platforms_own_tokens_are_found():
    api = tokens.generate()
    oauth = tokens.generate("gto_")
    kinds = [k for k, _ in found(f"token {api} and {oauth}")]
    assert kinds == ["gatehouse_api_token", "gatehouse_oauth_access_token"]


def test_github_family_prefixes():
    body = fake([("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 36)], "gh")
    for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"):
        assert found(f"x {prefix}{body} y")[0][1] == prefix + body


def test_password_like_assignments_in_text_and_in_structured_json():
    assert found("DB_PASSWORD=s3cr3t-Value!")[0] == ("password_assignment", "s3cr3t-Value!")
    assert found('{"secret": "hunter2hunter2"}')[0] == ("password_assignment", "hunter2hunter2")
    result = run(
        [rule()], {"arguments": {"password": "Tr0ub4dor&3x", "user": "bob"}}, direction="request"
    )
    assert result.payload == {
        "arguments": {"password": "[REDACTED:PASSWORD_ASSIGNMENT]", "user": "bob"}
    }


@pytest.mark.parametrize(
    "text",
    [
        "password=self.password",
        "password: ********",
        "password=${DB_PASSWORD}",
        "the password must be rotated every 90 days",
        "api_key = <your key here>",
        "see https://example.com/docs and sk-short",
        "commit 3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345 merged",
        "uuid 123e4567-e89b-12d3-a456-426614174000 created",
        "skip_this_skeleton_key_function_name()",
        "The AKIA prefix marks AWS access keys.",
        "[REDACTED:GITHUB_PAT] was removed",
    ],
)
def test_ordinary_text_is_not_a_secret(text):
    assert found(text) == []


def test_kinds_and_exclude_narrow_the_detector():
    text = "ghp_" + "a" * 36 + " and sk_live_" + "b" * 24
    assert [k for k, _ in found(text, kinds=["github"])] == ["github_pat"]
    assert [k for k, _ in found(text, exclude=["github"])] == ["stripe_secret_key"]


def test_unknown_kinds_are_refused_with_a_clear_error():
    from rules.errors import InvalidRule

    with pytest.raises(InvalidRule, match="Unknown secret kinds or families in 'kinds': nope"):
        SecretsDetector.clean_config({"kinds": ["nope"]})
