"""A handler's return value as the Python runtime sends it back (docs/async-semantics.md
R12.4; the size the service accepts is in `asyncrun.service.limits`).

The rules are those of the runtime interface client's marshaller (`awslambdaric`) for
python3.13: the standard `json` encoder with `ensure_ascii=False` and NaN/Infinity
allowed; a `Decimal` written as a number (the runtime passes it through a `float`, so
`Decimal("1.10")` becomes `1.1`), a NaN `Decimal` as `NaN`; `bytes` sent as they are;
anything else the encoder refuses is `Runtime.MarshalError` with the encoder's words
after "Unable to marshal response: "."""

from __future__ import annotations

import decimal
import json
import math
from typing import Any

MARSHAL_ERROR_TYPE = "Runtime.MarshalError"


class MarshalError(Exception):
    """The value cannot be sent as JSON; the message is the runtime's."""


class _RuntimeEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            # float() refuses a signalling NaN; the runtime writes every NaN as NaN.
            return math.nan if o.is_nan() else float(o)
        return super().default(o)


_ENCODER = _RuntimeEncoder(ensure_ascii=False, allow_nan=True)


def marshal_response(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return _ENCODER.encode(value).encode("utf-8", errors="surrogatepass")
    except Exception as exc:
        raise MarshalError(f"Unable to marshal response: {exc}") from None
