"""The catalogue of secret formats the secrets detector knows, one entry per kind.

Each entry has a regular expression, the literal hints (compared case-insensitively) one of
which must occur in a string before the expression runs at all (most strings hold none, so a
scan is mostly one pass of `hints.HintIndex`), and a sample recipe the tests build a fresh fake
value from at run time, so no credential-shaped literal is ever committed. Where a secret has no
recognisable shape of its own (an AWS secret key, a Heroku key), the expression needs the
vendor's name nearby and the secret itself is the named group `s`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Boundaries: not preceded / followed by a character that could continue the token.
B = r"(?<![A-Za-z0-9_])"
E = r"(?![A-Za-z0-9_])"
E2 = r"(?![A-Za-z0-9_-])"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# "name ... = value" with up to 30 characters of key name, quotes and separators between.
NEAR = r"[\w.\-]{0,30}[\"']?\s*[:=]\s*[\"']?"
AWS_KEY_ID = r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}"
# Lookaheads: the 40 characters that follow hold an upper-case and a lower-case letter.
MIXED_CASE_40 = r"(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"
B64URL = ALNUM + "_-"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"


@dataclass(frozen=True)
class SecretKind:
    kind: str
    family: str
    pattern: str
    hints: tuple[str, ...]
    #: Parts of a sample value: literal strings and (alphabet, length) pairs.
    sample: tuple
    #: How far before a hint a match may start, and after it end (the expression only runs
    #: in these windows around each hint).
    before: int = 48
    after: int = 1024
    #: Where a match can start, as distances before a hint (at most `before`); empty when the
    #: expression can start anywhere in the window. With them a scan tries the expression at
    #: those few places instead of at every character of the window.
    starts: tuple[int, ...] = ()

    def compile(self) -> re.Pattern:
        return re.compile(self.pattern)


def _k(kind, family, pattern, hints, sample, before=48, after=1024, starts=()) -> SecretKind:
    return SecretKind(
        kind, family, pattern, tuple(hints), tuple(sample), before, after, tuple(starts)
    )


def _prefixed(kind, family, prefix, body, sample_body, end=E) -> SecretKind:
    """The common case: a literal prefix followed by a body of a known alphabet and length."""
    return _k(
        kind,
        family,
        B + re.escape(prefix) + body + end,
        [prefix],
        [prefix, *sample_body],
        starts=(0,),
    )


KINDS: tuple[SecretKind, ...] = (
    # -- Cloud providers -------------------------------------------------------------------------
    _k(
        "aws_access_key_id",
        "aws",
        rf"{B}(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{{16}}{E}",
        ["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        ["AKIA", ("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)],
        starts=(0,),
    ),
    _k(
        "aws_secret_access_key",
        "aws",
        # A 40-character base64 value is an AWS secret key only in context: after "aws...",
        # under a key that names a secret key or a token (STS and CLI JSON: SecretAccessKey),
        # or right after an access key id in a row, list or object (a credentials CSV). The
        # pair needs both cases of letters, so a git hash beside a key id is not taken.
        rf"(?:(?i:aws)[\w.\-]{{0,30}}(?i:secret|private)?[\w.\-]{{0,20}}[\"']?\s*[:=]\s*[\"']?"
        rf"|(?<![A-Za-z0-9])(?i:secret[_-]?access[_-]?key|secret[_-]?key|token)"
        rf"[\"']?\s*[:=]\s*[\"']?"
        rf"|{AWS_KEY_ID}[\"']?\s{{0,40}}[,;|\t]\s{{0,40}}"
        rf"(?:[\"']?[\w.\- ]{{0,40}}[\"']?\s{{0,4}}[:=]\s{{0,4}})?[\"']?{MIXED_CASE_40})"
        rf"(?P<s>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9_/+=])",
        [
            "aws",
            "secret_access",
            "secret-access",
            "secretaccess",
            "secret_key",
            "secret-key",
            "secretkey",
            "token",
            "AKIA",
            "ASIA",
            "ABIA",
            "ACCA",
        ],  # fmt: skip
        ["aws_secret_access_key = ", (ALNUM + "/+", 40)],
        starts=(0,),
    ),
    _k(
        "aws_session_token",
        "aws",
        # STS and the CLI name it SessionToken, without "aws".
        rf"(?i:(?:aws.?)?session.?token){NEAR}(?P<s>[A-Za-z0-9/+=]{{100,}})",
        ["session"],
        ["AWS_SESSION_TOKEN=", (ALNUM + "/+", 180)],
    ),
    _k(
        "gcp_service_account_key",
        "google",
        r"\"private_key_id\"\s*:\s*\"(?P<s>[0-9a-f]{40})\"",
        ['"private_key_id"'],
        ['"private_key_id": "', (HEX, 40), '"'],
        starts=(0,),
    ),
    _prefixed("google_api_key", "google", "AIza", "[0-9A-Za-z_-]{35}", [(B64URL, 35)], E2),
    _prefixed(
        "google_oauth_client_secret", "google", "GOCSPX-", "[A-Za-z0-9_-]{28}", [(B64URL, 28)], E2
    ),
    _prefixed("google_oauth_access_token", "google", "ya29.", "[0-9A-Za-z_-]{30,}", [(B64URL, 60)]),
    _k(
        "google_chat_webhook",
        "google",
        r"https://chat\.googleapis\.com/v1/spaces/[A-Za-z0-9_-]+/messages\?[^\s\"'<>]*token="
        r"[A-Za-z0-9_%=-]+",
        ["chat.googleapis.com"],
        ["https://chat.googleapis.com/v1/spaces/", (ALNUM, 11), "/messages?token=", (ALNUM, 40)],
    ),
    _k(
        "azure_storage_connection_string",
        "azure",
        r"(?i:AccountKey)=(?P<s>[A-Za-z0-9+/]{86}==)",
        ["accountkey="],
        ["DefaultEndpointsProtocol=https;AccountName=x;AccountKey=", (ALNUM + "+/", 86), "=="],
        starts=(0,),
    ),
    _k(
        "azure_sas_token",
        "azure",
        r"[?&]sv=\d{4}-\d{2}-\d{2}[^\s\"'<>]*?[?&]sig=(?P<s>[A-Za-z0-9%+/=]{30,})",
        ["sig="],
        ["https://x.blob.core.windows.net/c?sv=2024-01-01&sp=r&sig=", (ALNUM, 43), "%3D"],
        before=2048,
    ),
    _k(
        "azure_ad_client_secret",
        "azure",
        rf"{B}[A-Za-z0-9_~.]{{3}}\dQ~[A-Za-z0-9_~.-]{{31,34}}{E2}",
        ["Q~"],
        [(ALNUM, 3), "8Q~", (ALNUM, 34)],
        starts=(4,),
    ),
    _prefixed("alibaba_access_key_id", "alibaba", "LTAI", "[A-Za-z0-9]{20}", [(ALNUM, 20)]),
    _prefixed("tencent_secret_id", "tencent", "AKID", "[A-Za-z0-9]{32}", [(ALNUM, 32)]),
    _prefixed("digitalocean_pat", "digitalocean", "dop_v1_", "[a-f0-9]{64}", [(HEX, 64)]),
    _prefixed("digitalocean_oauth_token", "digitalocean", "doo_v1_", "[a-f0-9]{64}", [(HEX, 64)]),
    _prefixed("digitalocean_refresh_token", "digitalocean", "dor_v1_", "[a-f0-9]{64}", [(HEX, 64)]),
    _k(
        "heroku_api_key",
        "heroku",
        rf"(?:{B}HRKU-[A-Za-z0-9_-]{{60}}{E2}|(?i:heroku){NEAR}(?P<s>{UUID}))",
        ["HRKU-", "heroku"],
        ["HRKU-", (B64URL, 60)],
        starts=(0,),
    ),
    _prefixed("fly_io_token", "fly", "fo1_", "[A-Za-z0-9_-]{43}", [(B64URL, 43)], E2),
    _k(
        "fly_io_macaroon",
        "fly",
        r"FlyV1 fm\d_[A-Za-z0-9+/=,_-]{100,}",
        ["FlyV1 fm"],
        ["FlyV1 fm2_", (ALNUM, 140)],
        starts=(0,),
    ),
    _prefixed("render_api_key", "render", "rnd_", "[A-Za-z0-9]{32}", [(ALNUM, 32)]),
    _prefixed("supabase_access_token", "supabase", "sbp_", "[a-f0-9]{40}", [(HEX, 40)]),
    _prefixed(
        "cloudflare_origin_ca_key",
        "cloudflare",
        "v1.0-",
        "[a-f0-9]{24}-[a-f0-9]{146}",
        [(HEX, 24), "-", (HEX, 146)],
    ),
    _k(
        "cloudflare_api_token",
        "cloudflare",
        rf"(?i:cloudflare|cf_api){NEAR}(?P<s>[A-Za-z0-9_-]{{40}}){E2}",
        ["cloudflare", "cf_api"],
        ["CLOUDFLARE_API_TOKEN=", (B64URL, 40)],
        starts=(0,),
    ),
    _prefixed("databricks_token", "databricks", "dapi", "[a-f0-9]{32}(?:-\\d)?", [(HEX, 32)]),
    _k(
        "snowflake_password",
        "snowflake",
        r"snowflake://[^\s:/@\"']+:(?P<s>[^\s:/@\"']{3,})@",
        ["snowflake://"],
        ["snowflake://user:", (ALNUM, 16), "@acct/db"],
        starts=(0,),
    ),
    _prefixed(
        "hashicorp_vault_token", "hashicorp", "hvs.", "[A-Za-z0-9_-]{90,120}", [(B64URL, 95)]
    ),
    _prefixed(
        "hashicorp_vault_batch_token",
        "hashicorp",
        "hvb.",
        "[A-Za-z0-9_-]{138,300}",
        [(B64URL, 140)],
    ),
    _k(
        "terraform_cloud_token",
        "hashicorp",
        rf"{B}[A-Za-z0-9]{{14}}\.atlasv1\.[A-Za-z0-9_=-]{{60,70}}{E2}",
        [".atlasv1."],
        [(ALNUM, 14), ".atlasv1.", (ALNUM, 67)],
        starts=(14,),
    ),
    _prefixed("pulumi_access_token", "pulumi", "pul-", "[a-f0-9]{40}", [(HEX, 40)]),
    _prefixed("doppler_token", "doppler", "dp.pt.", "[A-Za-z0-9]{43}", [(ALNUM, 43)]),
    _prefixed("scalingo_api_token", "scalingo", "tk-us-", "[A-Za-z0-9_-]{48}", [(B64URL, 48)], E2),
    _k(
        "tailscale_key",
        "tailscale",
        rf"{B}tskey-(?:api|auth|client|webhook)-[A-Za-z0-9]{{6,}}-[A-Za-z0-9]{{20,}}{E}",
        ["tskey-"],
        ["tskey-auth-", (ALNUM, 12), "-", (ALNUM, 33)],
        starts=(0,),
    ),
    # -- Source hosting and CI -------------------------------------------------------------------
    _prefixed("github_pat", "github", "ghp_", "[A-Za-z0-9]{36}", [(ALNUM, 36)]),
    _prefixed("github_oauth_token", "github", "gho_", "[A-Za-z0-9]{36}", [(ALNUM, 36)]),
    _prefixed("github_user_to_server_token", "github", "ghu_", "[A-Za-z0-9]{36}", [(ALNUM, 36)]),
    _prefixed("github_server_to_server_token", "github", "ghs_", "[A-Za-z0-9]{36}", [(ALNUM, 36)]),
    _prefixed("github_refresh_token", "github", "ghr_", "[A-Za-z0-9]{36,76}", [(ALNUM, 36)]),
    _prefixed(
        "github_fine_grained_pat",
        "github",
        "github_pat_",
        "[A-Za-z0-9_]{82}",
        [(ALNUM, 22), "_", (ALNUM, 59)],
    ),
    _prefixed("gitlab_pat", "gitlab", "glpat-", "[A-Za-z0-9_-]{20,}", [(B64URL, 20)], E2),
    _prefixed("gitlab_pipeline_trigger_token", "gitlab", "glptt-", "[a-f0-9]{40}", [(HEX, 40)]),
    _k(
        "gitlab_runner_token",
        "gitlab",
        rf"{B}(?:GR1348941|glrt-)[A-Za-z0-9_-]{{20,}}{E2}",
        ["GR1348941", "glrt-"],
        ["glrt-", (B64URL, 20)],
        starts=(0,),
    ),
    _prefixed("gitlab_deploy_token", "gitlab", "gldt-", "[A-Za-z0-9_-]{20,}", [(B64URL, 20)], E2),
    _prefixed("gitlab_feed_token", "gitlab", "glft-", "[A-Za-z0-9_-]{20,}", [(B64URL, 20)], E2),
    _prefixed("gitlab_oauth_secret", "gitlab", "gloas-", "[A-Za-z0-9_-]{64}", [(B64URL, 64)], E2),
    _prefixed(
        "gitlab_ci_job_token",
        "gitlab",
        "glcbt-",
        "[0-9a-zA-Z_-]{1,5}_[0-9a-zA-Z_-]{20}",
        [(ALNUM, 3), "_", (ALNUM, 20)],
        E2,
    ),
    _prefixed(
        "gitlab_incoming_mail_token", "gitlab", "glimt-", "[A-Za-z0-9_-]{25}", [(B64URL, 25)], E2
    ),
    _prefixed(
        "bitbucket_app_password", "atlassian", "ATBB", "[A-Za-z0-9_=.-]{32}", [(ALNUM, 32)], E2
    ),
    _prefixed(
        "atlassian_api_token", "atlassian", "ATATT3", "[A-Za-z0-9_=-]{180,}", [(B64URL, 186)], E2
    ),
    _prefixed(
        "circleci_token",
        "circleci",
        "CCIPAT_",
        "[A-Za-z0-9]{22}_[a-f0-9]{40}",
        [(ALNUM, 22), "_", (HEX, 40)],
    ),
    _prefixed("buildkite_token", "buildkite", "bkua_", "[a-f0-9]{40}", [(HEX, 40)]),
    _k(
        "sonarqube_token",
        "sonar",
        rf"{B}sq[pau]_[a-f0-9]{{40}}{E}",
        ["sqp_", "sqa_", "squ_"],
        ["squ_", (HEX, 40)],
        starts=(0,),
    ),
    _prefixed("jfrog_api_key", "jfrog", "AKCp", "[A-Za-z0-9]{69}", [(ALNUM, 69)]),
    _prefixed(
        "jfrog_reference_token", "jfrog", "cmVmdGtuOjAxOj", "[A-Za-z0-9]{40,}", [(ALNUM, 50)]
    ),
    _prefixed("octopus_deploy_key", "octopus", "API-", "[A-Z0-9]{26}", [(UPPER, 26)]),
    _k(
        "harness_token",
        "harness",
        rf"{B}(?:pat|sat)\.[A-Za-z0-9_-]{{22}}\.[a-f0-9]{{24}}\.[A-Za-z0-9]{{20}}{E}",
        ["pat.", "sat."],
        ["pat.", (B64URL, 22), ".", (HEX, 24), ".", (ALNUM, 20)],
        starts=(0,),
    ),
    _prefixed("docker_hub_pat", "docker", "dckr_pat_", "[A-Za-z0-9_-]{27}", [(B64URL, 27)], E2),
    _prefixed("prefect_api_key", "prefect", "pnu_", "[A-Za-z0-9]{36}", [(ALNUM, 36)]),
    _prefixed("infracost_api_key", "infracost", "ico-", "[A-Za-z0-9]{32}", [(ALNUM, 32)]),
    # -- Package registries ----------------------------------------------------------------------
    _prefixed("npm_token", "npm", "npm_", "[A-Za-z0-9]{36}", [(ALNUM, 36)]),
    _prefixed(
        "pypi_token", "pypi", "pypi-AgEIcHlwaS5vcmc", "[A-Za-z0-9_-]{50,}", [(B64URL, 70)], E2
    ),
    _prefixed("rubygems_api_key", "rubygems", "rubygems_", "[a-f0-9]{48}", [(HEX, 48)]),
    _prefixed("nuget_api_key", "nuget", "oy2", "[a-z0-9]{43}", [(LOWER, 43)]),
    _prefixed("clojars_token", "clojars", "CLOJARS_", "[a-z0-9]{60}", [(LOWER, 60)]),
    # -- Chat, messaging, email ------------------------------------------------------------------
    _k(
        "slack_bot_token",
        "slack",
        rf"{B}xoxb-[0-9]{{8,13}}-[0-9]{{8,13}}-?[A-Za-z0-9]{{20,40}}{E}",
        ["xoxb-"],
        ["xoxb-", (DIGITS, 12), "-", (DIGITS, 13), "-", (ALNUM, 24)],
        starts=(0,),
    ),
    _k(
        "slack_user_token",
        "slack",
        rf"{B}xox[pe](?:-[0-9]{{8,13}}){{3}}-[a-f0-9A-Za-z]{{28,34}}{E}",
        ["xoxp-", "xoxe-"],
        ["xoxp-", (DIGITS, 12), "-", (DIGITS, 12), "-", (DIGITS, 13), "-", (HEX, 32)],
        starts=(0,),
    ),
    _k(
        "slack_legacy_token",
        "slack",
        rf"{B}xox[aors]-(?:\d+-)+[A-Za-z0-9]{{8,}}{E}",
        ["xoxa-", "xoxo-", "xoxr-", "xoxs-"],
        ["xoxs-", (DIGITS, 10), "-", (DIGITS, 10), "-", (ALNUM, 24)],
        starts=(0,),
    ),
    _k(
        "slack_app_token",
        "slack",
        rf"{B}xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+{E}",
        ["xapp-"],
        ["xapp-1-A", (UPPER, 10), "-", (DIGITS, 13), "-", (HEX, 64)],
        starts=(0,),
    ),
    _k(
        "slack_config_token",
        "slack",
        rf"{B}xoxe(?:\.xox[bp])?-\d-[A-Z0-9]{{146,166}}{E}",
        ["xoxe"],
        ["xoxe.xoxp-1-", (UPPER, 163)],
        starts=(0,),
    ),
    _k(
        "slack_webhook",
        "slack",
        r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
        ["hooks.slack.com"],
        ["https://hooks.slack.com/services/T", (UPPER, 10), "/B", (UPPER, 10), "/", (ALNUM, 24)],
    ),
    _k(
        "discord_webhook",
        "discord",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{60,68}",
        ["discord.com/api/webhooks", "discordapp.com/api/webhooks"],
        ["https://discord.com/api/webhooks/", (DIGITS, 18), "/", (B64URL, 68)],
    ),
    _k(
        "discord_bot_token",
        "discord",
        rf"(?i:discord|bot)[\w\s.\-]{{0,30}}[\"']?\s*[:= ]\s*[\"']?"
        rf"(?P<s>[MNO][A-Za-z0-9_-]{{23,25}}\.[A-Za-z0-9_-]{{6}}\.[A-Za-z0-9_-]{{27,38}}){E2}",
        ["discord", "bot"],
        ["DISCORD_TOKEN=M", (ALNUM, 25), ".", (ALNUM, 6), ".", (B64URL, 38)],
        starts=(0,),
    ),
    _k(
        "telegram_bot_token",
        "telegram",
        rf"(?<![0-9]){B}[0-9]{{8,10}}:AA[A-Za-z0-9_-]{{33}}{E2}",
        [":AA"],
        [(DIGITS, 10), ":AA", (B64URL, 33)],
        starts=(8, 9, 10),
    ),
    _k(
        "microsoft_teams_webhook",
        "microsoft",
        r"https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_-]{40,}",
        ["webhook.office.com"],
        [
            "https://acme.webhook.office.com/webhookb2/",
            (HEX, 36),
            "@",
            (HEX, 36),
            "/IncomingWebhook/",
            (HEX, 32),
        ],
    ),
    _k(
        "twilio_api_key",
        "twilio",
        rf"{B}SK[0-9a-fA-F]{{32}}{E}",
        ["SK"],
        ["SK", (HEX, 32)],
        starts=(0,),
    ),
    _k(
        "sendgrid_api_key",
        "sendgrid",
        rf"{B}SG\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}{E2}",
        ["SG."],
        ["SG.", (B64URL, 22), ".", (B64URL, 43)],
        starts=(0,),
    ),
    _prefixed("mailgun_api_key", "mailgun", "key-", "[0-9a-f]{32}", [(HEX, 32)]),
    _k(
        "mailchimp_api_key",
        "mailchimp",
        rf"{B}[0-9a-f]{{32}}-us[0-9]{{1,2}}{E}",
        ["-us"],
        [(HEX, 32), "-us21"],
        starts=(32,),
    ),
    _prefixed(
        "brevo_api_key",
        "brevo",
        "xkeysib-",
        "[a-f0-9]{64}-[A-Za-z0-9]{16}",
        [(HEX, 64), "-", (ALNUM, 16)],
    ),
    _k(
        "postmark_server_token",
        "postmark",
        rf"(?i:postmark){NEAR}(?P<s>{UUID})",
        ["postmark"],
        [
            "POSTMARK_SERVER_TOKEN=",
            (HEX, 8),
            "-",
            (HEX, 4),
            "-",
            (HEX, 4),
            "-",
            (HEX, 4),
            "-",
            (HEX, 12),
        ],
        starts=(0,),
    ),
    # -- Payments and commerce -------------------------------------------------------------------
    _k(
        "stripe_secret_key",
        "stripe",
        rf"{B}sk_(?:live|test)_[A-Za-z0-9]{{10,99}}{E}",
        ["sk_live_", "sk_test_"],
        ["sk_live_", (ALNUM, 24)],
        starts=(0,),
    ),
    _k(
        "stripe_restricted_key",
        "stripe",
        rf"{B}rk_(?:live|test)_[A-Za-z0-9]{{10,99}}{E}",
        ["rk_live_", "rk_test_"],
        ["rk_live_", (ALNUM, 24)],
        starts=(0,),
    ),
    _prefixed("stripe_webhook_secret", "stripe", "whsec_", "[A-Za-z0-9]{32,}", [(ALNUM, 32)]),
    _k(
        "square_access_token",
        "square",
        rf"{B}(?:EAAA|sq0atp-)[A-Za-z0-9_-]{{22,60}}{E2}",
        ["EAAA", "sq0atp-"],
        ["EAAA", (B64URL, 60)],
        starts=(0,),
    ),
    _prefixed("square_oauth_secret", "square", "sq0csp-", "[A-Za-z0-9_-]{43}", [(B64URL, 43)], E2),
    _k(
        "shopify_token",
        "shopify",
        rf"{B}shp(?:at|ca|pa|ss)_[a-fA-F0-9]{{32}}{E}",
        ["shpat_", "shpca_", "shppa_", "shpss_"],
        ["shpat_", (HEX, 32)],
        starts=(0,),
    ),
    _k(
        "paypal_braintree_token",
        "paypal",
        r"access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32}",
        ["access_token$"],
        ["access_token$production$", (LOWER, 16), "$", (HEX, 32)],
        starts=(0,),
    ),
    _k(
        "razorpay_key",
        "razorpay",
        rf"{B}rzp_(?:live|test)_[A-Za-z0-9]{{14}}{E}",
        ["rzp_"],
        ["rzp_live_", (ALNUM, 14)],
        starts=(0,),
    ),
    _k(
        "flutterwave_secret_key",
        "flutterwave",
        r"FLWSECK(?:_TEST)?-[a-h0-9]{32}-X",
        ["FLWSECK"],
        ["FLWSECK_TEST-", ("abcdefgh0123456789", 32), "-X"],
        starts=(0,),
    ),
    _k(
        "plaid_access_token",
        "plaid",
        rf"{B}access-(?:sandbox|development|production)-{UUID}{E2}",
        ["access-sandbox-", "access-development-", "access-production-"],
        [
            "access-production-",
            (HEX, 8),
            "-",
            (HEX, 4),
            "-",
            (HEX, 4),
            "-",
            (HEX, 4),
            "-",
            (HEX, 12),
        ],
        starts=(0,),
    ),
    _k(
        "duffel_token",
        "duffel",
        rf"{B}duffel_(?:test|live)_[A-Za-z0-9_=-]{{43}}{E2}",
        ["duffel_"],
        ["duffel_live_", (B64URL, 43)],
        starts=(0,),
    ),
    _k(
        "easypost_api_key",
        "easypost",
        rf"{B}EZ[AT]K[A-Za-z0-9]{{54}}{E}",
        ["EZAK", "EZTK"],
        ["EZAK", (ALNUM, 54)],
        starts=(0,),
    ),
    _k(
        "shippo_token",
        "shippo",
        rf"{B}shippo_(?:live|test)_[a-f0-9]{{40}}{E}",
        ["shippo_"],
        ["shippo_live_", (HEX, 40)],
        starts=(0,),
    ),
    # -- AI providers ----------------------------------------------------------------------------
    _prefixed(
        "anthropic_api_key", "anthropic", "sk-ant-", "[A-Za-z0-9_-]{32,}", [(B64URL, 95)], E2
    ),
    _prefixed("openrouter_api_key", "openrouter", "sk-or-v1-", "[a-f0-9]{64}", [(HEX, 64)]),
    _k(
        "openai_api_key",
        "openai",
        rf"{B}sk-(?!ant-|or-v1-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{{32,}}{E2}",
        ["sk-"],
        ["sk-proj-", (B64URL, 48), "T3BlbkFJ", (B64URL, 48)],
        starts=(0,),
    ),
    _prefixed("groq_api_key", "groq", "gsk_", "[A-Za-z0-9]{52}", [(ALNUM, 52)]),
    _prefixed("replicate_api_token", "replicate", "r8_", "[A-Za-z0-9]{37}", [(ALNUM, 37)]),
    _prefixed("perplexity_api_key", "perplexity", "pplx-", "[A-Za-z0-9]{48}", [(ALNUM, 48)]),
    _prefixed("xai_api_key", "xai", "xai-", "[A-Za-z0-9]{80}", [(ALNUM, 80)]),
    _k(
        "huggingface_token",
        "huggingface",
        rf"{B}(?:hf_|api_org_)[A-Za-z]{{34}}{E}",
        ["hf_", "api_org_"],
        ["hf_", (LETTERS, 34)],
        starts=(0,),
    ),
    _k(
        "langsmith_api_key",
        "langchain",
        rf"{B}lsv2_(?:pt|sk)_[a-f0-9]{{32}}_[a-f0-9]{{10}}{E}",
        ["lsv2_"],
        ["lsv2_pt_", (HEX, 32), "_", (HEX, 10)],
        starts=(0,),
    ),
    # -- SaaS and developer tools ----------------------------------------------------------------
    _prefixed("linear_api_key", "linear", "lin_api_", "[A-Za-z0-9]{40}", [(ALNUM, 40)]),
    _k(
        "notion_token",
        "notion",
        rf"{B}(?:secret_[A-Za-z0-9]{{43}}|ntn_[0-9]{{11}}[A-Za-z0-9]{{35}}){E}",
        ["secret_", "ntn_"],
        ["ntn_", (DIGITS, 11), (ALNUM, 35)],
        starts=(0,),
    ),
    _k(
        "airtable_pat",
        "airtable",
        rf"{B}pat[A-Za-z0-9]{{14}}\.[a-f0-9]{{64}}{E}",
        ["pat"],
        ["pat", (ALNUM, 14), ".", (HEX, 64)],
        starts=(0,),
    ),
    _prefixed("figma_pat", "figma", "figd_", "[A-Za-z0-9_-]{40}", [(B64URL, 40)], E2),
    _k(
        "hubspot_private_app_token",
        "hubspot",
        rf"{B}pat-(?:na|eu)\d-{UUID}{E2}",
        ["pat-na", "pat-eu"],
        ["pat-na1-", (HEX, 8), "-", (HEX, 4), "-", (HEX, 4), "-", (HEX, 4), "-", (HEX, 12)],
        starts=(0,),
    ),
    _k(
        "postman_api_key",
        "postman",
        rf"{B}PMAK-[a-f0-9]{{24}}-[a-f0-9]{{34}}{E}",
        ["PMAK-"],
        ["PMAK-", (HEX, 24), "-", (HEX, 34)],
        starts=(0,),
    ),
    _k(
        "sentry_token",
        "sentry",
        rf"{B}(?:sntrys_eyJ[A-Za-z0-9+/=_-]{{80,}}|sntryu_[a-f0-9]{{64}}){E2}",
        ["sntrys_", "sntryu_"],
        ["sntryu_", (HEX, 64)],
        starts=(0,),
    ),
    _k(
        "grafana_token",
        "grafana",
        rf"{B}(?:glc_[A-Za-z0-9+/]{{32,400}}={{0,2}}|glsa_[A-Za-z0-9]{{32}}_[A-Fa-f0-9]{{8}})",
        ["glc_", "glsa_"],
        ["glsa_", (ALNUM, 32), "_", (HEX, 8)],
        starts=(0,),
    ),
    _k(
        "new_relic_key",
        "newrelic",
        rf"{B}NR(?:AK|II|JS|AA)-[A-Za-z0-9]{{19,42}}{E}",
        ["NRAK-", "NRII-", "NRJS-", "NRAA-"],
        ["NRAK-", (UPPER, 27)],
        starts=(0,),
    ),
    _k(
        "datadog_api_key",
        "datadog",
        rf"(?i:datadog|dd_api|dd_app|dd-api|dd-app){NEAR}(?P<s>[a-f0-9]{{32,40}}){E}",
        ["datadog", "dd_api", "dd_app", "dd-api", "dd-app"],
        ["DD_API_KEY=", (HEX, 32)],
        starts=(0,),
    ),
    _k(
        "dynatrace_token",
        "dynatrace",
        rf"{B}dt0c01\.[A-Z0-9]{{24}}\.[A-Z0-9]{{64}}{E}",
        ["dt0c01."],
        ["dt0c01.", (UPPER, 24), ".", (UPPER, 64)],
        starts=(0,),
    ),
    _k(
        "okta_api_token",
        "okta",
        rf"(?i:okta){NEAR}(?P<s>00[A-Za-z0-9_-]{{40}}){E2}",
        ["okta"],
        ["OKTA_API_TOKEN=00", (B64URL, 40)],
        starts=(0,),
    ),
    _k(
        "salesforce_access_token",
        "salesforce",
        rf"{B}00D[A-Za-z0-9]{{12,15}}![A-Za-z0-9._]{{80,}}",
        ["00D"],
        ["00D", (ALNUM, 15), "!", (ALNUM, 96)],
        starts=(0,),
    ),
    _k(
        "twitter_bearer_token",
        "twitter",
        r"AAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{30,}",
        ["AAAAAAAAAAAAAAAAAAAAA"],
        ["AAAAAAAAAAAAAAAAAAAAA", (ALNUM, 60)],
        starts=(0,),
    ),
    _k(
        "facebook_access_token",
        "facebook",
        rf"{B}EAA[CM][A-Za-z0-9]{{100,}}{E}",
        ["EAAC", "EAAM"],
        ["EAAC", (ALNUM, 120)],
        starts=(0,),
    ),
    _k(
        "firebase_cloud_messaging_key",
        "google",
        rf"{B}AAAA[A-Za-z0-9_-]{{7}}:[A-Za-z0-9_-]{{140}}{E2}",
        ["AAAA"],
        ["AAAA", (B64URL, 7), ":", (B64URL, 140)],
        starts=(0,),
    ),
    _k(
        "mapbox_token",
        "mapbox",
        rf"{B}[ps]k\.eyJ[A-Za-z0-9_-]{{50,}}\.[A-Za-z0-9_-]{{20,}}{E2}",
        ["pk.eyJ", "sk.eyJ"],
        ["sk.eyJ", (B64URL, 70), ".", (B64URL, 22)],
        starts=(0,),
    ),
    _prefixed("dropbox_token", "dropbox", "sl.", "[A-Za-z0-9_-]{130,}", [(B64URL, 140)], E2),
    _k(
        "contentful_token",
        "contentful",
        rf"{B}CFPAT-[A-Za-z0-9_-]{{43}}{E2}",
        ["CFPAT-"],
        ["CFPAT-", (B64URL, 43)],
        starts=(0,),
    ),
    _prefixed("typeform_token", "typeform", "tfp_", "[A-Za-z0-9_.=-]{59}", [(B64URL, 59)], E2),
    _prefixed("readme_api_key", "readme", "rdme_", "[a-z0-9]{70}", [(LOWER, 70)]),
    _k(
        "planetscale_token",
        "planetscale",
        rf"{B}pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{{32,64}}{E2}",
        ["pscale_"],
        ["pscale_tkn_", (B64URL, 43)],
        starts=(0,),
    ),
    _prefixed("segment_token", "segment", "sgp_", "[A-Za-z0-9]{64}", [(ALNUM, 64)]),
    _prefixed("frameio_token", "frameio", "fio-u-", "[A-Za-z0-9_=-]{64}", [(B64URL, 64)], E2),
    _prefixed("netlify_token", "netlify", "nfp_", "[A-Za-z0-9]{36,40}", [(ALNUM, 36)]),
    _k(
        "onepassword_service_account_token",
        "1password",
        rf"{B}ops_eyJ[A-Za-z0-9+/]{{250,}}={{0,3}}",
        ["ops_eyJ"],
        ["ops_eyJ", (ALNUM, 260)],
        starts=(0,),
    ),
    _k(
        "onepassword_secret_key",
        "1password",
        rf"{B}A3-[A-Z0-9]{{6}}-(?:[A-Z0-9]{{11}}|[A-Z0-9]{{6}}-[A-Z0-9]{{5}})"
        rf"-[A-Z0-9]{{5}}-[A-Z0-9]{{5}}-[A-Z0-9]{{5}}{E2}",
        ["A3-"],
        ["A3-", (UPPER, 6), "-", (UPPER, 11), "-", (UPPER, 5), "-", (UPPER, 5), "-", (UPPER, 5)],
        starts=(0,),
    ),
    _k(
        "age_secret_key",
        "age",
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        ["AGE-SECRET-KEY-1"],
        ["AGE-SECRET-KEY-1", ("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)],
        starts=(0,),
    ),
    # -- Generic shapes --------------------------------------------------------------------------
    _k(
        "private_key",
        "private_key",
        r"-----BEGIN[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,16384}?-----END[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"|[A-Za-z0-9+/=\s\\:-]{0,16384})",
        ["PRIVATE KEY"],
        ["-----BEGIN RSA PRIVATE KEY-----\n", (ALNUM, 64), "\n-----END RSA PRIVATE KEY-----"],
        after=17_000,
    ),
    _k(
        "putty_private_key",
        "private_key",
        r"PuTTY-User-Key-File-\d: [\s\S]{0,8192}?Private-MAC: [a-f0-9]+",
        ["PuTTY-User-Key-File-"],
        [
            "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\n",
            (ALNUM, 44),
            "\nPrivate-MAC: ",
            (HEX, 64),
        ],
        after=9_000,
        starts=(0,),
    ),
    _k(
        "kubeconfig_client_key",
        "kubernetes",
        r"client-key-data:\s*[\"']?(?P<s>[A-Za-z0-9+/=]{40,})",
        ["client-key-data"],
        ["client-key-data: ", (ALNUM, 120)],
        starts=(0,),
    ),
    _k(
        "jwt",
        "jwt",
        rf"{B}eyJ[A-Za-z0-9_-]{{8,}}\.eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{0,}}{E2}",
        ["eyJ"],
        ["eyJhbGciOiJIUzI1NiJ9.eyJ", (B64URL, 40), ".", (B64URL, 43)],
        starts=(0,),
    ),
    _k(
        "credentials_in_url",
        "url",
        r"[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@\"'<>]{1,100}:(?P<s>[^\s:/@\"'<>]{3,200})@[^\s/\"'<>]",
        ["://"],
        ["postgres://app:", (ALNUM, 20), "@db.internal:5432/app"],
    ),
    _k(
        "authorization_header",
        "http",
        r"(?i:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?(?i:bearer|token|basic)\s+"
        r"(?P<s>[A-Za-z0-9._~+/=-]{16,})",
        ["authorization"],
        ["Authorization: Bearer ", (ALNUM, 32)],
        after=2048,
        starts=(0, 6),
    ),
    _k(
        "password_assignment",
        "password",
        r"(?<![A-Za-z0-9])(?i:password|passwd|passphrase|pwd|secret|secret[_-]?key"
        r"|client[_-]?secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|private[_-]?key)"
        r"[\"']?\s*(?::|=|:=|=>)\s*(?P<q>[\"']?)(?P<s>[^\s\"',;&}{\]\[<>$]{6,200})(?P=q)",
        [
            "password",
            "passwd",
            "passphrase",
            "pwd",
            "secret",
            "api_key",
            "api-key",
            "apikey",
            "access_token",
            "access-token",
            "accesstoken",
            "auth_token",
            "auth-token",
            "authtoken",
            "private_key",
            "private-key",
            "privatekey",
        ],  # fmt: skip
        ["password=", (ALNUM, 16)],
        # Every name holds a hint, at its start but for "client_secret" and "clientsecret".
        starts=(0, 6, 7),
    ),
    # -- This platform's own tokens (identities/inbound/tokens.py, identities/inbound/oauth/) --
    _prefixed("gatehouse_api_token", "gatehouse", "gth_", "[A-Za-z0-9]{46}", [(ALNUM, 46)]),
    _prefixed(
        "gatehouse_oauth_access_token", "gatehouse", "gto_", "[A-Za-z0-9]{46}", [(ALNUM, 46)]
    ),
    _prefixed(
        "gatehouse_oauth_refresh_token", "gatehouse", "gtr_", "[A-Za-z0-9]{46}", [(ALNUM, 46)]
    ),
)

BY_KIND: dict[str, SecretKind] = {k.kind: k for k in KINDS}
FAMILIES: frozenset[str] = frozenset(k.family for k in KINDS)
