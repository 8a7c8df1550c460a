"""The admin API's request and response shapes. They validate what comes in (types only: the rules
for a key's settings live in `governance/key_settings.py`, shared with the CLI), serialise what goes
out, and are the schemas of `/admin/openapi.json`."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, WithJsonSchema

from relaygate.governance.key_settings import BUDGET_PERIODS
from relaygate.metering.report import GROUP_FIELDS, parse_day

KeyStatus = Literal["active", "disabled", "expired", "revoked"]
CircuitState = Literal["closed", "open", "half_open"]


def _at_least_one(description: str) -> Any:
    return Field(None, description=description + "; a whole number of at least 1, null for no limit",
                 json_schema_extra={"minimum": 1})


class KeySettings(BaseModel):
    """Every setting is optional; null clears it (no limit, every model, empty metadata)."""

    model_config = ConfigDict(extra="forbid")

    budget: Decimal | None = Field(None, description="USD per budget period (in total without one), at least 0",
                                   json_schema_extra={"minimum": 0})
    budget_period: StrictStr | None = Field(None, json_schema_extra={"enum": [*BUDGET_PERIODS, None]},
                                            description="UTC day or month; null: the budget is for all time")
    rpm: StrictInt | None = _at_least_one("Requests per minute")
    tpm: StrictInt | None = _at_least_one("Tokens per minute")
    max_concurrency: StrictInt | None = _at_least_one("Requests in flight at once")
    models: list[StrictStr] | None = Field(None, description="Model ids the key may use; null: every model",
                                           json_schema_extra={"minItems": 1})
    expires_at: datetime | None = Field(None, description="ISO-8601; a time without zone is UTC")
    metadata: dict[str, Any] | None = Field(None, description="Free-form owner data, returned as given")


class KeyCreate(KeySettings):
    name: StrictStr = Field(description="Unique; 1-200 letters, digits or . _ : @ -, starting with a letter or digit",
                            json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$"})


class KeyPatch(KeySettings):
    """Only the fields sent change."""

    disabled: StrictBool | None = Field(None, description="true stops the key, false resumes it (not revoked)")


class KeyView(BaseModel):
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it by")
    status: KeyStatus
    models: list[str] | None
    budget: float | None
    budget_period: Literal["daily", "monthly"] | None
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    expires_at: datetime | None
    disabled: bool
    revoked: bool
    revoked_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    spend: float = Field(description="USD spent in the current budget period: the UTC day (daily), the UTC "
                                     "month (monthly), or all time (no period); from the daily rollup")


class KeyCreated(KeyView):
    key: str = Field(description="The secret, shown this once; only its SHA-256 digest is stored")


class KeyList(BaseModel):
    data: list[KeyView]


def _group_by(value: Any) -> tuple[str, ...] | None:
    if value is None or isinstance(value, tuple):
        return value
    fields = tuple(part.strip() for part in str(value).split(","))
    if any(f not in GROUP_FIELDS for f in fields) or len(set(fields)) != len(fields):
        raise ValueError(f"give one or more of {', '.join(GROUP_FIELDS)}, comma-separated, each once")
    return fields


def _day(value: Any) -> date | None:
    return parse_day(value) if isinstance(value, (str, date)) else value


Day = Annotated[date | None, BeforeValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]
GroupBy = Annotated[
    tuple[str, ...] | None, BeforeValidator(_group_by),
    WithJsonSchema({"type": "string", "pattern": "^(key|model|day)(,(key|model|day))*$"}),
]


class UsageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, description="Only this key")
    model: str | None = Field(None, description="Only this model (as clients name it)")
    since: Day = Field(None, description="First UTC day, inclusive (YYYY-MM-DD)")
    until: Day = Field(None, description="Last UTC day, inclusive")
    group_by: GroupBy = Field(None, description="key, model or day, or several comma-separated (day,model); "
                                                 "default: day, key and model")


class UsageRow(BaseModel):
    """Only the fields of the grouping are present."""

    key: str | None = None
    model: str | None = None
    day: date | None = None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    cost: float = Field(description="USD")


class UsageTotal(BaseModel):
    requests: int
    cost: float


class UsageReport(BaseModel):
    data: list[UsageRow]
    total: UsageTotal


class AttemptView(BaseModel):
    provider: str
    model: str = Field(description="The upstream's model name")
    status: int
    latency_ms: int
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class RequestView(BaseModel):
    id: int = Field(description="Pass as `before` to read the next page")
    request_id: str = Field(description="relaygate's id, sent back as the answer's `x-request-id`")
    client_request_id: str | None = Field(
        description="The client's own id (`x-client-request-id`, else `x-request-id`); null if none was sent")
    created_at: datetime = Field(description="When the request finished")
    key: str
    model: str = Field(description="As the client asked for it")
    provider: str | None
    upstream_model: str | None
    status: int = Field(description="HTTP status the client got (499: the client left)")
    error_code: str | None
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    cost: float
    latency_ms: int | None
    ttft_ms: int | None
    estimated: bool = Field(description="Tokens counted from the text: the upstream reported none")
    attempts: list[AttemptView]


def _status(value: Any) -> str | None:
    if value is None or value in ("ok", "error") or (isinstance(value, str) and value.isdigit() and len(value) == 3):
        return value
    raise ValueError("give ok, error or an HTTP status code")


def _moment(end_of_day: bool) -> Any:
    """ISO-8601 to an aware UTC time; a date alone is its first moment, or with `end_of_day` its last."""

    def parse(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO-8601 date or time") from None
        if end_of_day and len(text) == 10:
            moment = datetime.combine(moment.date(), time.max)
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)

    return BeforeValidator(parse)


Moment = WithJsonSchema({"type": "string", "format": "date-time"})


class RequestQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = None
    model: str | None = None
    provider: str | None = None
    client_request_id: str | None = Field(None, description="Only requests that sent this id of their own")
    status: Annotated[str | None, BeforeValidator(_status)] = Field(
        None, description="ok (below 400), error (400 and above) or one HTTP status code",
        json_schema_extra={"pattern": "^(ok|error|[0-9]{3})$"},
    )
    since: Annotated[datetime | None, _moment(False), Moment] = Field(
        None, description="ISO-8601, inclusive; a date alone is its midnight, a time without zone is UTC")
    until: Annotated[datetime | None, _moment(True), Moment] = Field(
        None, description="ISO-8601, inclusive; a date alone includes that whole UTC day")
    limit: int = Field(50, ge=1, le=500)
    before: int | None = Field(None, ge=1, description="Rows older than this id (the last `id` of a page)")


class RequestPage(BaseModel):
    data: list[RequestView] = Field(description="Newest first")
    has_more: bool


class ProviderView(BaseModel):
    provider: str
    model: str
    state: CircuitState
    requests: int = Field(description="Attempts sent to this deployment since the gateway started")
    failures: int = Field(description="Of those, the ones that failed (as the circuit breaker counts them)")
    error_rate: float = Field(description="failures / finished attempts, 0 without any")
    latency_p50_ms: float | None = Field(description="Time to the first byte of recent answers; null before any")
    latency_p95_ms: float | None
    in_flight: int
    consecutive_failures: int


class ProviderList(BaseModel):
    data: list[ProviderView]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail
