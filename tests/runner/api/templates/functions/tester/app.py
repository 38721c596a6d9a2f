"""The walkthrough's tester: succeeds when the event says `"Success": true`, raises
otherwise, so a destination of either kind can be watched."""

from datetime import UTC, datetime


def lambda_handler(event, context):
    received_at = datetime.now(UTC).isoformat()
    print(f"event received at {received_at}: {event}")
    if event.get("Success") is True:
        return {"result": "success", "requestId": context.aws_request_id}
    raise RuntimeError("Failure from event, Success = false, I am failing!")
