"""The external webhook detector against a real local decision service."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rules.detectors.webhook import WebhookDetector
from rules.engine import RuleContext
from rules.errors import InvalidRule
from tests.support.rules import rule, run, text_result


class DecisionService(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append({"path": self.path, "host": self.headers["Host"], "body": body})
        if self.path == "/slow":
            time.sleep(0.5)
        answers = {
            "/pass": {"decision": "pass"},
            "/block": {"decision": "block", "reason": "policy 12"},
            "/modify": {
                "decision": "modify",
                "body": {"content": [{"type": "text", "text": "ok"}]},
            },
            "/slow": {"decision": "pass"},
            "/nonsense": {"decision": "maybe"},
        }
        payload = json.dumps(answers.get(self.path, {})).encode()
        self.send_response(200 if self.path in answers else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), DecisionService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def webhook(url, *, fail="closed", timeout_ms=2000, allow=("127.0.0.0/8",), action="block"):
    return rule(
        "hook",
        "webhook",
        action,
        id=3,
        detector_config={
            "url": url,
            "fail": fail,
            "timeout_ms": timeout_ms,
            "allow_private": list(allow),
        },
    )


CONTEXT = RuleContext(
    workspace_id=1,
    workspace_slug="acme",
    gateway_id=2,
    gateway_slug="dev",
    user_id=4,
    correlation_id="c-1",
)


def test_pass_block_and_modify(service):
    DecisionService.received.clear()
    payload = text_result("hello")
    passed = run([webhook(f"{service}/pass")], payload, context=CONTEXT)
    assert passed.payload is payload and passed.events == [] and passed.blocked_by is None

    blocked = run([webhook(f"{service}/block")], payload, context=CONTEXT)
    assert blocked.blocked_by.rule == "hook" and "policy 12" in blocked.blocked_by.message
    assert blocked.events[0]["kinds"] == {"webhook_block": 1}

    modified = run([webhook(f"{service}/modify")], payload, context=CONTEXT)
    assert modified.payload == {"content": [{"type": "text", "text": "ok"}]} and modified.modified

    sent = DecisionService.received[0]
    assert sent["body"]["rule"] == {"id": 3, "name": "hook"}
    assert sent["body"]["workspace"] == {"id": 1, "slug": "acme"}
    assert sent["body"]["gateway"] == {"id": 2, "slug": "dev"}
    assert sent["body"]["person"] == {"id": 4, "email": "bob@acme.test"}
    assert sent["body"]["body"] == payload and sent["body"]["direction"] == "response"
    assert sent["host"] == service.removeprefix("http://")


def test_flag_only_reports_the_services_decision(service):
    result = run([webhook(f"{service}/block", action="flag")], text_result("x"), context=CONTEXT)
    assert result.blocked_by is None and result.events[0]["applied"] is False


def test_a_timeout_fails_closed_or_open_as_the_rule_says(service):
    closed = run([webhook(f"{service}/slow", timeout_ms=100)], text_result("x"))
    assert closed.blocked_by is not None
    assert "no answer within 100 ms" in closed.events[0]["error"]
    opened = run([webhook(f"{service}/slow", timeout_ms=100, fail="open")], text_result("x"))
    assert opened.blocked_by is None and opened.events[0]["kinds"] == {"webhook_error": 1}


@pytest.mark.parametrize("path", ["/nonsense", "/missing"])
def test_an_unusable_answer_is_a_failure(service, path):
    result = run([webhook(f"{service}{path}")], text_result("x"))
    assert result.blocked_by is not None and result.events[0]["error"]


def test_private_addresses_are_refused_without_an_allowlist():
    with pytest.raises(InvalidRule, match="private, loopback or link-local"):
        WebhookDetector.clean_config({"url": "https://10.1.2.3/hook"})
    with pytest.raises(InvalidRule, match="private, loopback or link-local"):
        WebhookDetector.clean_config({"url": "https://localhost/hook"})
    with pytest.raises(InvalidRule, match="must use https"):
        WebhookDetector.clean_config({"url": "http://hooks.example.com/x"})
    with pytest.raises(InvalidRule, match="'fail' must be"):
        WebhookDetector.clean_config({"url": "https://hooks.example.com/x", "fail": "maybe"})


def test_a_name_resolving_to_a_private_address_is_refused_at_call_time(service):
    # "localhost" is a name: it is resolved on the call and its address checked then.
    port = service.rsplit(":", 1)[1]
    detector = WebhookDetector({"url": f"https://localhost:{port}/pass", "fail": "closed"})
    DecisionService.received.clear()
    import asyncio

    verdict = asyncio.run(detector.consult({"body": {}}))
    assert verdict.decision == "block" and "refused address" in verdict.error
    assert DecisionService.received == []  # nothing was sent


def test_the_time_a_webhook_takes_is_not_counted_in_the_rules_budget(service):
    definitions = [
        webhook(f"{service}/slow"),
        rule("flag-x", "keywords", "flag", detector_config={"words": ["x"]}),
    ]
    result = run(definitions, text_result("x"), budget_ms=100)  # the webhook takes 500 ms
    assert result.blocked_by is None
    assert [e["rule"] for e in result.events] == ["flag-x"]
