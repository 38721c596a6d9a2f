"""Once per upload: the process and audit stages run their work at most once per
upload_id, however often Lambda delivers the event (at least once, and again on retry).

Keyed on the upload_id (the object version), not on the request id: a duplicate
delivery has a new request id but is the same work.

Idempotency records expire (EXPIRES_AFTER_SECONDS), and a duplicate may arrive while
the first delivery still runs. Neither case may write twice or raise a false alert, so
the stages' writes are conditional as well (the process item is never replaced once
PROCESSED, an audit entry never overwritten): the idempotency record saves repeated
work, the conditional writes guarantee one item and one audit entry."""

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from pipeline import clients
from pipeline.observability import logger
from pipeline.settings import get_settings

KEY_JMESPATH = "upload_id"
# Longer than an event can live (MaximumEventAgeInSeconds is at most 6 hours) so that a
# late duplicate still finds the first outcome.
EXPIRES_AFTER_SECONDS = 24 * 60 * 60


def once_per_upload(
    function: Callable[..., BaseModel],
    *,
    key_prefix: str,
    data_keyword_argument: str,
    result_model: type[BaseModel],
    context: LambdaContext,
) -> Callable[..., Any]:
    """`function` made idempotent on the `upload_id` of its `data_keyword_argument`.

    A repeat returns the first call's result (validated back into `result_model`). A
    call while another is in progress does the work too rather than fail: with
    `MaximumRetryAttempts: 0` that failure would be final, an alert for an upload that
    succeeds; the conditional writes keep the outcome single. (The in-progress record may
    also be a crashed attempt's, left until its timeout.) A call that raised leaves
    nothing behind."""
    table_name = get_settings().required("idempotency_table_name")
    wrapped, config = _wrap(
        function, key_prefix, data_keyword_argument, result_model, table_name, clients.dynamodb()
    )
    # An in-progress marker then expires with the invocation's own timeout.
    config.register_lambda_context(context)

    def run(**kwargs: Any) -> Any:
        try:
            return wrapped(**kwargs)
        except IdempotencyAlreadyInProgressError:
            logger.warning(
                "another delivery of this upload is in progress; doing the work under conditional writes"
            )
            return function(**kwargs)

    return run


@cache
def _wrap(
    function: Callable[..., BaseModel],
    key_prefix: str,
    data_keyword_argument: str,
    result_model: type[BaseModel],
    table_name: str,
    client: Any,
) -> tuple[Callable[..., Any], IdempotencyConfig]:
    config = IdempotencyConfig(
        event_key_jmespath=KEY_JMESPATH,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
    )
    # The table's key "id" and TTL attribute "expiration" are the layer's defaults.
    store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
    wrapped = idempotent_function(
        function,
        data_keyword_argument=data_keyword_argument,
        persistence_store=store,
        config=config,
        output_serializer=PydanticSerializer(result_model),
        key_prefix=key_prefix,
    )
    return wrapped, config
