"""Log lines carry their time and the MCP call they belong to, as text or as JSON."""

import io
import json
import logging
import logging.config

import aiohttp
import anyio
import pytest
from django.conf import settings

from audit.models import LogEntry
from core import log_records
from gateways import services as gateway_services
from identities import services as identity_services
from servers import services as server_services
from teams.models import Membership
from tests.audit.load_run import META, Worker, call_headers, worker_env
from tests.support.processes import free_port


def _logger(log_format: str) -> tuple[logging.Logger, io.StringIO]:
    """A logger writing through the handler, filter and formatter the settings configure."""
    stream = io.StringIO()
    config = settings.LOGGING
    handler = logging.StreamHandler(stream)
    handler.addFilter(log_records.CorrelationFilter())
    formatter = config["formatters"][log_format]
    if "()" in formatter:
        handler.setFormatter(log_records.JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(formatter["format"]))
    logger = logging.getLogger(f"tests.log_lines.{log_format}")
    logger.handlers = [handler]
    logger.propagate = False
    return logger, stream


def test_a_json_line_names_the_call_and_its_exception():
    logger, stream = _logger("json")
    token = log_records.correlation_id.set("c0ffee")
    try:
        try:
            raise ValueError("broken")
        except ValueError:
            logger.exception("it failed for %s", "bob")
    finally:
        log_records.correlation_id.reset(token)
    logger.warning("outside any call")

    first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line[:1] == "{")
    assert first["message"] == "it failed for bob" and first["level"] == "ERROR"
    assert first["correlation_id"] == "c0ffee"
    assert "ValueError: broken" in first["exception"]
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert "correlation_id" not in second


def test_a_text_line_has_a_timestamp_and_the_call():
    logger, stream = _logger("text")
    token = log_records.correlation_id.set("6100127e6343644edddb88a2beb65d4d")
    logger.warning("slow upstream")
    log_records.correlation_id.reset(token)

    line = stream.getvalue().strip()
    call = "6100127e-6343-644e-dddb-88a2beb65d4d"
    assert line.endswith(f"WARNING tests.log_lines.text [{call}]: slow upstream")
    assert line[:4].isdigit()  # the date first


@pytest.mark.django_db(transaction=True)
def test_a_served_call_logs_json_with_the_correlation_id_of_its_audit_entries(
    acme, alice, bob, settings, tmp_path
):
    nowhere = f"http://127.0.0.1:{free_port()}/mcp"
    server = server_services.create_server(workspace=acme, name="gone", url=nowhere, actor=alice)
    gateway = gateway_services.create_gateway(workspace=acme, slug="logs", name="L", actor=alice)
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(gateway=gateway, server=server, namespace="g", actor=alice)
    membership = Membership.objects.get(workspace=acme, user=bob)
    token = identity_services.issue_token(membership=membership, name="l", actor=bob).secret
    env = worker_env(secret_key=settings.SECRET_KEY, var_dir=tmp_path)
    worker = Worker({**env, "LOG_FORMAT": "json"}, "/mcp/acme/logs").start()

    async def list_tools() -> int:
        body = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": META}}
        headers = {**call_headers(token, ""), "Mcp-Method": "tools/list"}
        headers.pop("Mcp-Name", None)
        async with (
            aiohttp.ClientSession() as client,
            client.post(worker.url, json=body, headers=headers) as reply,
        ):
            return reply.status

    try:
        assert anyio.run(list_tools) == 200
        output = worker.process.output(tail=100_000)
    finally:
        worker.stop()

    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    unavailable = [line for line in lines if "upstream gone is unavailable" in line["message"]]
    assert unavailable, output
    logged = {
        str(correlation)
        for correlation in LogEntry.objects.for_workspace(acme)
        .filter(rpc_method="tools/list")
        .values_list("correlation_id", flat=True)
    }
    assert unavailable[0]["correlation_id"] in logged
