"""Returns its event; fails when the event or the MODE variable asks it to."""

import os


def handler(event, context):
    if os.environ.get("MODE") == "fail" or (isinstance(event, dict) and event.get("fail")):
        raise RuntimeError("asked to fail")
    return {"echo": event}
