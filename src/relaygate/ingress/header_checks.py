"""The server's response heads: its checks of the headers made with byte tables instead of regular
expressions, and the head itself written in C.

uvicorn's HTTP protocol (httptools) checks each header of every response before it writes it: its
name against one compiled pattern and its value against another, two regular expression searches
per header (~2,000 instructions; a governed answer has a dozen headers, the six `x-ratelimit-*`
among them). Each pattern is a single byte class, so whether it finds anything in a header depends
only on which byte values the header holds: a table of the 256 values, read off the pattern itself,
answers the same (`_speedups.ByteSet`, ~150 instructions a search, with the call). `install` puts
one in place of each pattern in uvicorn's module when the C module is there and the patterns are
the ones this was written against; else uvicorn's own stay, and only the cost differs. A header the
pattern refuses is refused the same: uvicorn raises, and closes the connection with no answer.

The checks are half of what a header costs there: the rest is the loop that lowercases each name,
looks for the few that change how the body is framed and joins the head (~1,800 instructions a
header). `HeadCycle` is uvicorn's request-response cycle with the head of an answer written by one
call into the C module (`_speedups.response_head`, ~100 instructions a header) and the cycle's state
set as uvicorn's own `send` sets it: the body framed by its content-length, else chunked (not for
HEAD, 204 or 304). Anything that takes more (an access log, a connection to close or one closing, a
transport whose buffer is full, a transfer-encoding or connection header, a header the tables refuse,
a content-length that is not plain digits, a status without a standard line) goes to uvicorn's
`send`, unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from relaygate.speedups import native

# uvicorn's patterns (protocols/http/httptools_impl.py), each one byte class
NAME_PATTERN = b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]'
VALUE_PATTERN = b"[\x00-\x08\x0a-\x1f\x7f]"


def byte_table(pattern: re.Pattern[bytes]) -> bytes:
    """One flag per byte value: whether the pattern finds that byte."""
    return bytes(pattern.search(bytes((value,))) is not None for value in range(256))


def install() -> bool:
    """Byte tables in place of uvicorn's header patterns, and HeadCycle in place of its cycle;
    whether they are (or already were) in place."""
    if native is None:
        return False
    from uvicorn.protocols.http import httptools_impl as server

    checks = {"HEADER_RE": NAME_PATTERN, "HEADER_VALUE_RE": VALUE_PATTERN}
    current: dict[str, Any] = {name: getattr(server, name, None) for name in checks}
    if all(isinstance(check, native.ByteSet) for check in current.values()):
        return True
    if any(getattr(check, "pattern", None) != pattern for check, pattern in zip(current.values(), checks.values())):
        return False  # not the patterns this was written against: uvicorn's own stay
    names, values = (native.ByteSet(byte_table(check)) for check in current.values())
    server.HEADER_RE, server.HEADER_VALUE_RE = names, values
    server.RequestResponseCycle = head_cycle(server.RequestResponseCycle, server.STATUS_LINE, names, values)
    return True


def head_cycle(cycle: type, status_lines: dict[int, bytes], names: Any, values: Any) -> type:
    """uvicorn's request-response cycle (`cycle`) with the heads of answers written in C."""
    head = native.response_head

    class HeadCycle(cycle):  # type: ignore[misc, valid-type]
        async def send(self, message: Any) -> None:
            if (self.response_started or message["type"] != "http.response.start" or self.access_log
                    or not self.keep_alive or self.disconnected or self.flow.write_paused):
                return await super().send(message)
            status = message["status"]
            line = status_lines.get(status)
            may_chunk = self.scope["method"] != "HEAD" and status != 204 and status != 304
            made = None if line is None else head(line, self.default_headers, message.get("headers", ()), names,
                                                   values, may_chunk)
            if made is None:
                return await super().send(message)
            self.response_started = True
            self.waiting_for_100_continue = False
            if made[1] >= 0:
                self.expected_content_length, self.chunked_encoding = made[1], False
            elif may_chunk:
                self.chunked_encoding = True
            self.transport.write(made[0])

    return HeadCycle
