"""Structured redaction in the path: a live gateway, a real SDK client, and a real upstream whose
tools return AWS STS credentials (as JSON text and as structured content) and a card number
stored as a number."""

import asyncio
import json

import pytest
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from audit.log.writer import flush
from audit.models import LogEntry
from rules import services as rule_services
from tests.rules.test_structured import CARD, KEY_ID, SECRET_KEY, SESSION_TOKEN, sts_output
from tests.support.live import ThreadedServer
from tests.support.live_gateway import Deployment, connect

pytestmark = pytest.mark.usefixtures("fresh_cache")


class StsCredentials(BaseModel):
    AccessKeyId: str
    SecretAccessKey: str
    SessionToken: str
    Expiration: str


class AssumedRole(BaseModel):
    Credentials: StsCredentials
    AssumedRoleUser: dict[str, str]


class Payment(BaseModel):
    holder: str
    card_number: int | None = None


def build_upstream() -> MCPServer:
    server = MCPServer("aws")

    @server.tool()
    def assume_role() -> AssumedRole:
        """Credentials for a role, as `aws sts assume-role` returns them."""
        return AssumedRole.model_validate(sts_output())

    @server.tool()
    def assume_role_text() -> str:
        """The same, as the CLI prints it."""
        return json.dumps(sts_output(), indent=4)

    @server.tool()
    def card_on_file() -> Payment:
        """The payment card on file, its number stored as a number."""
        return Payment(holder="Jane", card_number=CARD)

    return server


@pytest.fixture(scope="module")
def aws_upstream():
    server = ThreadedServer(build_upstream().streamable_http_app()).start()
    yield f"{server.url}/mcp"
    server.stop()


@pytest.fixture
def gateway(transactional_db, gateway_base, acme, alice, bob, aws_upstream):
    deployment = Deployment(gateway_base, acme, alice, bob, aws_upstream)
    for name, detector in (("redact-secrets", "secrets"), ("redact-pii", "pii")):
        rule_services.create_rule(
            workspace=acme,
            actor=alice,
            name=name,
            detector=detector,
            action="redact",
            direction="response",
        )
    yield deployment
    flush(timeout=10)


def call(gateway, tool: str):
    token = gateway.token_for(gateway.bob)

    async def scenario():
        async with connect(gateway, token, "legacy") as client:
            await client.list_tools()  # the client validates results against their schemas
            return await client.call_tool(tool, {})

    return asyncio.run(scenario())


def stored(workspace) -> str:
    assert flush(timeout=10)
    return str(list(LogEntry.objects.for_workspace(workspace).values_list("payload", "detail")))


REDACTED = {
    "AccessKeyId": "[REDACTED:AWS_ACCESS_KEY_ID]",
    "SecretAccessKey": "[REDACTED:AWS_SECRET_ACCESS_KEY]",
    "SessionToken": "[REDACTED:AWS_SESSION_TOKEN]",
    "Expiration": "2026-12-06T12:00:00+00:00",
}


def test_sts_credentials_reach_the_client_redacted_and_still_json(gateway):
    result = call(gateway, "notes__assume_role")
    assert result.structured_content["Credentials"] == REDACTED
    assert json.loads(result.content[0].text)["Credentials"] == REDACTED

    text_only = call(gateway, "notes__assume_role_text")
    assert json.loads(text_only.content[0].text)["Credentials"] == REDACTED
    for secret in (KEY_ID, SECRET_KEY, SESSION_TOKEN):
        assert secret not in stored(gateway.acme)


def test_a_card_number_the_schema_types_as_a_number_is_removed_and_logged(gateway):
    result = call(gateway, "notes__card_on_file")
    assert result.structured_content == {"holder": "Jane"}
    assert json.loads(result.content[0].text) == {
        "holder": "Jane",
        "card_number": "[REDACTED:CARD]",
    }
    assert str(CARD) not in stored(gateway.acme)
    (action,) = LogEntry.objects.for_workspace(gateway.acme).filter(
        hop="policy.action", detail__rule="redact-pii"
    )
    assert action.detail["removed"] == [
        {
            "path": "structuredContent.card_number",
            "reason": "a number was rewritten and the tool's outputSchema allows no string there",
        }
    ]
