"""Order rows: reading them from a CSV or JSON Lines stream, validating each one, and
summing up a batch.

Every field is bounded (length, digits, magnitude) so that a row is either valid or
rejected with a reason, whatever it holds, and the batch's item and audit entry always
fit DynamoDB's and the destinations' size limits. Reasons name rows, lines, columns and
rules, never values: they travel to logs, the process table, the audit log and alerts."""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Context, Decimal, DecimalException, Inexact, InvalidOperation, Overflow
from functools import cache
from itertools import compress
from operator import itemgetter, methodcaller, mul
from typing import Annotated, Any, NamedTuple, TextIO, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from pipeline.errors import UnparsableUploadError
from pipeline.models import RejectedRow

REQUIRED_FIELDS = ("order_id", "customer_id", "sku", "quantity", "unit_price", "currency")

MAX_TEXT_CHARS = 128
MAX_QUANTITY = 1_000_000
# Up to 9,999,999,999.99: an amount stays under 10^16 and a batch's total under 38
# digits, DynamoDB's exact-number limit, for any file size Lambda can read.
MAX_PRICE_DIGITS = 12
# More than the ISO 4217 codes in use; bounds the per-currency totals of one item.
MAX_CURRENCIES = 200
# A JSON Lines row longer than this is rejected unread: it cannot be a valid order, and
# holding it (or nesting inside it) would cost memory and time for nothing.
MAX_LINE_CHARS = 64 * 1024
MAX_REASON_CHARS = 300

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)]
_CENT = Decimal("0.01")
_ZERO = Decimal(0)
# Built once: a context per price would cost as much as the quantize itself.
_EXACT = Context(traps=[Inexact, InvalidOperation, Overflow])


def _not_a_boolean(value: Any) -> Any:
    # JSON true would otherwise pass as 1.
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


def _cents(plain_price: str) -> Decimal:
    # Exact: a plainly written price has at most 2 decimals.
    return Decimal(plain_price).quantize(_CENT)


def _exact_cents(value: Decimal) -> Decimal:
    # pydantic's decimal_places check lets exponents far below zero through (1E-999999999),
    # which DynamoDB cannot store: quantize exactly to cents, or reject.
    try:
        return value.quantize(_CENT, context=_EXACT)
    except DecimalException:
        raise ValueError("more than 2 decimal places") from None


Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY)]
CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{3}$")]  # ISO 4217


class OrderRow(BaseModel):
    """One order, validated: the rules every row is held to, and the reasons a rejected
    row is given."""

    # Extra columns are allowed (and ignored): producers add fields over time.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    order_id: NonEmpty
    customer_id: NonEmpty
    sku: NonEmpty
    quantity: Annotated[Quantity, BeforeValidator(_not_a_boolean)]
    unit_price: Annotated[
        Decimal,
        Field(ge=0, max_digits=MAX_PRICE_DIGITS, decimal_places=2, allow_inf_nan=False),
        BeforeValidator(_not_a_boolean),
        AfterValidator(_exact_cents),
    ]
    currency: CurrencyCode

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


# CSV rows are validated a batch at a time by pydantic validators built from constrained
# types only: no Python code per field, no exception per row. They are stricter than
# OrderRow and never looser: a price must be written plainly (up to 10 digits, a point and
# up to 2 decimals: always within OrderRow's bounds and exact in cents). A row they do not
# accept (an invalid one, or a price like "1E2" or " 5") goes to OrderRow, which decides
# and gives the reason. CSV values are strings: OrderRow's check against JSON booleans has
# nothing to do here.
_PriceT = TypeVar("_PriceT")
_CsvOrderPriced = tuple[NonEmpty, NonEmpty, NonEmpty, Quantity, _PriceT, CurrencyCode]
_PLAIN_PRICE = r"^(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,2})?$"
_CsvOrder = _CsvOrderPriced[Annotated[str, StringConstraints(pattern=_PLAIN_PRICE)]]
# The common form, exactly 2 decimals: without its point, the price in cents. A batch of
# only such rows is summed in whole cents, a currency at a time.
_PRICE_IN_CENTS = r"^(?:0|[1-9][0-9]{0,9})\.[0-9]{2}$"
_CsvOrderInCents = _CsvOrderPriced[Annotated[str, StringConstraints(pattern=_PRICE_IN_CENTS)]]
_QUANTITY, _PRICE, _CURRENCY = 3, 4, 5  # positions in a row's REQUIRED_FIELDS values
# Rows per validator call: large enough that the call's own cost vanishes, small enough
# that a batch of the widest rows stays a few megabytes.
CSV_BATCH_ROWS = 1024
# A batch in more currencies is summed row by row: a pass per currency would cost more.
_BULK_CURRENCIES = 8


@cache
def _csv_batch_validators() -> tuple[TypeAdapter[list[_CsvOrderInCents]], TypeAdapter[list[Any]]]:
    """One for a batch whose rows it all accepts, prices in cents (the common case: it
    raises for any other batch), and one that returns each row validated or, when it is
    not an order with a plain price, unchanged (left to right: the order, then anything)."""
    return (
        TypeAdapter(list[_CsvOrderInCents]),
        TypeAdapter(list[Annotated[_CsvOrder | Any, Field(union_mode="left_to_right")]]),
    )


class RawRow(NamedTuple):
    """One JSON Lines row as read: its values, or why it could not even be read."""

    line: int
    values: dict[Any, Any] | None
    unreadable: str | None = None


class CsvBatch(NamedTuple):
    """Consecutive CSV data rows: where each starts, and its REQUIRED_FIELDS values in
    that order (None for a missing one), or why the row could not even be read (a str)."""

    lines: list[int]
    values: list[tuple[str | None, ...] | str]


@dataclass
class BatchSummary:
    max_samples: int
    total_rows: int = 0
    valid_rows: int = 0
    rejected_rows: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)  # per currency
    rejected_samples: list[RejectedRow] = field(default_factory=list)

    def add(self, row: int, raw: RawRow) -> None:
        """One JSON Lines row, validated by OrderRow."""
        self.total_rows += 1
        values = raw.values
        if values is None:
            self._reject(row, raw.line, raw.unreadable or "unreadable")
            return
        self._validate(row, raw.line, values)

    def add_csv(self, batch: CsvBatch) -> None:
        """The next CSV rows, validated in one call; OrderRow sees only those it refuses."""
        valid_batch, row_by_row = _csv_batch_validators()
        try:
            validated: list[Any] = valid_batch.validate_python(batch.values)
        except ValidationError:  # one exception for a batch with a row it refuses, none per row
            validated = row_by_row.validate_python(batch.values)
        else:
            if self._add_valid_batch(validated):
                return
        row = self.total_rows
        for line, values in zip(batch.lines, validated, strict=True):
            row += 1
            if type(values) is str:
                self._reject(row, line, values)
            elif type(values[_QUANTITY]) is int:
                self._count(row, line, values[_CURRENCY], values[_QUANTITY] * _cents(values[_PRICE]))
            else:
                self._validate(row, line, dict(zip(REQUIRED_FIELDS, values, strict=True)))
        self.total_rows = row

    def _add_valid_batch(self, orders: list[_CsvOrderInCents]) -> bool:
        """Sum a batch of valid rows a currency at a time; False (nothing added) when it
        must go row by row: in many currencies, or past MAX_CURRENCIES."""
        _, _, _, quantities, prices, currencies = zip(*orders, strict=True)
        in_order = dict.fromkeys(currencies)  # as the rows name them, as row by row adds them
        new = in_order.keys() - self.totals.keys()
        if len(in_order) > _BULK_CURRENCIES or len(self.totals) + len(new) > MAX_CURRENCIES:
            return False
        cents = list(map(mul, quantities, map(int, map(methodcaller("replace", ".", ""), prices))))
        for currency in in_order:
            of_currency = cents if len(in_order) == 1 else compress(cents, map(currency.__eq__, currencies))
            # In cents, as OrderRow.amount has them.
            self.totals[currency] = self.totals.get(currency, _ZERO) + Decimal(sum(of_currency)).scaleb(-2)
        self.total_rows += len(orders)
        self.valid_rows += len(orders)
        return True

    def _validate(self, row: int, line: int, values: dict[Any, Any]) -> None:
        try:
            order = OrderRow.model_validate(values)
        except ValidationError as error:
            self._reject(row, line, _reason(error))
            return
        self._count(row, line, order.currency, order.amount)

    def _count(self, row: int, line: int, currency: str, amount: Decimal) -> None:
        total = self.totals.get(currency)
        if total is None:
            if len(self.totals) >= MAX_CURRENCIES:
                self._reject(row, line, f"currency: more than {MAX_CURRENCIES} currencies in one batch")
                return
            total = _ZERO
        self.valid_rows += 1
        self.totals[currency] = total + amount

    def _reject(self, row: int, line: int, reason: str) -> None:
        self.rejected_rows += 1
        if len(self.rejected_samples) < self.max_samples:
            self.rejected_samples.append(RejectedRow(row=row, line=line, reason=reason[:MAX_REASON_CHARS]))


def _reason(error: ValidationError) -> str:
    """A short, readable reason without the input: "quantity: Input should be greater than 0; ..."."""
    parts = []
    for detail in error.errors(include_url=False, include_context=False, include_input=False):
        # Only the model's own field names: `loc` never holds a key taken from the row.
        where = str(detail["loc"][0]) if detail["loc"] and detail["loc"][0] in REQUIRED_FIELDS else "row"
        parts.append(f"{where}: {detail['msg']}")
    return "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else "")


def _csv_batches(text: TextIO) -> Iterator[CsvBatch]:
    """The data rows, read as csv.DictReader reads them (blank lines skipped, missing
    fields None, surplus fields a rejected row), in batches of CSV_BATCH_ROWS."""
    reader = csv.reader(text, strict=True)
    header = next(reader, None)
    if header is None:
        raise UnparsableUploadError("the CSV file has no header line")
    names = [name.strip() for name in header]
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        # The header's own cells are not repeated: a file without a header has its first
        # order there.
        raise UnparsableUploadError(
            f"the CSV header (line 1, {len(names)} column(s)) lacks required column(s) {', '.join(missing)}"
        )
    column = {name: index for index, name in enumerate(names)}  # the last of a repeated name, as DictReader
    positions = [column[name] for name in REQUIRED_FIELDS]
    required_values = itemgetter(*positions)
    width = len(names)
    lines: list[int] = []
    values: list[tuple[str | None, ...] | str] = []
    line = reader.line_num
    while True:
        try:
            # A plain loop for the common rows; an error ends it, and the next pass
            # goes on reading after the line that failed.
            for fields in reader:
                if len(fields) == width:
                    values.append(required_values(fields))
                elif not fields:  # a blank line: no row, as csv.DictReader skips it
                    continue
                elif len(fields) > width:
                    values.append(f"{len(fields) - width} more field(s) than the header has")
                else:
                    values.append(tuple(fields[i] if i < len(fields) else None for i in positions))
                lines.append(line + 1)
                line = reader.line_num
                if len(lines) == CSV_BATCH_ROWS:
                    yield CsvBatch(lines, values)
                    lines, values = [], []
            break
        except UnicodeDecodeError:
            if lines:  # the rows before the invalid byte count, as they would one by one
                yield CsvBatch(lines, values)
            raise
        except csv.Error as error:
            # One line that breaks the CSV rules (a field over the csv module's limit, a
            # stray quote) is one rejected row. An open quote that ran over several lines
            # or to the end has swallowed rows no one can count: the file is malformed.
            if reader.line_num - line > 1 or str(error).startswith("unexpected end of data"):
                raise UnparsableUploadError(
                    f"the CSV file is malformed from line {line + 1}: {error}"
                ) from error
            values.append(f"row: malformed CSV ({error})")
            lines.append(line + 1)
            line = reader.line_num
            if len(lines) == CSV_BATCH_ROWS:
                yield CsvBatch(lines, values)
                lines, values = [], []
    if lines:
        yield CsvBatch(lines, values)


def _lines(text: TextIO) -> Iterator[tuple[int, str | None]]:
    """(line number, line) of each line, or None for a line over MAX_LINE_CHARS, whose
    rest is skipped without being held."""
    number = 0
    while chunk := text.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(chunk) <= MAX_LINE_CHARS or chunk[-1] in "\r\n":
            yield number, chunk
            continue
        while (rest := text.readline(MAX_LINE_CHARS)) and rest[-1] not in "\r\n":
            pass
        yield number, None


def _json_lines_rows(text: TextIO) -> Iterator[RawRow]:
    # One line is one row: a line that is not a JSON object is a rejected row, not a
    # broken file.
    for number, line in _lines(text):
        if line is None:
            yield RawRow(number, None, f"row: longer than {MAX_LINE_CHARS} characters")
            continue
        if not line.strip():
            continue
        try:
            # Decimal keeps prices exact (0.1 stays 0.1, and 12.345 is seen as three decimals).
            values = json.loads(line.rstrip("\r\n"), parse_float=Decimal)
        except json.JSONDecodeError as error:
            yield RawRow(number, None, f"row: not valid JSON ({error.msg} at character {error.pos + 1})")
            continue
        except ValueError:  # an integer over Python's 4,300-digit conversion limit
            yield RawRow(number, None, "row: a number with too many digits")
            continue
        except RecursionError:
            yield RawRow(number, None, "row: JSON nested too deeply")
            continue
        if not isinstance(values, dict):
            yield RawRow(number, None, f"row: a JSON {type(values).__name__}, not an object")
            continue
        yield RawRow(number, values)


def summarize(text: TextIO, upload_format: str, *, max_samples: int) -> BatchSummary:
    """Validate every row of the stream, keeping counts, totals and a few rejected rows."""
    summary = BatchSummary(max_samples=max_samples)
    try:
        if upload_format == "csv":
            for batch in _csv_batches(text):
                summary.add_csv(batch)
        else:
            for row, raw in enumerate(_json_lines_rows(text), start=1):
                summary.add(row, raw)
    except UnicodeDecodeError as error:
        raise UnparsableUploadError(
            f"the file is not UTF-8 text (an invalid byte after row {summary.total_rows})"
        ) from error
    except csv.Error as error:
        # The csv module's messages name limits and delimiters, never a field's content.
        raise UnparsableUploadError(
            f"the CSV file is malformed after row {summary.total_rows}: {error}"
        ) from error
    return summary
