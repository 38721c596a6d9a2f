"""A handler module that ends its process while it is imported: the init phase crashes."""

import sys

sys.exit(2)


def lambda_handler(event, context):
    return {}
