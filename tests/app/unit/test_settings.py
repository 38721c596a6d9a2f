"""The settings model of the functions' environment."""

from __future__ import annotations

import pytest
from pipeline.errors import ConfigurationError
from pipeline.settings import Settings, get_settings

from tests.support.template import Template


def test_given_each_function_environment_when_read_then_its_settings_parse(
    monkeypatch: pytest.MonkeyPatch, template: Template
) -> None:
    for function_id in template.functions:
        # Given: exactly what the template sets for the function
        for other in template.functions:
            for name in template.environment(other):
                monkeypatch.delenv(name, raising=False)
        for name, value in template.environment(function_id).items():
            monkeypatch.setenv(name, value)

        # When
        settings = get_settings()

        # Then
        assert settings.stage == template.parameter("Stage")
        assert settings.idempotency_table_name == template.physical_name("IdempotencyTable")


def test_given_process_environment_then_threshold_and_table_come_from_it(
    monkeypatch: pytest.MonkeyPatch, template: Template
) -> None:
    for name, value in template.environment("ProcessFunction").items():
        monkeypatch.setenv(name, value)

    settings = get_settings()

    assert settings.rejection_threshold == float(template.parameter("RejectionThreshold"))
    assert settings.required("process_table_name") == template.physical_name("ProcessTable")


def test_given_changed_environment_then_settings_follow_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: one process hosting several functions switches environments
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "100")
    first = get_settings()
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "200")

    # When
    second = get_settings()

    # Then
    assert (first.max_upload_bytes, second.max_upload_bytes) == (100, 200)
    assert get_settings() is second  # parsed once per environment


def test_given_missing_stage_variable_when_required_then_error_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUDIT_BUCKET_NAME", raising=False)

    with pytest.raises(ConfigurationError, match="AUDIT_BUCKET_NAME is not set"):
        get_settings().required("audit_bucket_name")


@pytest.mark.parametrize(("name", "value"), [("REJECTION_THRESHOLD", "1.5"), ("MAX_UPLOAD_BYTES", "0")])
def test_given_out_of_range_value_then_settings_refuse_it(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.model_validate({name: value})
