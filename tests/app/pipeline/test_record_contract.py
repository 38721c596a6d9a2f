"""The contract between the runner and the functions: every invocation record asyncrun
delivers in a pipeline run is one the layer's `InvocationRecord` model accepts, and
reads back to the same JSON (what the redrive tool sends back)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.app.pipeline.conftest import Pipeline
from tests.support.handlers import layer_dirs
from tests.support.template import project_template

pytestmark = pytest.mark.pipeline

for _folder in layer_dirs(project_template(), "ProcessFunction"):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

from pipeline.models import InvocationRecord  # noqa: E402


def test_every_record_of_a_run_with_successes_and_failures_fits_the_layers_model(pipeline: Pipeline) -> None:
    # Given a run in which every stage succeeds once, process fails, and upload fails
    pipeline.upload("orders-2026-11-01.csv", "incoming/2026-11-01/orders.csv")
    pipeline.upload("orders-rejected.csv", "incoming/bad/orders-rejected.csv")
    pipeline.upload("orders-export.xlsx", "incoming/bad/orders-export.xlsx")

    # When
    pipeline.run()

    # Then
    records = [d for d in pipeline.engine.deliveries if d.kind in ("on_success", "on_failure")]
    conditions = {(d.function, d.kind) for d in records}
    parts = pipeline.parts
    assert {
        (parts.upload.name, "on_success"),
        (parts.process.name, "on_success"),
        (parts.upload.name, "on_failure"),
        (parts.process.name, "on_failure"),
    } <= conditions
    for delivery in records:
        raw = json.loads(delivery.body)
        record = InvocationRecord.model_validate(raw)
        assert record.model_dump(mode="json", by_alias=True, exclude_unset=True) == raw, delivery.function
