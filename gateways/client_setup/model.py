"""What the console shows for one client: where each variant goes and its text."""

import json
from dataclasses import dataclass

# The environment variable (or prompt) every token variant reads the gateway token from.
TOKEN_ENV = "GATEHOUSE_TOKEN"
# Only where a client cannot read a variable or prompt for it (the Claude Desktop bridge).
TOKEN_PLACEHOLDER = "<your gateway token>"


@dataclass(frozen=True)
class Variant:
    """One way to set the client up: `where` says where `text` goes (a file, a terminal, a
    settings page), `language` how it is written (json, toml, shell, python, typescript, steps)."""

    where: str
    text: str
    language: str


@dataclass(frozen=True)
class ClientSetup:
    """A client's set-up: OAuth with the URL alone first, then with a gateway token; either may
    be missing where the client offers no such way. `install_link` opens the client on the OAuth
    set-up."""

    key: str
    client: str
    group: str
    oauth: Variant | None
    token: Variant | None
    install_link: str = ""

    def __post_init__(self):
        if self.oauth is None and self.token is None:
            raise ValueError(f"{self.client} needs at least one way to connect")

    @property
    def variants(self) -> list[tuple[str, Variant]]:
        return [(kind, v) for kind, v in (("oauth", self.oauth), ("token", self.token)) if v]


def as_json(value) -> str:
    return json.dumps(value, indent=2)


def bearer(reference: str) -> dict[str, str]:
    """The Authorization header whose token the client fills in from `reference`."""
    return {"Authorization": f"Bearer {reference}"}
