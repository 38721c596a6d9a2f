"""Delivering invocation records to destinations, and failed events to dead-letter
queues (docs/async-semantics.md R5, R6). A delivery never raises: a failure is reported
in the returned `Delivery` (the engine counts it) and the record is lost, as on AWS."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncrun.errors import DeliveryFailed
from asyncrun.service.records import record_json, without_payloads
from asyncrun.service.trace import DeliveryKind, DestinationType
from asyncrun.stack.endpoint import Endpoint

SNS_MESSAGE_LIMIT = 262_144  # bytes
DLQ_ERROR_MESSAGE_LIMIT = 1024  # bytes of the error message kept in the ErrorMessage attribute
_SERVICE_TYPES: dict[str, DestinationType] = {
    "sqs": "sqs",
    "sns": "sns",
    "lambda": "lambda",
    "events": "eventbridge",
    "s3": "s3",
}

# Queues a Lambda destination's record into the engine: (target ARN, record bytes).
LambdaInvoker = Callable[[str, bytes], None]


@dataclass
class Delivery:
    at: float
    request_id: str
    function: str  # physical name of the function whose record this is
    kind: DeliveryKind
    destination_type: DestinationType
    target_arn: str
    ok: bool
    body: str  # what was sent (record JSON, or the event payload for a dead-letter queue)
    error: str | None = None
    message_attributes: dict[str, Any] | None = None


def destination_type(arn: str) -> DestinationType:
    parts = arn.split(":")
    return _SERVICE_TYPES.get(parts[2], "unknown") if len(parts) > 2 else "unknown"


def _arn_name(arn: str) -> str:
    return arn.split(":")[5] if arn.count(":") >= 5 else arn


def s3_destination_key(function_name: str, at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return f"aws/lambda/async/{function_name}/{moment:%Y/%m/%d}/{moment:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, DeliveryFailed) else text


class DestinationSender:
    def __init__(self, endpoint: Endpoint, invoke_lambda: LambdaInvoker) -> None:
        self._endpoint = endpoint
        self._invoke_lambda = invoke_lambda

    def send_record(
        self,
        *,
        kind: DeliveryKind,
        target_arn: str,
        record: dict[str, Any],
        function_name: str,
        function_arn: str,
        request_id: str,
        at: float,
    ) -> Delivery:
        dtype = destination_type(target_arn)
        body = record_json(record)
        try:
            match dtype:
                case "sqs":
                    self._sqs_send(target_arn, body)
                case "sns":
                    if kind == "on_failure" and len(body.encode()) > SNS_MESSAGE_LIMIT:
                        body = record_json(without_payloads(record))
                    self._sns_publish(target_arn, body)
                case "lambda":
                    self._invoke_lambda(target_arn, body.encode())
                case "eventbridge":
                    self._put_event(target_arn, body, kind, function_arn)
                case "s3":
                    if kind != "on_failure":
                        raise DeliveryFailed("an S3 bucket can only be an OnFailure destination")
                    self._endpoint.client("s3").put_object(
                        Bucket=_arn_name(target_arn),
                        Key=s3_destination_key(function_name, at),
                        Body=body.encode(),
                    )
                case _:
                    raise DeliveryFailed(f"{target_arn} is not a destination type Lambda delivers to")
        except Exception as exc:  # any failure loses the record; the engine counts it
            return Delivery(
                at, request_id, function_name, kind, dtype, target_arn, False, body, _error_text(exc)
            )
        return Delivery(at, request_id, function_name, kind, dtype, target_arn, True, body)

    def send_dead_letter(
        self,
        *,
        target_arn: str,
        payload: bytes,
        request_id: str,
        error_message: str,
        function_name: str,
        at: float,
    ) -> Delivery:
        dtype = destination_type(target_arn)
        body = payload.decode("utf-8", errors="replace")
        attributes: dict[str, Any] = {
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        }
        message = error_message.encode()[:DLQ_ERROR_MESSAGE_LIMIT].decode(errors="ignore")
        if message:  # an empty String attribute is refused by SQS and SNS
            attributes["ErrorMessage"] = {"DataType": "String", "StringValue": message}
        try:
            match dtype:
                case "sqs":
                    self._sqs_send(target_arn, body, attributes)
                case "sns":
                    self._sns_publish(target_arn, body, attributes)
                case _:
                    raise DeliveryFailed(f"{target_arn} is not an SQS queue or SNS topic")
        except Exception as exc:
            return Delivery(
                at,
                request_id,
                function_name,
                "dead_letter",
                dtype,
                target_arn,
                False,
                body,
                _error_text(exc),
                attributes,
            )
        return Delivery(
            at, request_id, function_name, "dead_letter", dtype, target_arn, True, body, None, attributes
        )

    def _sqs_send(self, arn: str, body: str, attributes: dict[str, Any] | None = None) -> None:
        parts = arn.split(":")
        name = parts[5]
        if name.endswith(".fifo"):
            raise DeliveryFailed(f"{arn} is a FIFO queue; Lambda delivers to standard queues only")
        sqs = self._endpoint.client("sqs")
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        sqs.send_message(**kwargs)

    def _sns_publish(self, arn: str, body: str, attributes: dict[str, Any] | None = None) -> None:
        if _arn_name(arn).endswith(".fifo"):
            raise DeliveryFailed(f"{arn} is a FIFO topic; Lambda delivers to standard topics only")
        if len(body.encode()) > SNS_MESSAGE_LIMIT:
            raise DeliveryFailed(f"message of {len(body.encode())} bytes is over SNS's {SNS_MESSAGE_LIMIT}")
        sns = self._endpoint.client("sns")
        # Publishing to a topic that does not exist must fail even where an endpoint is lenient.
        sns.get_topic_attributes(TopicArn=arn)
        kwargs: dict[str, Any] = {"TopicArn": arn, "Message": body}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        sns.publish(**kwargs)

    def _put_event(self, bus_arn: str, body: str, kind: DeliveryKind, function_arn: str) -> None:
        outcome = "Success" if kind == "on_success" else "Failure"
        response = self._endpoint.client("events").put_events(
            Entries=[
                {
                    "Source": "lambda",
                    "DetailType": f"Lambda Function Invocation Result - {outcome}",
                    "Resources": [bus_arn, function_arn],
                    "Detail": body,
                    "EventBusName": bus_arn,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise DeliveryFailed(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
