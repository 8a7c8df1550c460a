"""OpenTelemetry traces from the real server to a local OTLP/HTTP receiver that decodes what
arrives: one span per chat request, one child span per upstream attempt, with their attributes."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.e2e.conftest import CLIENT_KEY, UPSTREAM_KEYS, free_port, start_gateway

USER = {"role": "user", "content": "Hello"}


class Receiver(ThreadingHTTPServer):
    """POST /v1/traces → decoded spans, each a dict with its resource's service name."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _Handler)
        self.spans: list[dict[str, Any]] = []
        self.paths: list[str] = []

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        for _ in range(300):
            if len(self.spans) >= count:
                return self.spans
            time.sleep(0.05)
        raise AssertionError(f"expected {count} spans, received {len(self.spans)}")


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
            for scope_spans in resource_spans.scope_spans:
                self.server.spans.extend(decoded(span, service) for span in scope_spans.spans)
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def decoded(span: Span, service: str) -> dict[str, Any]:
    attributes = {}
    for a in span.attributes:
        kind = a.value.WhichOneof("value")
        attributes[a.key] = getattr(a.value, kind)
    return {"name": span.name, "kind": span.kind, "trace": span.trace_id.hex(), "id": span.span_id.hex(),
            "parent": span.parent_span_id.hex(), "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
            "error": span.status.code == Status.STATUS_CODE_ERROR, "attributes": attributes, "service": service}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def tracing_config(e: str, port: int) -> str:
    return f"""
database: null
providers:
  primary:
    type: openai
    base_url: {e}/openai/v1
    api_key: {UPSTREAM_KEYS['openai']}
  backup:
    type: openai
    base_url: {e}/openai/v1
    api_key: {UPSTREAM_KEYS['openai']}
models:
  chat:
    - {{provider: primary, model: chat-a}}
    - {{provider: backup, model: chat-b}}
keys:
  - {{key: {CLIENT_KEY}, name: team-a}}
routing:
  backoff: {{initial: 0.01, max: 0.1}}
tracing:
  otlp_endpoint: http://127.0.0.1:{port}
  service_name: relaygate-test
"""


def test_a_span_per_request_and_per_attempt(emulator, receiver, tmp_path):
    config = tracing_config(emulator.base, receiver.server_address[1])
    with start_gateway(config, tmp_path, {"OTEL_BSP_SCHEDULE_DELAY": "100"}) as gw:
        client = gw.client()
        ok = client.chat.completions.with_raw_response.create(model="chat", messages=[USER])
        emulator.script({"match": {"model": "chat-a"}, "times": 1, "status": 503})
        fell_back = client.chat.completions.with_raw_response.create(
            model="chat", messages=[USER], extra_headers={"x-client-request-id": "traced-2"})
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=[USER])
        spans = receiver.wait_for(6)

    assert receiver.paths[0] == "/v1/traces"
    assert {span["service"] for span in spans} == {"relaygate-test"}
    servers = [span for span in spans if span["kind"] == Span.SPAN_KIND_SERVER]
    requests = {span["attributes"]["relaygate.request_id"]: span for span in servers}
    children = [span for span in spans if span["kind"] == Span.SPAN_KIND_CLIENT]
    assert len(requests) == 3 and len(children) == 3

    first = requests[ok.headers["x-request-id"]]
    usage = ok.parse().usage
    assert first["name"] == "chat chat" and not first["error"]
    assert first["attributes"] == {
        **first["attributes"], "gen_ai.operation.name": "chat", "gen_ai.request.model": "chat",
        "gen_ai.provider.name": "primary", "gen_ai.response.model": "chat-a",
        "gen_ai.usage.input_tokens": usage.prompt_tokens, "gen_ai.usage.output_tokens": usage.completion_tokens,
        "http.response.status_code": 200, "relaygate.key": "team-a", "relaygate.attempts": 1,
    }
    (attempt,) = [c for c in children if c["parent"] == first["id"]]
    assert attempt["trace"] == first["trace"] and attempt["name"] == "upstream primary"
    assert attempt["attributes"] == {"gen_ai.provider.name": "primary", "gen_ai.request.model": "chat-a",
                                     "http.response.status_code": 200}
    assert first["start"] <= attempt["start"] <= attempt["end"] <= first["end"]

    second = requests[fell_back.headers["x-request-id"]]
    assert second["attributes"]["relaygate.client_request_id"] == "traced-2"
    assert "relaygate.client_request_id" not in first["attributes"]
    assert second["attributes"]["gen_ai.provider.name"] == "backup"
    failed, answered = sorted((c for c in children if c["parent"] == second["id"]), key=lambda c: c["start"])
    assert (failed["name"], failed["error"], failed["attributes"]["error.type"]) == (
        "upstream primary", True, "upstream_error")
    assert (answered["name"], answered["error"]) == ("upstream backup", False)
    assert failed["end"] <= answered["start"]

    (missing,) = [s for s in requests.values() if s["attributes"].get("error.type") == "model_not_found"]
    assert missing["attributes"]["http.response.status_code"] == 404
    assert not [c for c in children if c["parent"] == missing["id"]]
