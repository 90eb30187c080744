"""CSV rows as contact fields checked by the API's rules: the part of an import with no database.

`checked_batches` runs in the importing process for a small file and in a child process for a large
one (`contacts.checker`); either way a row's line number and its errors are the same.
"""

import csv
import io
import itertools
import re

from contacts.custom_fields import from_text, validate_attributes
from contacts.placement import placement_errors
from contacts.schemas import CONTACT_SCHEMA
from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from crm_kernel.scope import Scope

SNIFF_BYTES = 64 * 1024
csv.field_size_limit(4 * 1024 * 1024)  # a long note is a cell; past 4 MiB it is a quote never closed
LIST_SEPARATORS = re.compile(r"[|;,]")  # no `\s*` around it: linear on any cell (spaces are stripped after)
COLUMNS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "emails",
    "emails": "emails",
    "phone": "phones",
    "phones": "phones",
    "tags": "tags",
    "company": "company",
    "company_id": "company_id",
    "owner_id": "owner_id",
    "department_id": "department_id",
    "timezone": "timezone",
    "marketing_consent": "marketing_consent",
}
IGNORED = {"created_at", "updated_at", "merged_into"}  # what an export adds, so an export re-imports
ROW_ID = "row_id"  # the contact an `id` cell names, among a checked row's fields
# A cell a spreadsheet would run as a formula is exported behind an apostrophe (see `formula_safe`).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LISTS = ("emails", "phones", "tags")
NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, as errors="surrogateescape" reads them


def open_csv(stream) -> tuple[csv.reader, list[str]]:
    """A csv reader over the binary `stream` (UTF-8, BOM or not, `,` or `;`) and its header's columns.

    Bytes that are not UTF-8 in the first 64 KiB (or in the header) refuse the whole file; further on
    they fail only their row. 422 when there is no header.
    """
    if not isinstance(stream, io.BufferedIOBase):
        stream = io.BufferedReader(_RawReader(stream))  # a server's request stream: only `read` is sure
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    sample = text.read(SNIFF_BYTES)
    sample += text.readline()  # to the end of the line the sample cut: csv needs whole lines
    if _broken(sample):
        raise ValidationFailed("the file is not UTF-8 text", {"body": ["not UTF-8; save the CSV as UTF-8"]})
    header_line = sample.split("\n", 1)[0]
    if not header_line.strip():
        raise ValidationFailed("the CSV has no header row", {"header": ["missing; the first row names the columns"]})
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    lines = itertools.chain(io.StringIO(sample, newline=""), text)
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    header = [name.strip().lower() for name in next(reader)]
    return reader, header


class _RawReader(io.RawIOBase):
    """Any object with `read(size)` as a raw stream, for io.BufferedReader and io.TextIOWrapper."""

    def __init__(self, source):
        self.source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_up_to(stream, size: int) -> bytes:
    """The first `size` bytes of `stream`, or all of it when it is shorter (a socket returns less per read)."""
    chunks, length = [], 0
    while length < size and (chunk := stream.read(size - length)):
        chunks.append(chunk)
        length += len(chunk)
    return b"".join(chunks)


def _broken(text: str) -> bool:
    return NOT_UTF8.search(text) is not None


def check_header(header: list[str], definitions: dict) -> None:
    """Every column is known (an `attr.<key>` must be a defined custom field); `first_name` is there."""
    errors = {}
    for name in header:
        if name.startswith("attr."):
            if name[5:] not in definitions:
                errors[name] = ["unknown custom field"]
        elif name not in COLUMNS and name not in IGNORED and name != "id":
            errors[name] = [f"unknown column; known: {', '.join(sorted(COLUMNS))}, attr.<key>"]
    if "first_name" not in header:
        errors["first_name"] = ["missing column: the header must name first_name"]
    if len(set(header)) != len(header):
        errors["header"] = ["a column is named twice"]
    if errors:
        raise ValidationFailed(f"the CSV header is not usable: {', '.join(sorted(errors))}", errors)


def row_to_fields(header: list[str], row: list[str], definitions: dict) -> tuple[dict, str | None]:
    """One CSV row as contact input (for ContactSchema) and the company name it names, if any."""
    data, attributes, company = {}, {}, None
    for name, cell in zip(header, row, strict=False):
        cell = formula_unsafe(cell.strip())
        if not cell or name in IGNORED:
            continue
        if _broken(cell):
            raise ValidationFailed("not UTF-8", {name: ["not UTF-8 text"]})
        if name == "id":
            data[ROW_ID] = cell
            continue
        if name.startswith("attr."):
            attributes[name[5:]] = from_text(definitions[name[5:]], cell)
            continue
        target = COLUMNS[name]
        if target == "company":
            company = cell
        elif target in LISTS:
            data[target] = [v for v in (part.strip() for part in LIST_SEPARATORS.split(cell)) if v]
        else:
            data[target] = cell
    if len(row) > len(header):
        raise ValidationFailed("more cells than columns", {"row": [f"{len(row)} cells for {len(header)} columns"]})
    if attributes:
        data["attributes"] = attributes
    return data, company


def checked_row(header: list[str], row: list[str], definitions: dict, defaults: dict, scope: Scope | None):
    """The row as loaded contact fields (with the columns it gave) and its company name, checked by the
    API's rules; ValidationFailed naming each bad field."""
    data, company = row_to_fields(header, row, definitions)
    row_id = data.pop(ROW_ID, None)
    if row_id is not None and not (len(row_id) <= 32 and row_id.isalnum() and row_id.isascii()):
        raise ValidationFailed("not a contact id", {"id": ["not a contact id; leave it empty for a new contact"]})
    fields = load(CONTACT_SCHEMA, {**defaults, **data})
    fields["attributes"] = validate_attributes(definitions, fields["attributes"], enforce_required=True)
    misplaced = placement_errors(scope, fields)
    if misplaced:
        raise ValidationFailed("department_id is not a department you may assign records to", misplaced)
    fields["given"] = set(data) | ({"company_id"} if company else set())
    fields[ROW_ID] = row_id
    return fields, company


def formula_safe(value: str) -> str:
    """`value` as a spreadsheet shows it as text: behind an apostrophe when it starts like a formula
    (OWASP's CSV injection advice), or when it is already an apostrophe before such a start, so that
    `formula_unsafe` gives back exactly `value`."""
    return "'" + value if value.lstrip("'").startswith(FORMULA_START) else value


def formula_unsafe(cell: str) -> str:
    """What `formula_safe` wrote: one apostrophe fewer before a formula's start."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_START) else cell


def checked_batches(reader, header: list[str], definitions: dict, defaults: dict, scope: Scope | None, batch: int):
    """Batches of (rows as loaded contact fields, failures as (line, errors)), in file order.

    Only the wire format and custom fields are checked here, with no database: companies are
    resolved when the batch is written.
    """
    rows, failures, line = [], [], 1
    for row in _rows_of(reader):
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            fields, company = checked_row(header, row, definitions, defaults, scope)
        except ValidationFailed as exc:
            failures.append((start, exc.errors))
        else:
            rows.append((start, fields, company))
        if len(rows) + len(failures) >= batch:
            yield rows, failures
            rows, failures = [], []
    if rows or failures:
        yield rows, failures


def _rows_of(reader):
    """The reader's rows; a file `csv` cannot read on (a quote never closed) is refused naming where."""
    line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValidationFailed(
                f"the CSV cannot be read after line {line}: {exc}",
                {"body": [f"from line {line + 1}: {exc} (a quote opened and never closed?)"]},
            ) from None
        line = reader.line_num
        yield row
