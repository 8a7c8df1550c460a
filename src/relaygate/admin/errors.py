"""The admin API's own errors, below the gateway's hierarchy (`relaygate/errors.py`), so they
become the same OpenAI-shaped body in `ingress/errors.py`:

    ClientError
    ├── AdminDisabled     403 admin_api_disabled: no `admin_key` in the configuration
    ├── KeyConflict       409 key_exists, key_revoked
    ├── AdminMethodNotAllowed  405 with an `allow` header
    └── NoStore           501 no_database: `database: null`, so no keys or usage to manage
"""

from __future__ import annotations

from relaygate.errors import ClientError, MethodNotAllowed


class AdminDisabled(ClientError):
    status = 403
    code = "admin_api_disabled"


class KeyConflict(ClientError):
    status = 409
    code = "key_exists"


class AdminMethodNotAllowed(MethodNotAllowed):
    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"allow", ", ".join(self.allowed).encode())]


class NoStore(ClientError):
    """Not a client mistake, nor a passing condition: this gateway was configured without a store."""

    status = 501
    code = "no_database"
