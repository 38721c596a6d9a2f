"""Every error asyncrun raises on purpose, in one tree:

    AsyncrunError                 the root; the command line catches it and exits 2
    ├── UserError                 the user asked for something wrong
    │   ├── TemplateError         the template, its parameters or samconfig
    │   ├── CommandError          a command-line argument
    │   ├── RedriveError          a queue to redrive from that cannot be chosen
    │   └── LambdaServiceError    what the Lambda service would answer with an error: each
    │       │                     carries its AWS error code and HTTP status, so the Lambda
    │       │                     API returns it unchanged
    │       ├── RequestTooLargeError, InvalidRequestContentError, ResourceNotFoundError,
    │       ├── InvalidParameterValueError ── DestinationConfigError
    │       └── ValidationError, TooManyRequestsError, ServiceError
    ├── SamLocalError             sam or a container cannot run the functions
    └── DeliveryFailed            a destination refused a record (the engine counts it)

Messages are one line and name what is wrong and where."""

from __future__ import annotations

from typing import Any


class AsyncrunError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def one_line(self) -> str:
        """The message as the command line prints it."""
        return " ".join(self.message.split())


class UserError(AsyncrunError):
    """The user asked for something wrong: a template, a command, a configuration."""


class TemplateError(UserError):
    """Anything wrong with a template, its parameters or its configuration."""


class CommandError(UserError):
    """A command-line argument that cannot be used."""


class RedriveError(UserError):
    """The queue to redrive from cannot be determined."""


class SamLocalError(AsyncrunError):
    """`sam local` cannot run the functions: no container engine answers, or sam or a
    container failed. The message says what happened and what to do."""


class DeliveryFailed(AsyncrunError):
    """A destination or dead-letter target did not take a record."""


class LambdaServiceError(UserError):
    """An error the Lambda service answers with: `X-Amzn-ErrorType` and a JSON body
    `{"Type", "message"}`. `code` and `status` are the class's unless given."""

    code = "ServiceException"
    status = 500
    # The service model names the message member `Message` for these shapes, `message` elsewhere.
    _CAPITALIZED = frozenset({"ResourceNotFoundException", "ServiceException"})

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def one_line(self) -> str:
        return f"{self.code}: {super().one_line()}"

    def body(self) -> dict[str, Any]:
        key = "Message" if self.code in self._CAPITALIZED else "message"
        return {"Type": "Service" if self.status >= 500 else "User", key: self.message}


class ServiceError(LambdaServiceError):
    """The service failed (asyncrun itself did)."""


class RequestTooLargeError(LambdaServiceError):
    """The payload is over the invocation type's limit; nothing was queued."""

    code = "RequestEntityTooLargeException"
    status = 413


class InvalidRequestContentError(LambdaServiceError):
    """The payload is not JSON."""

    code = "InvalidRequestContentException"
    status = 400


class ResourceNotFoundError(LambdaServiceError):
    code = "ResourceNotFoundException"
    status = 404

    @classmethod
    def function(cls, arn: str) -> ResourceNotFoundError:
        """No function (or no such version or alias) at `arn`."""
        return cls(f"Function not found: {arn}")

    @classmethod
    def invoke_config(cls, qualified_arn: str) -> ResourceNotFoundError:
        """The function, version or alias has no event invoke config."""
        return cls(f"The function {qualified_arn} doesn't have an EventInvokeConfig")


class InvalidParameterValueError(LambdaServiceError):
    code = "InvalidParameterValueException"
    status = 400


class DestinationConfigError(InvalidParameterValueError):
    """A destination the service refuses when the configuration is put."""


class ValidationError(LambdaServiceError):
    """A request member outside its constraints (botocore's model, checked server side)."""

    code = "ValidationException"
    status = 400

    @classmethod
    def of(cls, *problems: str) -> ValidationError:
        """One error for every problem found, counted as the service counts them."""
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: "
        return cls(count + "; ".join(problems))


class TooManyRequestsError(LambdaServiceError):
    """A synchronous invoke that finds no free concurrency (reserved concurrency 0
    included); `reason` is the body's `Reason` member."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason

    def body(self) -> dict[str, Any]:
        body = super().body()
        if self.reason is not None:
            body["Reason"] = self.reason
        return body
