"""Order rows: reading them from a CSV or JSON Lines stream, validating each one, and
summing up a batch."""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, TextIO

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from pipeline.errors import UnparsableUploadError

REQUIRED_FIELDS = ("order_id", "customer_id", "sku", "quantity", "unit_price", "currency")

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


def _not_a_boolean(value: Any) -> Any:
    # JSON true would otherwise pass as 1.
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


class OrderRow(BaseModel):
    # Extra columns are allowed (and ignored): producers add fields over time.
    model_config = ConfigDict(frozen=True, extra="ignore")

    order_id: NonEmpty
    customer_id: NonEmpty
    sku: NonEmpty
    quantity: Annotated[int, Field(gt=0), BeforeValidator(_not_a_boolean)]
    unit_price: Annotated[
        Decimal, Field(ge=0, decimal_places=2, allow_inf_nan=False), BeforeValidator(_not_a_boolean)
    ]
    currency: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{3}$")]  # ISO 4217 code

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


class RejectedRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    row: int  # 1-based ordinal among the data rows
    line: int  # 1-based line of the file where the row starts (the CSV header is line 1)
    order_id: str | None
    reason: str


@dataclass
class BatchSummary:
    max_samples: int
    total_rows: int = 0
    valid_rows: int = 0
    rejected_rows: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)  # per currency
    rejected_samples: list[RejectedRow] = field(default_factory=list)

    def add(self, row: int, line: int, values: dict[Any, Any]) -> None:
        self.total_rows += 1
        if None in values:  # csv.DictReader files surplus fields under the key None
            self._reject(row, line, values, f"{len(values[None])} more field(s) than the header has")
            return
        try:
            order = OrderRow.model_validate(values)
        except ValidationError as error:
            self._reject(row, line, values, _reason(error))
            return
        self.valid_rows += 1
        self.totals[order.currency] = self.totals.get(order.currency, Decimal(0)) + order.amount

    def _reject(self, row: int, line: int, values: dict[Any, Any], reason: str) -> None:
        self.rejected_rows += 1
        if len(self.rejected_samples) < self.max_samples:
            order_id = values.get("order_id")
            self.rejected_samples.append(
                RejectedRow(
                    row=row,
                    line=line,
                    order_id=str(order_id) if order_id not in (None, "") else None,
                    reason=reason,
                )
            )


def _reason(error: ValidationError) -> str:
    """A short, readable reason: "quantity: Input should be greater than 0; ..."."""
    parts = []
    for detail in error.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(part) for part in detail["loc"]) or "row"
        parts.append(f"{where}: {detail['msg']}")
    return "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else "")


def _csv_rows(text: TextIO) -> Iterator[tuple[int, dict[Any, Any]]]:
    reader = csv.DictReader(text, strict=True)
    if reader.fieldnames is None:
        raise UnparsableUploadError("the CSV file has no header line")
    reader.fieldnames = [name.strip() for name in reader.fieldnames]
    missing = [name for name in REQUIRED_FIELDS if name not in reader.fieldnames]
    if missing:
        raise UnparsableUploadError(
            f"the CSV header lacks required column(s) {', '.join(missing)} "
            f"(it has {', '.join(reader.fieldnames)})"
        )
    line = reader.line_num
    for values in reader:
        yield line + 1, values
        line = reader.line_num


def _json_lines_rows(text: TextIO) -> Iterator[tuple[int, dict[Any, Any]]]:
    for line_number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            # Decimal keeps prices exact (0.1 stays 0.1, and 12.345 is seen as three decimals).
            values = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise UnparsableUploadError(f"line {line_number} is not valid JSON: {error.msg}") from error
        if not isinstance(values, dict):
            raise UnparsableUploadError(
                f"line {line_number} is a JSON {type(values).__name__}, not an object"
            )
        yield line_number, values


def summarize(text: TextIO, upload_format: str, *, max_samples: int) -> BatchSummary:
    """Validate every row of the stream, keeping counts, totals and a few rejected rows."""
    summary = BatchSummary(max_samples=max_samples)
    rows = _csv_rows(text) if upload_format == "csv" else _json_lines_rows(text)
    try:
        for row, (line, values) in enumerate(rows, start=1):
            summary.add(row, line, values)
    except UnicodeDecodeError as error:
        raise UnparsableUploadError(
            f"the file is not UTF-8 text (byte 0x{error.object[error.start]:02x} "
            f"after row {summary.total_rows})"
        ) from error
    except csv.Error as error:
        raise UnparsableUploadError(
            f"the CSV file is malformed after row {summary.total_rows}: {error}"
        ) from error
    return summary
