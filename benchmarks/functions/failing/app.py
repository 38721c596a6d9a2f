def handler(event, context):
    raise RuntimeError(f"always fails: {event.get('n')}")
