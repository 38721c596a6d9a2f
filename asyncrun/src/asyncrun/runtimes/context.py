"""A Lambda context object as the Python runtime hands it to a handler."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asyncrun.stack.model import function_arn


@dataclass
class LambdaContext:
    function_name: str
    function_version: str  # "$LATEST" or the executed version number
    invoked_function_arn: str  # the ARN the caller used, qualifier included if it had one
    # The Python runtime reads this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE: it is text, not a number.
    memory_limit_in_mb: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: float = 3.0
    identity: object | None = None
    client_context: object | None = None
    tenant_id: str | None = None
    # The deadline is wall-clock: function code runs in real time even when the
    # runner's clock is virtual.
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self._deadline:
            self._deadline = time.monotonic() + self.timeout_seconds
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            day = datetime.now(UTC).strftime("%Y/%m/%d")
            self.log_stream_name = f"{day}/[{self.function_version}]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @classmethod
    def for_function(
        cls,
        *,
        name: str,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        version: str = "$LATEST",
        qualifier: str | None = None,
        memory_mb: int = 128,
        timeout_seconds: float = 3.0,
        request_id: str | None = None,
    ) -> LambdaContext:
        arn = function_arn(region, account_id, name, qualifier)
        return cls(
            function_name=name,
            function_version=version,
            invoked_function_arn=arn,
            memory_limit_in_mb=str(memory_mb),
            aws_request_id=request_id or str(uuid.uuid4()),
            timeout_seconds=timeout_seconds,
        )
