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
    """An `Event` payload over the limit, as the Lambda API answers it. The engine's own
    entry points answer with `request_too_large` (**unverified** which of the two the
    service gives for a body between the two limits)."""
    return RequestTooLargeError(
        f"{size} byte payload is too large for the Event invocation type (limit {EVENT_PAYLOAD_LIMIT} bytes)"
    )
