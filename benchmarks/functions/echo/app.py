def handler(event, context):
    return {"echo": event, "request_id": context.aws_request_id}
