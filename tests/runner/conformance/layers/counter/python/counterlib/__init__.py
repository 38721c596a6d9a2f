"""A layer module with module-level state: each function must get its own copy."""

_count = 0


def bump() -> int:
    global _count
    _count += 1
    return _count
