"""The server's checks of the response headers, made with a byte table instead of a regular expression.

uvicorn's HTTP protocol (httptools) checks each header of every response before it writes it: its
name against one compiled pattern and its value against another, two regular expression searches
per header (~2,000 instructions; a governed answer has a dozen headers, the six `x-ratelimit-*`
among them). Each pattern is a single byte class, so whether it finds anything in a header depends
only on which byte values the header holds: a table of the 256 values, read off the pattern itself,
answers the same (`_speedups.ByteSet`, ~150 instructions a search, with the call). `install` puts
one in place of each pattern in uvicorn's module when the C module is there and the patterns are
the ones this was written against; else uvicorn's own stay, and only the cost differs. A header the
pattern refuses is refused the same: uvicorn raises, and closes the connection with no answer.
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
    """Byte tables in place of uvicorn's header patterns; whether they are (or already were) in place."""
    if native is None:
        return False
    from uvicorn.protocols.http import httptools_impl as server

    checks = {"HEADER_RE": NAME_PATTERN, "HEADER_VALUE_RE": VALUE_PATTERN}
    current: dict[str, Any] = {name: getattr(server, name, None) for name in checks}
    if all(isinstance(check, native.ByteSet) for check in current.values()):
        return True
    if any(getattr(check, "pattern", None) != pattern for check, pattern in zip(current.values(), checks.values())):
        return False  # not the patterns this was written against: uvicorn's own stay
    for name, check in current.items():
        setattr(server, name, native.ByteSet(byte_table(check)))
    return True
