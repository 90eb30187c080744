"""CSV import as plain code: read a stream row by row, create or update contacts in batches.

Nothing here knows Nameko or HTTP: the service's `/import` route and the benchmark both drive
`import_csv(session, stream, ...)`. The body is read incrementally (never held whole); each batch of
rows commits with its outbox events, so memory stays flat however long the file is.
"""

import csv
import io
import itertools
import re
from dataclasses import dataclass, field

from marshmallow.fields import DateTime
from sqlalchemy import cast, func, select, text
from sqlalchemy.dialects.postgresql import JSONB

from contacts.access import OWNER_REFUSED, placement_errors, refused_owners
from contacts.ahead import read_ahead
from contacts.bulk import insert_rows, without_nagle
from contacts.fields import from_text, validate_attributes
from contacts.models import Company, Contact, ContactKey, ContactTag, OutboxEvent, contact_keys
from contacts.normalise import search_text
from contacts.schemas import CompanySchema, ContactSchema
from crm_kernel.db import new_id, utcnow
from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from crm_kernel.scope import Scope, visible

BATCH = 1000
SNIFF_BYTES = 64 * 1024
LIST_SPLIT = re.compile(r"\s*[|;,]\s*")
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
IGNORED = {"id", "created_at", "updated_at", "merged_into"}  # what an export adds, so an export re-imports
LISTS = ("emails", "phones", "tags")
CONTACT_SCHEMA = ContactSchema()  # one instance: building a schema costs more than loading a row
DUMPED_TIMES = {name for name, f in CONTACT_SCHEMA.dump_fields.items() if isinstance(f, DateTime)}
NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, as errors="surrogateescape" reads them


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)
    max_errors: int = 1000  # failing rows listed in full; beyond that only counted

    def fail(self, line: int, errors: dict) -> None:
        if len(self.errors) < self.max_errors:
            self.errors.append({"line": line, "errors": errors})

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "errors": self.errors,
        }


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


def _broken(text: str) -> bool:
    return NOT_UTF8.search(text) is not None


def check_header(header: list[str], definitions: dict) -> None:
    """Every column is known (an `attr.<key>` must be a defined custom field); `first_name` is there."""
    errors = {}
    for name in header:
        if name.startswith("attr."):
            if name[5:] not in definitions:
                errors[name] = ["unknown custom field"]
        elif name not in COLUMNS and name not in IGNORED:
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
        cell = cell.strip()
        if not cell or name in IGNORED:
            continue
        if _broken(cell):
            raise ValidationFailed("not UTF-8", {name: ["not UTF-8 text"]})
        if name.startswith("attr."):
            attributes[name[5:]] = from_text(definitions[name[5:]], cell)
            continue
        target = COLUMNS[name]
        if target == "company":
            company = cell
        elif target in LISTS:
            data[target] = [v for v in LIST_SPLIT.split(cell) if v]
        else:
            data[target] = cell
    if len(row) > len(header):
        raise ValidationFailed("more cells than columns", {"row": [f"{len(row)} cells for {len(header)} columns"]})
    if attributes:
        data["attributes"] = attributes
    return data, company


def import_csv(
    session, stream, *, outbox, definitions: dict, defaults: dict, scope: Scope | None = None, batch: int = BATCH
) -> dict:
    """Import the CSV `stream`; the report counts created, updated, skipped (duplicates) and failed rows.

    A row matches an existing live contact (or one earlier in the file) by a normalised e-mail or
    phone: the row then updates it (lists are joined, given values replace), or is skipped as a
    duplicate when it brings nothing new. So importing the same file twice creates nothing twice.
    Rows are read and validated a batch ahead (`read_ahead`) while the database writes the last one.
    With the caller's `scope`, a row placed in a department they may not put records in fails, and
    rows match only contacts they may see, exactly as through the API.
    """
    reader, header = open_csv(stream)
    check_header(header, definitions)
    report = ImportReport()
    companies = CompanyCache(session, outbox, defaults)
    for rows, failures in read_ahead(checked_batches(reader, header, definitions, defaults, scope, batch)):
        apply_batch(session, rows, failures, outbox, companies, report, scope)
    if report.created and session.get_bind().dialect.name == "postgresql":
        # New rows wait in the GIN index's pending list (up to 4 MB), which every search reads through
        # until (auto)vacuum merges it: merge it now, so searches after an import do not pay for it.
        session.execute(text("SELECT gin_clean_pending_list('ix_contacts_search_text_trgm'::regclass)"))
        session.commit()
    return report.as_dict()


def checked_row(header: list[str], row: list[str], definitions: dict, defaults: dict, scope: Scope | None):
    """The row as loaded contact fields (with the columns it gave) and its company name, checked by the
    API's rules; ValidationFailed naming each bad field."""
    data, company = row_to_fields(header, row, definitions)
    fields = load(CONTACT_SCHEMA, {**defaults, **data})
    fields["attributes"] = validate_attributes(definitions, fields["attributes"], enforce_required=True)
    misplaced = placement_errors(scope, fields)
    if misplaced:
        raise ValidationFailed("department_id is not a department you may assign records to", misplaced)
    fields["given"] = set(data) | ({"company_id"} if company else set())
    return fields, company


def checked_batches(reader, header: list[str], definitions: dict, defaults: dict, scope: Scope | None, batch: int):
    """Batches of (rows as loaded contact fields, failures as (line, errors)), in file order.

    Only the wire format and custom fields are checked here, with no database: companies are
    resolved when the batch is written.
    """
    rows, failures, line = [], [], 1
    for row in reader:
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


class CompanyCache:
    """Company names of an import resolved once each; a name not known yet creates the company."""

    def __init__(self, session, outbox, defaults: dict):
        self.session, self.outbox, self.defaults = session, outbox, defaults
        self.ids: dict[str, str] = {}
        self.names: dict[str, str] = {}

    def resolve(self, names: set[str]) -> None:
        """Look up the names not seen yet at once (by lower case), and create the missing companies."""
        wanted = {}
        for name in names:
            wanted.setdefault(name.casefold(), name)
        wanted = {key: name for key, name in wanted.items() if key not in self.ids}
        if not wanted:
            return
        found = {}
        lowered = sorted({name.lower() for name in wanted.values()})
        for start in range(0, len(lowered), 500):
            stmt = select(func.lower(Company.name), Company.id, Company.name).where(
                func.lower(Company.name).in_(lowered[start : start + 500]), Company.deleted_at.is_(None)
            )
            for lower, company_id, name in self.session.execute(stmt):
                found.setdefault(lower, (company_id, name))
        created = []
        for name in wanted.values():
            if name.lower() not in found:
                company = Company(
                    name=name[:200],
                    owner_id=self.defaults.get("owner_id"),
                    department_id=self.defaults.get("department_id"),
                )
                created.append(company)
                found[name.lower()] = company
        if created:
            self.session.add_all(created)
            self.session.flush()
            for company in created:
                self.outbox.add(self.session, "company.created", CompanySchema().dump(company))
        for key, name in wanted.items():
            match = found[name.lower()]
            company_id, stored_name = (match.id, match.name) if isinstance(match, Company) else match
            self.ids[key], self.names[company_id] = company_id, stored_name

    def id_of(self, name: str) -> str:
        self.resolve({name})
        return self.ids[name.casefold()]

    def exists(self, company_id: str) -> bool:
        return self.name_of(company_id) is not None

    def name_of(self, company_id: str | None) -> str | None:
        if company_id and company_id not in self.names:
            company = self.session.get(Company, company_id)
            if company is not None and company.deleted_at is None:
                self.names[company_id] = company.name
        return self.names.get(company_id) if company_id else None


def apply_batch(
    session, rows: list, failures: list, outbox, companies: CompanyCache, report: ImportReport, scope=None
) -> None:
    """Create, update or skip each row of a batch, and commit them with their events at once."""
    without_nagle(session)
    refused = refused_owners(session, scope, {fields.get("owner_id") for _, fields, _ in rows})
    failures += [(line, OWNER_REFUSED) for line, fields, _ in rows if fields.get("owner_id") in refused]
    rows = [row for row in rows if row[1].get("owner_id") not in refused]
    companies.resolve({company for _, _, company in rows if company})
    checked = []
    for line, fields, company in rows:
        if company:
            fields["company_id"] = companies.ids[company.casefold()]
        elif fields.get("company_id") and not companies.exists(fields["company_id"]):
            failures.append((line, {"company_id": ["unknown company"]}))
            continue
        checked.append(fields)
    for line, errors in sorted(failures, key=lambda failure: failure[0]):
        report.failed += 1
        report.fail(line, errors)
    keys = {key for fields in checked for key in contact_keys(fields["emails"], fields["phones"])}
    owners: dict[str, str] = {}
    if keys:
        matching = (
            select(ContactKey.key, ContactKey.contact_id)
            .join(Contact)
            .where(any_key(session, ContactKey.key, keys), Contact.deleted_at.is_(None))
        )
        found = session.execute(visible(matching, Contact, scope)).all()
        owners = {key: contact_id for key, contact_id in found}
    now = utcnow()
    new_contacts, new_keys, new_tags, updates = [], [], [], {}
    created_by_key: dict[str, dict] = {}
    for fields in checked:
        given = fields.pop("given")
        row_keys = contact_keys(fields["emails"], fields["phones"])
        match = next((owners[k] for k in row_keys if k in owners), None)
        earlier = next((created_by_key[k] for k in row_keys if k in created_by_key), None)
        if match is not None:
            updates.setdefault(match, []).append({n: v for n, v in fields.items() if n in given})
        elif earlier is not None:
            report.skipped += 1  # the same person twice in one batch: the first row wins
        else:
            contact = {
                **fields,
                "id": new_id(),
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
                "merged_into": None,
            }
            contact["search_text"] = search_text(
                contact["first_name"],
                contact["last_name"],
                contact["emails"],
                contact["phones"],
                companies.name_of(contact.get("company_id")),
            )
            new_contacts.append(contact)
            new_keys += [{"contact_id": contact["id"], "key": k} for k in row_keys]
            new_tags += [{"contact_id": contact["id"], "tag": t} for t in contact["tags"]]
            created_by_key.update((k, contact) for k in row_keys)
    if new_contacts:
        insert_rows(session, Contact.__table__, [{k: v for k, v in c.items() if k != "tags"} for c in new_contacts])
        insert_rows(session, ContactKey.__table__, new_keys)
        insert_rows(session, ContactTag.__table__, new_tags)
        events = outbox.event_rows("contact.created", [created_entity(c) for c in new_contacts])
        insert_rows(session, OutboxEvent.__table__, [{**e, "entity_id": e["payload"]["entity"]["id"]} for e in events])
        report.created += len(new_contacts)
    if updates:
        update_matches(session, updates, outbox, companies, report)
    session.commit()


def any_key(session, column, values: set[str]):
    """`column IN values`; on PostgreSQL the values travel as one JSON array.

    pg8000 rewrites each separate parameter in Python, and escapes an array parameter character by
    character (50 us a row of an import); `json.dumps` escapes in C.
    """
    if session.get_bind().dialect.name == "postgresql":
        listed = func.jsonb_array_elements_text(cast(sorted(values), JSONB))  # json.dumps by SQLAlchemy
        return column.in_(select(listed.column_valued()))
    return column.in_(values)


def created_entity(contact: dict) -> dict:
    """A contact built by `apply_batch` as `ContactSchema().dump` gives it, for its `contact.created` event.

    Its values are already loaded and normalised, so only the times need formatting; dumping through
    marshmallow again cost a tenth of the import's time. A unit test holds the two equal.
    """
    return {
        name: contact[name].isoformat() if name in DUMPED_TIMES else contact[name]
        for name in CONTACT_SCHEMA.dump_fields
    }


def update_matches(session, updates: dict[str, list[dict]], outbox, companies: CompanyCache, report) -> None:
    """Rows that match existing contacts: the values a row gives replace, lists are joined; nothing new is a skip.

    Cells left empty, and the import's defaults (owner, department), never overwrite what is there.
    """
    schema = ContactSchema()
    contacts = session.scalars(select(Contact).where(Contact.id.in_(list(updates)))).all()
    for contact in contacts:
        for fields in updates[contact.id]:
            before = schema.dump(contact)
            for name, value in fields.items():
                if name in LISTS:
                    value = list(dict.fromkeys([*getattr(contact, name), *value]))
                    value = sorted(value) if name == "tags" else value
                elif name == "attributes":
                    value = {**contact.attributes, **value}
                setattr(contact, name, value)
            after = schema.dump(contact)
            changed = {n: [before[n], after[n]] for n in fields if n in after and before[n] != after[n]}
            if not changed:
                report.skipped += 1
                continue
            contact.refresh_search_text(companies.name_of(contact.company_id))
            contact.updated_at = utcnow()
            session.flush()
            outbox.add(session, "contact.updated", schema.dump(contact), changes=changed)
            report.updated += 1
