"""The Lambda API's requests and responses as plain data, and what its operations share:
integer query parameters, pagination and the service's error responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncrun.errors import InvalidParameterValueError, LambdaServiceError, ValidationError


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # percent-decoded, as WSGI's PATH_INFO
    query: Mapping[str, str]
    headers: Mapping[str, str]  # looked up case-insensitively by the caller's mapping
    body: bytes = b""


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any) -> ApiResponse:
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


def int_query(request: ApiRequest, name: str, *, low: int, high: int, member: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError.of(
            f"Value '{raw}' at '{member}' failed to satisfy constraint: Member must be a number"
        ) from None
    prefix = f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value"
    if value < low:
        raise ValidationError.of(f"{prefix} greater than or equal to {low}")
    if value > high:
        raise ValidationError.of(f"{prefix} less than or equal to {high}")
    return value


def paginate(
    items: list[dict[str, Any]], marker: str | None, max_items: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page and the opaque marker of the next one (here: the next index)."""
    try:
        start = int(marker) if marker else 0
    except ValueError:
        raise InvalidParameterValueError(f"Invalid marker: {marker}") from None
    end = start + max_items
    return items[start:end], (str(end) if end < len(items) else None)


def paged_response(
    request: ApiRequest, documents: list[dict[str, Any]], key: str, *, most: int
) -> ApiResponse:
    """A List operation's answer: the page `Marker` and `MaxItems` (at most `most`, 50 when
    not given) pick, under `key`, and the marker of the next page when there is one."""
    max_items = int_query(request, "MaxItems", low=1, high=most, member="maxItems")
    page, next_marker = paginate(documents, request.query.get("Marker"), max_items or 50)
    body: dict[str, Any] = {key: page}
    if next_marker:
        body["NextMarker"] = next_marker
    return ApiResponse.json(200, body)


def error_response(error: LambdaServiceError) -> ApiResponse:
    response = ApiResponse.json(error.status, error.body())
    response.headers["X-Amzn-ErrorType"] = error.code
    return response
