"""The gateway's error hierarchy; each class carries its HTTP status and OpenAI `type`/`code`.

    GatewayError                      500 api_error / internal_error
    ├── ClientError                   4xx, the client's own input; never retried
    │   ├── InvalidRequest            400 invalid_request_error / invalid_request
    │   │   └── NoMatchingDeployment  400 ... / no_matching_deployment: preferences exclude every one
    │   ├── AuthenticationFailed      401 invalid_request_error / invalid_api_key
    │   ├── PermissionDenied          403 invalid_request_error / model_not_allowed
    │   ├── NotFound                  404 invalid_request_error / not_found
    │   │   └── ModelNotFound         404 invalid_request_error / model_not_found
    │   ├── MethodNotAllowed          405 invalid_request_error / method_not_allowed
    │   ├── PayloadTooLarge           413 invalid_request_error / request_too_large
    │   ├── RateLimited               429 requests|tokens / rate_limit_exceeded, with retry-after
    │   └── UpstreamClientError       the upstream's own 4xx, passed through with its body
    └── UpstreamError                 502 upstream_error / upstream_error; retryable
        ├── UpstreamUnavailable       502 connection refused, reset, DNS failure
        ├── UpstreamAuthError         502 the provider rejected the gateway's provider key
        ├── UpstreamProtocolError     502 the upstream's answer could not be understood
        ├── NoHealthyUpstream         503 no_healthy_upstream: every deployment's circuit is open
        └── UpstreamTimeout           504 upstream_timeout

Foreign exceptions become these in exactly one place per source (`upstream/client.py`,
`providers/*`), and these become the OpenAI error body in one place (`ingress/errors.py`).
"""

from __future__ import annotations

import math
from typing import Any


class GatewayError(Exception):
    status = 500
    type = "api_error"
    code = "internal_error"
    retryable = False

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> list[tuple[bytes, bytes]]:
        return []


class ClientError(GatewayError):
    status = 400
    type = "invalid_request_error"


class InvalidRequest(ClientError):
    code = "invalid_request"


class NoMatchingDeployment(InvalidRequest):
    code = "no_matching_deployment"


class AuthenticationFailed(ClientError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    code = "model_not_allowed"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(ClientError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(ClientError):
    status = 413
    code = "request_too_large"


class RateLimited(ClientError):
    """The client key's own RPM, TPM or concurrency limit (OpenAI's shape: `type` names the limit)."""

    status = 429
    code = "rate_limit_exceeded"

    def __init__(self, message: str, kind: str, retry_after: float, headers: list[tuple[bytes, bytes]]):
        super().__init__(message)
        self.type = kind
        self._headers = [(b"retry-after", str(max(1, math.ceil(retry_after))).encode()), *headers]

    def headers(self) -> list[tuple[bytes, bytes]]:
        return self._headers


class QuotaExceeded(ClientError):
    """The client key's budget is spent (or this request's most possible cost would pass it)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class UpstreamClientError(ClientError):
    """An upstream 4xx that concerns the request itself; status and body pass through as they came."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: str | None = None):
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        super().__init__(str(error.get("message") or f"upstream returned {status}"))
        self.status = status
        self._body = body
        self.retry_after = retry_after
        self.retryable = status == 429

    def body(self) -> dict[str, Any]:
        return self._body

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"retry-after", self.retry_after.encode())] if self.retry_after else []


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"


class UpstreamAuthError(UpstreamError):
    code = "upstream_auth_error"


class UpstreamProtocolError(UpstreamError):
    code = "upstream_protocol_error"


class NoHealthyUpstream(UpstreamError):
    status = 503
    code = "no_healthy_upstream"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class ConfigError(Exception):
    """A configuration that cannot be served; the message says what and where."""
