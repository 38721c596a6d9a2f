"""A handler module whose import fails: the init phase fails."""

import module_that_is_not_there  # noqa: F401


def lambda_handler(event, context):
    return {}
