"""ingress/header_checks.py: the server's checks of response headers made with byte tables in place
of uvicorn's patterns answer as the patterns do, and a real server with them in place still refuses
a header that is not allowed (the connection closed, no answer) and sends every one that is."""

import asyncio
import http.client
import os
import re
import socket
import threading

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http import httptools_impl

from relaygate.app import CONFIG_ENV, create_app
from relaygate.ingress import header_checks
from relaygate.speedups import native

PATTERNS = {"name": re.compile(header_checks.NAME_PATTERN), "value": re.compile(header_checks.VALUE_PATTERN)}
# bytes around the edges of both classes: control characters, separators, DEL, the upper half
EDGES = st.sampled_from([*b"\x00\x08\x09\x0a\x1f\x20\x7e\x7f\x80\xff", *b'()<>@,;:[]={}\\"/?azAZ09-_.'])
HEADER_BYTES = st.one_of(st.binary(max_size=40), st.lists(EDGES, max_size=12).map(bytes))


def test_the_patterns_are_uvicorns() -> None:
    """Written against these patterns: uvicorn's own (the C module installed or not, the originals
    are compiled from the same text)."""
    if native is None or not isinstance(httptools_impl.HEADER_RE, native.ByteSet):
        assert httptools_impl.HEADER_RE.pattern == header_checks.NAME_PATTERN
        assert httptools_impl.HEADER_VALUE_RE.pattern == header_checks.VALUE_PATTERN


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(sorted(PATTERNS)), HEADER_BYTES, st.sampled_from([bytes, bytearray, memoryview]))
def test_a_byte_set_finds_what_the_pattern_finds(kind, data, form) -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: uvicorn's patterns stay
        assert header_checks.install() is False
        return
    pattern = PATTERNS[kind]
    found = native.ByteSet(header_checks.byte_table(pattern)).search(form(data))
    assert (found is True) == (pattern.search(data) is not None)
    assert found in (True, None)


def test_a_byte_set_refuses_what_the_pattern_refuses() -> None:
    if native is None:
        return
    checks = native.ByteSet(header_checks.byte_table(PATTERNS["value"]))
    with pytest.raises(TypeError):
        PATTERNS["value"].search("text")
    with pytest.raises(TypeError):
        checks.search("text")
    with pytest.raises(ValueError):
        native.ByteSet(b"\x01" * 255)


def test_the_gateway_puts_them_in_place(tmp_path, monkeypatch) -> None:
    """create_app, which every server process runs, installs them (with the C module)."""
    config = tmp_path / "relaygate.yaml"
    config.write_text("providers: {}\nmodels: {}\nkeys: []\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    create_app()
    installed = isinstance(httptools_impl.HEADER_RE, getattr(native, "ByteSet", ()))
    assert installed == (native is not None)
    assert installed == isinstance(httptools_impl.HEADER_VALUE_RE, getattr(native, "ByteSet", ()))
    assert header_checks.install() == installed  # twice is once


def test_other_patterns_are_left_alone(monkeypatch) -> None:
    other = re.compile(b"[\x00-\x1f]")
    monkeypatch.setattr(httptools_impl, "HEADER_RE", other)
    monkeypatch.setattr(httptools_impl, "HEADER_VALUE_RE", re.compile(header_checks.VALUE_PATTERN))
    assert header_checks.install() is False
    assert httptools_impl.HEADER_RE is other


async def app(scope, receive, send) -> None:
    """Answers with the header named by the path: `/good` a plain one, `/bad-value` a value with a
    line break, `/bad-name` a name with a space."""
    if scope["type"] != "http":
        return
    header = {"/good": (b"x-ratelimit-remaining-requests", b"59"), "/bad-value": (b"x-note", b"one\r\nx-two: 2"),
              "/bad-name": (b"x note", b"1")}[scope["path"]]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2"), header]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server():
    """A real uvicorn server (httptools, as relaygate serves) with the byte tables and HeadCycle in place."""
    installed = header_checks.install()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools", lifespan="off", log_config=None,
                            access_log=False, server_header=False)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(instance.serve()), daemon=True)
    thread.start()
    for _ in range(500):
        if instance.started:
            break
        threading.Event().wait(0.01)
    yield port, installed
    instance.should_exit = True
    thread.join(10)


def test_a_real_server_sends_good_headers_and_refuses_bad_ones(server, caplog) -> None:
    port, installed = server
    assert installed == (native is not None) and (os.environ.get("RELAYGATE_PURE") is None) == installed
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/good")
    answer = connection.getresponse()
    assert (answer.status, answer.read(), answer.getheader("x-ratelimit-remaining-requests")) == (200, b"ok", "59")
    for path in ("/bad-value", "/bad-name"):  # uvicorn raises once it has begun the answer: it closes the connection
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path)
        with pytest.raises(http.client.RemoteDisconnected):
            connection.getresponse()
    assert [str(record.exc_info[1]) for record in caplog.records if record.exc_info] == [
        "Invalid HTTP header value.", "Invalid HTTP header name."]


class Transport:
    """What a cycle writes, and whether it closed the connection."""

    def __init__(self) -> None:
        self.written, self.closed = [], False

    def write(self, data) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def uvicorns_cycle():
    cycle = httptools_impl.RequestResponseCycle
    return cycle.__bases__[0] if cycle.__name__ == "HeadCycle" else cycle


NAMES = st.sampled_from([b"content-type", b"Content-Length", b"content-length", b"X-Request-Id", b"transfer-encoding",
                         b"Connection", b"x-ratelimit-limit-requests", b"bad name", b"x-\xc3\xa9"])
VALUES = st.sampled_from([b"application/json", b"2", b"12", b"012", b" 2", b"+2", b"2x", b"", b"chunked", b"close",
                          b"keep-alive, Close", b"tab\there", b"line\nbreak", b"\xff", b"99999999999999999999"])
STATUSES = st.sampled_from([200, 201, 204, 304, 400, 429, 500, 599, 600, 99])


def run_cycle(cycle_class, method, status, headers, bodies, keep_alive, write_paused):
    from uvicorn.protocols.http.flow_control import FlowControl

    async def go():
        transport = Transport()
        flow = FlowControl(transport)
        flow.write_paused = write_paused
        if write_paused:
            flow._is_writable_event.set()  # drain() returns at once: what differs is only which code ran
        cycle = cycle_class(
            scope={"method": method, "type": "http"}, transport=transport, flow=flow, logger=None,
            access_logger=None, access_log=False, default_headers=[(b"date", b"Mon, 07 Dec 2026 18:00:00 GMT")],
            message_event=asyncio.Event(), expect_100_continue=True, keep_alive=keep_alive, on_response=None)
        outcome = None
        try:
            await cycle.send({"type": "http.response.start", "status": status, "headers": headers})
            for n, body in enumerate(bodies):
                await cycle.send({"type": "http.response.body", "body": body, "more_body": n < len(bodies) - 1})
        except Exception as exc:  # noqa: BLE001 - both must fail alike
            outcome = (type(exc), str(exc))
        state = (cycle.response_started, cycle.response_complete, cycle.chunked_encoding,
                 cycle.expected_content_length, cycle.keep_alive, cycle.waiting_for_100_continue)
        return outcome, b"".join(transport.written), transport.closed, state

    return asyncio.run(go())


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["GET", "POST", "HEAD"]), STATUSES, st.lists(st.tuples(NAMES, VALUES), max_size=6),
       st.lists(st.sampled_from([b"", b"ok", b"x" * 13]), min_size=1, max_size=3), st.booleans(),
       st.sampled_from([False, False, True]), st.sampled_from([list, tuple]))
def test_the_c_head_is_uvicorns(method, status, headers, bodies, keep_alive, write_paused, form) -> None:
    """HeadCycle against uvicorn's own cycle, for arbitrary answers: the same bytes written, the same
    state after, the same error, the connection closed alike."""
    if native is None:
        return
    original = uvicorns_cycle()
    names, values = (native.ByteSet(header_checks.byte_table(p)) for p in (PATTERNS["name"], PATTERNS["value"]))
    fast = header_checks.head_cycle(original, httptools_impl.STATUS_LINE, names, values)
    cases = [run_cycle(c, method, status, form(headers), bodies, keep_alive, write_paused) for c in (original, fast)]
    assert cases[1] == cases[0]


def test_the_gateway_answers_through_the_c_head(server) -> None:
    """A real server with HeadCycle in place: a plain answer's head as uvicorn writes it."""
    port, installed = server
    assert installed == (httptools_impl.RequestResponseCycle.__name__ == "HeadCycle")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        for _ in range(2):  # and the connection kept for the next request
            client.sendall(b"GET /good HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"ok"):
                answer += client.recv(4096)
            head = answer.split(b"\r\n")
            assert head[0] == b"HTTP/1.1 200 OK" and head[1].startswith(b"date: ")
            assert head[2:] == [b"content-type: text/plain", b"content-length: 2", b"x-ratelimit-remaining-requests: 59",
                                b"", b"ok"]
