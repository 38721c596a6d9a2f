"""The functions' configuration: one model of the environment variables the template sets."""

import os
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import ConfigurationError


class Settings(BaseModel):
    """Every variable any stage reads. Stage-specific ones are optional here and checked
    where they are used (`required`), because each function only gets its own."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    stage: str = Field("dev", validation_alias="STAGE")
    service_name: str = Field("order-pipeline", validation_alias="POWERTOOLS_SERVICE_NAME")
    idempotency_table_name: str | None = Field(None, validation_alias="IDEMPOTENCY_TABLE_NAME")
    max_upload_bytes: Annotated[int, Field(gt=0)] = Field(52_428_800, validation_alias="MAX_UPLOAD_BYTES")
    process_table_name: str | None = Field(None, validation_alias="PROCESS_TABLE_NAME")
    rejection_threshold: Annotated[float, Field(ge=0, le=1)] = Field(
        0.2, validation_alias="REJECTION_THRESHOLD"
    )
    audit_bucket_name: str | None = Field(None, validation_alias="AUDIT_BUCKET_NAME")

    def required(self, field: str) -> Any:
        value = getattr(self, field)
        if value in (None, ""):
            variable = type(self).model_fields[field].validation_alias
            raise ConfigurationError(f"environment variable {variable} is not set; the template sets it")
        return value


_VARIABLES = tuple(str(info.validation_alias) for info in Settings.model_fields.values())


def get_settings() -> Settings:
    """The settings, parsed once per distinct environment.

    In Lambda the environment never changes, so this parses once. Keying the cache on
    the variables' values keeps it right when several functions share one process (a
    local runner switching environments between invocations)."""
    return _parse(tuple((name, os.environ[name]) for name in _VARIABLES if name in os.environ))


@cache
def _parse(variables: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.model_validate(dict(variables))
