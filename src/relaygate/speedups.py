"""The optional C module (`_speedups.c`), when a build of the expected ABI is there and not turned off.

`pip install` (and so `make install`) compiles it when a C compiler and Python's headers are there;
without them, or with `RELAYGATE_PURE=1` in the environment, relaygate runs the Python code that
does the same, so the module changes what the hot paths cost, never what they answer.
"""

from __future__ import annotations

import os
from typing import Any

ABI = 10  # the version of _speedups.c this source expects: a build of another is not used
PURE_ENV = "RELAYGATE_PURE"


def _load() -> Any:
    if os.environ.get(PURE_ENV):
        return None
    try:
        from relaygate import _speedups
    except ImportError:
        return None
    return _speedups if getattr(_speedups, "ABI", None) == ABI else None


native = _load()  # the module, or None
