"""CSV import as plain code: create or update contacts in batches from rows checked elsewhere.

Nothing here knows Nameko or HTTP: the service's `/import` route and the benchmark both drive
`import_csv(session, stream, ...)`. The body is read incrementally (never held whole); its rows are
read and checked by `contacts.rows` (in a thread, or in the `contacts.checker` process for a large
file), and each batch commits with its outbox events, so memory stays flat however long the file is.
"""

import contextlib
import io
from dataclasses import dataclass, field

from marshmallow.fields import DateTime
from sqlalchemy import cast, func, select, text
from sqlalchemy.dialects.postgresql import JSONB

from contacts.access import OWNER_REFUSED, refused_owners
from contacts.ahead import read_ahead
from contacts.bulk import insert_rows, without_nagle
from contacts.checker import checked_in_child
from contacts.models import Company, Contact, ContactKey, ContactTag, OutboxEvent, contact_keys
from contacts.normalise import search_text
from contacts.rows import CONTACT_SCHEMA, LISTS, check_header, checked_batches, open_csv, read_up_to
from contacts.schemas import CompanySchema, ContactSchema
from crm_kernel.db import new_id, utcnow
from crm_kernel.scope import Scope, visible

BATCH = 4000  # rows a transaction: 4,000 imported 1.13 times as fast as 1,000 (BENCHMARKS.md), in 60 MB more
ANALYZE_AT = 10_000  # rows written when the import first refreshes PostgreSQL's statistics; then at each doubling
IN_PROCESS_BYTES = 256 * 1024  # a smaller file is checked here: starting a checker process costs more
DUMPED_TIMES = {name for name, f in CONTACT_SCHEMA.dump_fields.items() if isinstance(f, DateTime)}


@dataclass
class ImportReport:
    rows: int = 0  # data rows read: each ends created, updated, skipped or failed
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)
    max_errors: int = 1000  # failing rows listed in full; beyond that only counted

    def fail(self, line: int, errors: dict) -> None:
        if len(self.errors) < self.max_errors:
            self.errors.append({"line": line, "errors": errors})

    def accounted(self) -> bool:
        return self.created + self.updated + self.skipped + self.failed == self.rows

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "errors": self.errors,
        }


def import_csv(
    session, stream, *, outbox, definitions: dict, defaults: dict, scope: Scope | None = None, batch: int = BATCH
) -> dict:
    """Import the CSV `stream`; the report counts created, updated, skipped (duplicates) and failed rows.

    A row matches an existing live contact (or one earlier in the file) by a normalised e-mail or
    phone: the row then updates it (lists are joined, given values replace), or is skipped as a
    duplicate when it brings nothing new. So importing the same file twice creates nothing twice.
    Rows are checked a batch ahead while the database writes the last one: in a thread of this process
    for a file under 256 KiB, in a child process for a larger one (`contacts.checker`), so that
    checking and writing use two CPUs. With the caller's `scope`, a row placed in a department they
    may not put records in fails, and rows match only contacts they may see, exactly as through the API.
    """
    prefix = read_up_to(stream, IN_PROCESS_BYTES)
    if len(prefix) < IN_PROCESS_BYTES:  # the whole file
        reader, header = open_csv(io.BytesIO(prefix))
        check_header(header, definitions)
        batches = read_ahead(checked_batches(reader, header, definitions, defaults, scope, batch))
    else:
        batches = checked_in_child(prefix, stream, definitions, defaults, scope, batch)
    report = ImportReport()
    companies = CompanyCache(session, outbox, defaults)
    postgresql = session.get_bind().dialect.name == "postgresql"
    next_analyze = ANALYZE_AT
    with contextlib.closing(batches):  # a write that fails stops the checker thread or process at once
        for rows, failures in batches:
            report.rows += len(rows) + len(failures)
            apply_batch(session, rows, failures, outbox, companies, report, scope)
            if postgresql and report.created + report.updated >= next_analyze:
                # The planner's row counts must grow with the table, or the batch's key lookup turns
                # from an index probe into a scan of every key (quadratic over a large import).
                # Autovacuum analyzes too late for that, or not at all when it is off.
                session.execute(text("ANALYZE contacts (id, deleted_at), contact_keys"))
                session.commit()
                next_analyze *= 2
    if report.created and postgresql:
        # New rows wait in the GIN index's pending list (up to 4 MB), which every search reads through
        # until (auto)vacuum merges it: merge it now, so searches after an import do not pay for it.
        session.execute(text("SELECT gin_clean_pending_list('ix_contacts_search_text_trgm'::regclass)"))
        session.commit()
    return report.as_dict()


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
