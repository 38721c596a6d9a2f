"""The service's size limits, each defined once, and the errors that enforce them
(docs/async-semantics.md, R1.2)."""

from __future__ import annotations

from asyncrun.errors import RequestTooLargeError

EVENT_PAYLOAD_LIMIT = 1_048_576  # bytes, InvocationType=Event (256 KB before October 2025)
REQUEST_RESPONSE_PAYLOAD_LIMIT = 6_291_456  # bytes, InvocationType=RequestResponse


def request_too_large(limit: int) -> RequestTooLargeError:
    """A request body over `limit`, as the Invoke operation refuses it."""
    return RequestTooLargeError(
        f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
    )


def event_too_large(size: int) -> RequestTooLargeError:
    """An `Event` payload over the limit, on every path: the Lambda API, the engine's own
    entry points and a Lambda destination's record."""
    return RequestTooLargeError(
        f"{size} byte payload is too large for the Event invocation type (limit {EVENT_PAYLOAD_LIMIT} bytes)"
    )


def payload_too_large(size: int, limit: int) -> RequestTooLargeError:
    """A body over `limit`: an event's words for the `Event` limit, else the request's."""
    return event_too_large(size) if limit == EVENT_PAYLOAD_LIMIT else request_too_large(limit)


# The largest serialised response a function may return (bytes): over it the invocation
# fails with a function error (docs/async-semantics.md R12.4).
RESPONSE_SIZE_LIMIT = 6_291_556
RESPONSE_TOO_LARGE_TYPE = "Function.ResponseSizeTooLarge"
RESPONSE_TOO_LARGE_MESSAGE = (
    f"Response payload size exceeded maximum allowed payload size ({RESPONSE_SIZE_LIMIT} bytes)."
)


def response_too_large_error() -> dict[str, str]:
    """The error object the service answers with; the runtime never sees it, so it has
    no `requestId` or `stackTrace` (**unverified**: shape seen in reports, not recorded)."""
    return {"errorMessage": RESPONSE_TOO_LARGE_MESSAGE, "errorType": RESPONSE_TOO_LARGE_TYPE}
