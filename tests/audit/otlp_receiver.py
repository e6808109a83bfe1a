"""A real OTLP/HTTP trace endpoint for the traces tests: it decodes each
`ExportTraceServiceRequest` with opentelemetry-proto, as a collector would."""

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span


class Receiver:
    """An OTLP/HTTP trace endpoint: keeps every request body it accepted, decoded."""

    def __init__(self):
        self.requests: list[ExportTraceServiceRequest] = []
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                ok = (
                    self.path == "/v1/traces"
                    and self.headers["Content-Type"] == "application/x-protobuf"
                )
                if ok:
                    receiver.bodies.append(body)
                    receiver.requests.append(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def spans(self) -> list[tuple[dict, Span]]:
        """(resource attributes, span) for every span received."""
        found = []
        for request in list(self.requests):
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[dict, Span]]:
        deadline = time.monotonic() + timeout
        while len(spans := self.spans()) < count:
            assert time.monotonic() < deadline, f"{len(spans)} spans of {count} arrived"
            time.sleep(0.05)
        return spans

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def attributes(pairs) -> dict:
    values = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        values[pair.key] = getattr(pair.value, kind) if kind else None
    return values
