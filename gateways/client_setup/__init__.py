"""Ready-to-paste set-up of a gateway in the MCP clients people use, for the console.

Every client is shown two ways: OAuth first (the gateway URL alone; the client registers itself
and the person signs in), then a gateway API token read from ``GATEHOUSE_TOKEN`` or a prompt, so
no snippet carries a secret. Building them here keeps the templates free of JSON, TOML and shell
quoting. Formats follow each client's own documentation; see the modules per kind of client.
"""

from gateways.client_setup import apps, editors, sdks, terminals
from gateways.client_setup.model import TOKEN_ENV, TOKEN_PLACEHOLDER, ClientSetup, Variant

__all__ = ["TOKEN_ENV", "TOKEN_PLACEHOLDER", "ClientSetup", "Variant", "client_setups"]


def client_setups(*, name: str, url: str) -> list[ClientSetup]:
    """Set-up of the gateway at ``url``, registered in each client as ``name``, in page order."""
    return [
        *apps.setups(name=name, url=url),
        *editors.setups(name=name, url=url),
        *terminals.setups(name=name, url=url),
        *sdks.setups(name=name, url=url),
    ]
