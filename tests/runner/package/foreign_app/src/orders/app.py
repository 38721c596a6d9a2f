"""Prices an order: quantity times unit price, in the stack's currency."""

import os
from decimal import Decimal


class UnpriceableOrderError(Exception):
    pass


def handler(event, context):
    try:
        total = Decimal(str(event["quantity"])) * Decimal(str(event["unit_price"]))
    except (KeyError, ArithmeticError, ValueError) as error:
        raise UnpriceableOrderError(f"order {event.get('order_id')!r} cannot be priced: {error!r}") from None
    return {"order_id": event["order_id"], "total": str(total), "currency": os.environ["CURRENCY"]}
