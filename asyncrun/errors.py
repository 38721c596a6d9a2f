"""Errors the runner raises where the Lambda service would answer with an error. Each
carries the AWS error code and HTTP status, so an API server in front of the engine
can return them unchanged."""

from __future__ import annotations


class AsyncrunError(Exception):
    code = "ServiceException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestTooLargeError(AsyncrunError):
    """The payload is over the invocation type's limit; nothing was queued."""

    code = "RequestEntityTooLargeException"
    status = 413


class InvalidRequestContentError(AsyncrunError):
    """The payload is not JSON."""

    code = "InvalidRequestContentException"
    status = 400


class ResourceNotFoundError(AsyncrunError):
    code = "ResourceNotFoundException"
    status = 404


class InvalidParameterValueError(AsyncrunError):
    code = "InvalidParameterValueException"
    status = 400


class DestinationConfigError(InvalidParameterValueError):
    """A destination the service refuses when the configuration is put."""


class ValidationError(AsyncrunError):
    """A request member outside its constraints (botocore's model, checked server side)."""

    code = "ValidationException"
    status = 400


class TooManyRequestsError(AsyncrunError):
    """A synchronous invoke of a function that may not run (reserved concurrency 0)."""

    code = "TooManyRequestsException"
    status = 429
