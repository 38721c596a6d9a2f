"""Row validation, stream parsing and batch summaries."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from pipeline.errors import UnparsableUploadError
from pipeline.orders import MAX_CURRENCIES, OrderRow, summarize
from pipeline.processing import rejected_share_exceeds
from pydantic import ValidationError

VALID: dict[str, Any] = {
    "order_id": "ORD-1",
    "customer_id": "C-1",
    "sku": "SKU-1",
    "quantity": "3",
    "unit_price": "12.50",
    "currency": "EUR",
}
HEADER = "order_id,customer_id,sku,quantity,unit_price,currency\n"


def _text(data: str | bytes) -> io.TextIOWrapper:
    raw = data.encode() if isinstance(data, str) else data
    return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")


def test_given_valid_row_when_validated_then_typed_and_amount_is_exact() -> None:
    order = OrderRow.model_validate(VALID)

    assert order.quantity == 3
    assert order.unit_price == Decimal("12.50")
    assert order.amount == Decimal("37.50")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("order_id", "", "at least 1 character"),
        ("order_id", "   ", "at least 1 character"),
        ("customer_id", None, "valid string"),
        ("quantity", "0", "greater than 0"),
        ("quantity", "-2", "greater than 0"),
        ("quantity", "1.5", "valid integer"),
        ("quantity", True, "boolean"),
        ("unit_price", "-0.01", "greater than or equal to 0"),
        ("unit_price", "12.345", "2 decimal places"),
        ("unit_price", "NaN", "finite"),
        ("unit_price", "abc", "decimal"),
        ("currency", "eur", "pattern"),
        ("currency", "EURO", "pattern"),
    ],
)
def test_given_invalid_field_when_validated_then_rejected_with_reason(
    field: str, value: Any, reason: str
) -> None:
    # Given
    values = dict(VALID, **{field: value})

    # When / Then
    with pytest.raises(ValidationError, match=reason):
        OrderRow.model_validate(values)


def test_given_csv_with_some_invalid_rows_when_summarized_then_counts_totals_and_samples() -> None:
    # Given
    data = HEADER + (
        "A1,C1,S1,2,10.00,EUR\n"
        "A2,C1,S1,0,10.00,EUR\n"  # quantity 0
        "A3,C2,S2,1,0.10,USD\n"
        "A4,C2,S2,1,0.20,USD\n"
        "A5,C3,S3,1,1.00,usd\n"  # currency lowercase
    )

    # When
    summary = summarize(_text(data), "csv", max_samples=5)

    # Then
    assert (summary.total_rows, summary.valid_rows, summary.rejected_rows) == (5, 3, 2)
    assert summary.totals == {"EUR": Decimal("20.00"), "USD": Decimal("0.30")}  # exact, no float drift
    assert [(s.row, s.line) for s in summary.rejected_samples] == [(2, 3), (5, 6)]
    assert summary.rejected_samples[0].reason == "quantity: Input should be greater than 0"
    # ... and a sample holds where and why, never the row's values
    assert set(summary.rejected_samples[0].model_dump()) == {"row", "line", "reason"}


def test_given_many_invalid_rows_when_summarized_then_samples_are_capped() -> None:
    data = HEADER + "".join(f"A{i},C,S,0,1.00,EUR\n" for i in range(10))

    summary = summarize(_text(data), "csv", max_samples=3)

    assert summary.rejected_rows == 10
    assert [sample.row for sample in summary.rejected_samples] == [1, 2, 3]


def test_given_csv_with_quoted_multiline_field_then_line_numbers_follow_the_file() -> None:
    # Given: row 1 spans lines 2-3
    data = HEADER + 'A1,C1,"S1\nwrapped",1,1.00,EUR\nA2,C1,S1,0,1.00,EUR\n'

    # When
    summary = summarize(_text(data), "csv", max_samples=5)

    # Then
    assert [(s.row, s.line) for s in summary.rejected_samples] == [(2, 4)]


def test_given_csv_with_bom_extra_columns_and_padded_header_then_read() -> None:
    # Given: an Excel export (byte-order mark), a column we do not know, spaces in the header
    data = "\ufefforder_id, customer_id,sku,quantity,unit_price,currency,channel\nA1,C1,S1,1,2.50,GBP,web\n"

    # When
    summary = summarize(_text(data), "csv", max_samples=5)

    # Then
    assert summary.valid_rows == 1
    assert summary.totals == {"GBP": Decimal("2.50")}


def test_given_csv_row_with_surplus_fields_then_row_rejected() -> None:
    summary = summarize(_text(HEADER + "A1,C1,S1,1,2.50,GBP,extra\n"), "csv", max_samples=5)

    assert summary.rejected_rows == 1
    assert "more field(s) than the header" in summary.rejected_samples[0].reason


def test_given_json_lines_when_summarized_then_numbers_are_exact_and_blank_lines_skipped() -> None:
    # Given: JSON numbers (0.1 is not exact as a float) and a blank line
    common = '"customer_id": "C", "sku": "S", "currency": "EUR"'
    data = (
        f'{{"order_id": "A1", {common}, "quantity": 3, "unit_price": 0.1}}\n'
        "\n"
        f'{{"order_id": "A2", {common}, "quantity": 1, "unit_price": 0.125}}\n'
    )

    # When
    summary = summarize(_text(data), "jsonl", max_samples=5)

    # Then
    assert summary.totals == {"EUR": Decimal("0.3")}
    assert [(s.row, s.line) for s in summary.rejected_samples] == [(2, 3)]
    assert "2 decimal places" in summary.rejected_samples[0].reason


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("csv", "", "no header"),
        (
            "csv",
            "order_id,customer_id,sku\nA1,C1,S1\n",
            "lacks required column(s) quantity, unit_price, currency",
        ),
        ("csv", HEADER.encode() + b"A1,C1,S\xe91,1,1.00,EUR\n", "not UTF-8"),
        ("csv", HEADER + 'A1,"C1,S1,1,1.00,EUR\nA2,C1,S1,1,1.00,EUR\n', "malformed from line 2"),
        ("csv", HEADER + 'A1,C1,S1,1,1.00,EUR\nA2,"C1,S1,1,1.00,EUR\n', "malformed from line 3"),
    ],
)
def test_given_unparsable_file_when_summarized_then_unparsable_error(
    fmt: str, data: str | bytes, message: str
) -> None:
    with pytest.raises(UnparsableUploadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        summarize(_text(data), fmt, max_samples=5)


def test_given_csv_without_header_then_the_error_names_columns_not_the_first_row() -> None:
    # Given: a file whose first line is an order, not a header
    with pytest.raises(UnparsableUploadError) as raised:
        summarize(_text("ORD-7,alice@example.com,SKU-1,1,9.99,EUR\n"), "csv", max_samples=5)

    # Then
    assert "lacks required column(s) order_id, customer_id, sku" in str(raised.value)
    assert "alice@example.com" not in str(raised.value)
    assert "ORD-7" not in str(raised.value)


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('A2,"C1"x,S1,1,1.00,EUR', "row: malformed CSV (',' expected after '\"')"),
        (
            "A2,C1," + "S" * 140_000 + ",1,1.00,EUR",
            "row: malformed CSV (field larger than field limit (131072))",
        ),
    ],
    ids=["stray-quote", "field-over-the-csv-limit"],
)
def test_given_csv_line_breaking_the_rules_then_only_that_row_is_rejected(bad_line: str, reason: str) -> None:
    # Given
    data = HEADER + "A1,C1,S1,2,1.50,EUR\n" + bad_line + "\n" + "A3,C1,S1,2,1.50,EUR\n"

    # When
    summary = summarize(_text(data), "csv", max_samples=5)

    # Then
    assert (summary.total_rows, summary.valid_rows, summary.rejected_rows) == (3, 2, 1)
    (sample,) = summary.rejected_samples
    assert (sample.row, sample.line, sample.reason) == (2, 3, reason)


GOOD_LINE = (
    '{"order_id": "A1", "customer_id": "C", "sku": "S", "quantity": 2, "unit_price": 1.50, "currency": "EUR"}'
)


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"order_id": "A2"', "row: not valid JSON (Expecting ',' delimiter at character 18)"),
        ("[1, 2]", "row: a JSON list, not an object"),
        ('{"order_id": "A2", "quantity": ' + "9" * 5000 + "}", "row: a number with too many digits"),
        ("[" * 100_000 + "]" * 100_000, "row: longer than 65536 characters"),
        ("[" * 30_000 + "]" * 30_000, "row: JSON nested too deeply"),
        ('{"order_id": "' + "x" * 200_000 + '"}', "row: longer than 65536 characters"),
    ],
    ids=["broken", "not-an-object", "huge-integer", "very-long-line", "deep-nesting", "huge-value"],
)
def test_given_json_line_that_cannot_be_read_then_only_that_row_is_rejected(
    bad_line: str, reason: str
) -> None:
    # Given: good rows around one unreadable line
    data = f"{GOOD_LINE}\n{bad_line}\n{GOOD_LINE}\n"

    # When
    summary = summarize(_text(data), "jsonl", max_samples=5)

    # Then
    assert (summary.total_rows, summary.valid_rows, summary.rejected_rows) == (3, 2, 1)
    assert summary.totals == {"EUR": Decimal("6.00")}
    (sample,) = summary.rejected_samples
    assert (sample.row, sample.line, sample.reason) == (2, 2, reason)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("unit_price", "1E+999999999", "no more than 12 digits"),
        ("unit_price", "1E+200", "no more than 12 digits"),
        ("unit_price", "1E-999999999", "more than 2 decimal places"),
        ("unit_price", "10000000000.00", "no more than 10 digits before the decimal point"),
        ("quantity", "9" * 5000, "exceeded maximum size"),
        ("quantity", "1000001", "less than or equal to 1000000"),
        ("order_id", "x" * 120_000, "at most 128 characters"),
    ],
)
def test_given_field_out_of_bounds_when_validated_then_rejected(field: str, value: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        OrderRow.model_validate(dict(VALID, **{field: value}))


def test_given_zero_with_a_huge_exponent_then_stored_as_cents() -> None:
    # 0E-1000000 is zero, but DynamoDB cannot store that exponent
    order = OrderRow.model_validate(dict(VALID, unit_price="0E-1000000"))

    assert order.unit_price.as_tuple().exponent == -2


def test_given_more_currencies_than_the_bound_then_the_rows_beyond_are_rejected() -> None:
    from pipeline.orders import MAX_CURRENCIES

    codes = [f"{a}{b}{c}" for a in "ABCDEFGHIJ" for b in "ABCDEFGHIJ" for c in "ABC"][: MAX_CURRENCIES + 2]
    data = HEADER + "".join(f"A{i},C,S,1,1.00,{code}\n" for i, code in enumerate(codes))

    summary = summarize(_text(data), "csv", max_samples=5)

    assert len(summary.totals) == MAX_CURRENCIES
    assert summary.rejected_rows == 2
    assert (
        summary.rejected_samples[0].reason == f"currency: more than {MAX_CURRENCIES} currencies in one batch"
    )


@pytest.mark.parametrize(
    ("rejected", "total", "threshold", "exceeds"),
    [
        (1, 5, 0.2, False),  # exactly at the threshold passes
        (2, 10, 0.2, False),
        (21, 100, 0.2, True),
        (201, 1000, 0.2, True),
        (0, 1, 0.0, False),
        (1, 1000, 0.0, True),
        (10, 10, 1.0, False),
    ],
)
def test_given_rejected_share_when_compared_then_only_above_threshold_exceeds(
    rejected: int, total: int, threshold: float, exceeds: bool
) -> None:
    assert rejected_share_exceeds(rejected, total, threshold) is exceeds


# CSV rows are validated a batch at a time; OrderRow decides every row the batch
# validator does not accept. These hold the two to the same outcome.
_TRICKY_CSV_VALUES = (
    [
        ("unit_price", value)
        for value in [
            "12.5",
            "5",
            "0",
            "0.00",
            "9999999999.99",
            "10000000000",
            "10000000000.00",
            " 5",
            "5 ",
            "1E2",
            "+5",
            "-0",
            "-0.01",
            "0E-1000000",
            "1E-999999999",
            "05.00",
            "1_000",
            "1.234",
            "1.",
            ".5",
            "abc",
            "",
            "NaN",
            "Infinity",
            "\uff11\uff12",  # full-width digits: Decimal reads them
        ]
    ]
    + [
        ("quantity", value)
        for value in ["3", " 3", "+3", "03", "1_0", "1000000", "1000001", "1.0", "0", "", "\uff13"]
    ]
    + [("currency", value) for value in [" EUR ", "eur", "EURO", ""]]
    + [("order_id", value) for value in [" A1 ", "", "   ", "x" * 128, "x" * 129]]
)


@pytest.mark.parametrize(("field", "value"), _TRICKY_CSV_VALUES)
def test_given_csv_value_when_summarized_then_the_outcome_is_order_rows(field: str, value: str) -> None:
    # Given: one row whose other fields are valid
    values = dict(VALID, **{field: value})
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([list(values), list(values.values())])

    # When
    summary = summarize(_text(out.getvalue()), "csv", max_samples=5)

    # Then: what OrderRow says of the same values, to the amount's exponent and the reason
    try:
        order = OrderRow.model_validate(values)
    except ValidationError:
        assert (summary.valid_rows, summary.rejected_rows) == (0, 1)
        reference = summarize(_text(json.dumps(values) + "\n"), "jsonl", max_samples=5)
        assert summary.rejected_samples[0].reason == reference.rejected_samples[0].reason
    else:
        assert (summary.valid_rows, summary.rejected_rows) == (1, 0)
        (total,) = summary.totals.values()
        assert (total, total.as_tuple().exponent) == (order.amount, order.amount.as_tuple().exponent)


def test_given_more_rows_than_a_batch_then_rows_lines_and_samples_follow_the_file() -> None:
    from pipeline.orders import CSV_BATCH_ROWS

    # Given: bad rows on either side of the batch boundary, blank lines and a short row
    rows = [f"A{n},C,S,1,1.00,EUR" for n in range(1, CSV_BATCH_ROWS + 4)]
    for bad in (1, CSV_BATCH_ROWS, CSV_BATCH_ROWS + 1):
        rows[bad - 1] = f"A{bad},C,S,0,1.00,EUR"
    rows[CSV_BATCH_ROWS + 2] = "A-short,C,S"
    data = HEADER + "\n".join(rows[:10]) + "\n\n" + "\n".join(rows[10:]) + "\n"

    # When
    summary = summarize(_text(data), "csv", max_samples=5)

    # Then
    assert (summary.total_rows, summary.valid_rows, summary.rejected_rows) == (
        CSV_BATCH_ROWS + 3,
        CSV_BATCH_ROWS - 1,
        4,
    )
    assert [(s.row, s.line) for s in summary.rejected_samples] == [
        (1, 2),
        (CSV_BATCH_ROWS, CSV_BATCH_ROWS + 2),
        (CSV_BATCH_ROWS + 1, CSV_BATCH_ROWS + 3),
        (CSV_BATCH_ROWS + 3, CSV_BATCH_ROWS + 5),
    ]
    assert summary.rejected_samples[-1].reason.startswith("quantity: Input should be a valid integer; ")
    assert summary.totals == {"EUR": Decimal(CSV_BATCH_ROWS - 1).quantize(Decimal("0.01"))}


def test_given_an_invalid_byte_after_many_rows_then_the_error_counts_the_rows_read_before_it() -> None:
    # Given: more rows than a batch before the invalid byte
    data = (HEADER + "A1,C,S,1,1.00,EUR\n" * 3000).encode() + b"A2,C,S\xe9,1,1.00,EUR\n"
    read_before = 0
    try:
        for _ in csv.DictReader(_text(data)):
            read_before += 1
    except UnicodeDecodeError:
        pass

    # When / Then: the count csv.DictReader reaches, row by row
    with pytest.raises(UnparsableUploadError, match=rf"after row {read_before}\)"):
        summarize(_text(data), "csv", max_samples=5)


@pytest.mark.parametrize("currencies", [1, 3, 9, 250])
@pytest.mark.parametrize("prices", [["12.50", "0.05", "7.00"], ["12.5", "5", "0.05"]], ids=["cents", "plain"])
def test_given_rows_in_several_currencies_then_totals_are_order_rows_sums_in_order(
    currencies: int, prices: list[str]
) -> None:
    # Given: more rows than a batch, currencies first seen in a known order
    codes = [f"{a}{b}{c}" for a in "ZYX" for b in "ABCDEFGHIJ" for c in "ABCDEFGHIJ"][:currencies]
    rows = [
        dict(
            VALID,
            order_id=f"A{n}",
            quantity=str(1 + n % 7),
            unit_price=prices[n % 3],
            currency=codes[n % currencies],
        )
        for n in range(2500)
    ]
    data = HEADER + "".join(",".join(row.values()) + "\n" for row in rows)

    # When
    summary = summarize(_text(data), "csv", max_samples=5)

    # Then: OrderRow's amounts summed row by row, to the exponent and the order of first sight
    expected: dict[str, Decimal] = {}
    for row in rows:
        order = OrderRow.model_validate(row)
        if order.currency in expected or len(expected) < MAX_CURRENCIES:
            expected[order.currency] = expected.get(order.currency, Decimal(0)) + order.amount
    assert list(summary.totals.items()) == list(expected.items())
    assert {total.as_tuple().exponent for total in summary.totals.values()} == {-2}
    assert summary.rejected_rows == sum(1 for row in rows if row["currency"] not in expected)
