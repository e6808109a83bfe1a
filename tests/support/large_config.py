"""A large workspace as a configuration file: 50 servers, 20 gateways of 10 assignments each
(curated, some with shared credentials), 30 rules at every level, 10 teams, custom roles, SCIM
and rate limits. Its secrets are named as an export names them, so one environment serves the
file and its export alike."""

SERVERS, GATEWAYS, PER_GATEWAY, TEAMS = 50, 20, 10, 10


def large_config(slug: str = "big") -> tuple[str, dict[str, str]]:
    """The YAML text and the environment (secret values by variable name) it needs."""
    env: dict[str, str] = {}

    def secret(name: str) -> str:
        env[name] = f"s3cr3t-{name.lower()}-0123456789abcdef"
        return name

    lines = [
        f"workspace: {{slug: {slug}, name: Big workspace}}",
        "roles:",
        "  - {key: support, name: Support, capabilities: [logs.view, reports.view]}",
        "  - {key: builders, name: Builders, capabilities: [gateways.manage, servers.manage]}",
        "teams:",
        *[f"  - {{slug: t{t:02}, name: Team {t}}}" for t in range(TEAMS)],
        "users:",
        "  - {email: owner@big.test, role: owner, teams: [t00, t01]}",
        *[
            f"  - {{email: p{p:02}@big.test, role: {('member', 'support', 'builders')[p % 3]}, "
            f"teams: [t{p % TEAMS:02}]}}"
            for p in range(12)
        ],
        "scim:",
        "  default_role: support",
        "  group_teams: {Engineering (Okta): t00, Support (Okta): t01}",
        "servers:",
    ]
    for s in range(SERVERS):
        if s % 2 == 0:
            lines += [
                f"  - name: s{s:02}",
                f"    url: http://127.0.0.1:9/mcp/s{s:02}",
                f"    description: Remote server {s}",
            ]
            if s % 4 == 0:
                lines.append("    max_reply_bytes: 1048576")
        else:
            lines += [
                f"  - name: s{s:02}",
                "    kind: managed",
                "    command: npx",
                f'    args: ["-y", "@example/server-{s}"]',
                f'    env: {{API_KEY: "${{{secret(f"SECRET_S{s:02}_API_KEY")}}}", '
                f'LOG_LEVEL: "${{{secret(f"SECRET_S{s:02}_LOG_LEVEL")}}}"}}',
                "    handshake_timeout_seconds: 45",
            ]
            if s % 3 == 0:
                lines.append("    network: false")
    lines.append("gateways:")
    rules_left = 10
    for g in range(GATEWAYS):
        lines += [
            f"  - slug: g{g:02}",
            f"    name: Gateway {g}",
            f"    teams: [t{g % TEAMS:02}]",
        ]
        if g % 2 == 0:
            lines += [
                "    limits:",
                '      - {scope: person, rate: "60/minute"}',
                f'      - {{scope: tool, tool: s{g:02}__echo, rate: "5/second"}}',
            ]
        lines.append("    assignments:")
        for k in range(PER_GATEWAY):
            # Even slots get remote servers, the only ones that take a shared credential.
            lines += _assignment(g, (g * 2 + k * 5) % SERVERS, k, secret)
            if k == 4 and rules_left:
                rules_left -= 1
                lines += [
                    "        rules:",
                    f"          - name: mask-cards-{g}",
                    "            detector: {type: pii, kinds: [card]}",
                    "            action: {type: mask, keep: 4}",
                    "            direction: response",
                ]
        if g < 10:
            lines += [
                "    rules:",
                f"      - name: no-deletes-{g}",
                f'        detector: {{type: tool, match: "s{g:02}__delete_*"}}',
                "        action: block",
                "        direction: request",
                f"        conditions: {{teams: [t{g:02}]}}",
                "        order: 5",
            ]
    lines.append("rules:")
    for r in range(10):
        lines += [
            f"  - name: workspace-rule-{r}",
            f"    description: Rule {r} of the workspace",
            *(
                [
                    "    detector: {type: keywords, words: [confidential, internal]}",
                    "    action: {type: replace, text: '[withheld]'}",
                ]
                if r % 2
                else ["    detector: secrets", "    action: redact"]
            ),
            f"    mode: {'monitor' if r % 3 == 0 else 'enforce'}",
            f"    enabled: {'false' if r == 7 else 'true'}",
            f"    alert: {'true' if r % 4 == 0 else 'false'}",
        ]
    return "\n".join(lines) + "\n", env


def _assignment(g: int, s: int, k: int, secret) -> list[str]:
    name, gw = f"s{s:02}", f"G{g:02}"
    lines = [f"      - server: {name}"]
    if k == 5:
        lines += ["        namespace: ''", "        prefix: never"]
    elif k == 6:
        lines += [f"        namespace: n{k}", "        prefix: conditional"]
    if k % 3 == 0:
        lines += [
            "        tools: {mode: selected, allow: [echo, add, search]}",
            "        overrides: {echo: {name: say, description: Echo back}}",
        ]
    elif k % 3 == 1:
        lines += ["        tools: {mode: read_only}", "        resources: false"]
    if k == 7:
        lines += ["        prompts: false", "        timeout: 12.5", "        max_call_seconds: 60"]
    if k == 0:
        token = secret(f"SECRET_{gw}_{name.upper()}_TOKEN")
        lines.append(f"        identity: {{scheme: service_account, bearer_env: {token}}}")
    elif k == 2:
        header = secret(f"SECRET_{gw}_{name.upper()}_X_API_KEY")
        lines.append(f"        identity: {{scheme: manual, headers_env: {{X-Api-Key: {header}}}}}")
    elif k == 4:
        client = secret(f"SECRET_{gw}_{name.upper()}_CLIENT_SECRET")
        lines.append(
            f"        identity: {{scheme: user_oauth, client_id: client-{g}-{s}, "
            f'client_secret: "${{{client}}}"}}'
        )
    elif k == 6:
        lines.append("        identity: {scheme: user_oauth}")
    return lines
