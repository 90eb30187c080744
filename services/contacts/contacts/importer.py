"""CSV import as plain code: create or update contacts in batches from rows checked elsewhere.

Nothing here knows Nameko or HTTP: the service's `/import` route and the benchmark both drive
`import_csv(session, stream, ...)`. The body is read incrementally (never held whole); its rows are
read and checked by `contacts.rows` (in an OS thread, or in the `contacts.checker` process for a
large file), and each batch commits with its outbox events, the import's record of what it changed
and its progress, so memory stays flat however long the file is and the import can be undone.
"""

import contextlib
import copy
import io
from dataclasses import dataclass, field

from marshmallow.fields import DateTime
from sqlalchemy import cast, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import SQLAlchemyError

from contacts.access import OWNER_REFUSED, refused_owners
from contacts.ahead import in_os_thread, read_ahead
from contacts.bulk import insert_rows, without_nagle
from contacts.checker import checked_in_child
from contacts.models import (
    Company,
    Contact,
    ContactImport,
    ContactImportChange,
    ContactKey,
    ContactTag,
    OutboxEvent,
    contact_keys,
)
from contacts.normalise import search_text
from contacts.rows import CONTACT_SCHEMA, LISTS, ROW_ID, check_header, checked_batches, open_csv, read_up_to
from contacts.schemas import CompanySchema, ContactSchema
from crm_kernel.context import ACTOR
from crm_kernel.db import new_id, utcnow
from crm_kernel.errors import CrmError, PayloadTooLarge, ServiceUnavailable, ValidationFailed, is_transient_failure
from crm_kernel.scope import Scope, visible

BATCH = 4000  # rows a transaction: 4,000 imported 1.13 times as fast as 1,000 (BENCHMARKS.md), in 60 MB more
ANALYZE_AT = 10_000  # rows written when the import first refreshes PostgreSQL's statistics; then at each doubling
IN_PROCESS_BYTES = 256 * 1024  # a smaller file is checked here: starting a checker process costs more
MODES = ("upsert", "create", "update")
MATCH_BY = ("email", "id")
RESEMBLES = 10  # ids of the contacts a new one resembles, listed at most
LISTED = 1000  # failing rows, possible duplicates and skipped rows listed in full; beyond that only counted
DUMPED_TIMES = {name for name, f in CONTACT_SCHEMA.dump_fields.items() if isinstance(f, DateTime)}


@dataclass(frozen=True)
class ImportRules:
    """How rows meet existing contacts.

    `mode`: upsert (default) creates or updates, create never updates, update never creates.
    `match_by`: email (default): a row updates the contact its `id` cell names, else the one that has
    one of its e-mails; id: only the contact its `id` cell names. A phone or a name alone never
    matches: such a row is created and listed as a possible duplicate of the contacts it resembles.
    """

    mode: str = "upsert"
    match_by: str = "email"
    max_rows: int = 2_000_000


@dataclass
class ImportReport:
    import_id: str = ""
    rows: int = 0  # data rows read: each ends created, updated, skipped or failed
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)
    possible_duplicates: list = field(default_factory=list)
    possible_duplicate_rows: int = 0
    skipped_rows: list = field(default_factory=list)

    def fail(self, line: int, errors: dict) -> None:
        self.failed += 1
        if len(self.errors) < LISTED:
            self.errors.append({"line": line, "errors": errors})

    def skip(self, line: int, reason: str, contact_id: str | None = None) -> None:
        self.skipped += 1
        if len(self.skipped_rows) < LISTED:
            self.skipped_rows.append({"line": line, "reason": reason, "id": contact_id})

    def resembles(self, line: int, contact_id: str, others: list[str]) -> None:
        self.possible_duplicate_rows += 1
        if len(self.possible_duplicates) < LISTED:
            entry = {"line": line, "id": contact_id, "resembles": others[:RESEMBLES]}
            if len(others) > RESEMBLES:
                entry["resembles_more"] = len(others) - RESEMBLES  # a switchboard number shared by hundreds
            self.possible_duplicates.append(entry)

    def accounted(self) -> bool:
        return self.created + self.updated + self.skipped + self.failed == self.rows

    def as_dict(self) -> dict:
        return {
            "import_id": self.import_id,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "errors": self.errors,
            "possible_duplicates": self.possible_duplicates,
            "possible_duplicate_rows": self.possible_duplicate_rows,
            "skipped_rows": self.skipped_rows,
        }

    def progress(self) -> str:
        return (
            f"{self.rows} rows read: {self.created} created, {self.updated} updated, "
            f"{self.skipped} skipped, {self.failed} failed"
        )


def import_csv(
    session,
    stream,
    *,
    outbox,
    definitions: dict,
    defaults: dict,
    scope: Scope | None = None,
    rules: ImportRules = ImportRules(),
    batch: int = BATCH,
) -> dict:
    """Import the CSV `stream`; the report accounts for every data row: created, updated, skipped or failed.

    Rows match existing live contacts by `rules` (by id or normalised e-mail, never by phone alone);
    a match is updated (given values replace, lists are joined, empty cells change nothing) or skipped
    when the row brings nothing new, so importing the same file twice creates nothing twice. Rows are
    checked a batch ahead while the database writes the last one: in an OS thread of this process for
    a file under 256 KiB, in a child process for a larger one (`contacts.checker`), so that checking
    neither stalls the service nor holds up the writes. With the caller's `scope`, a row placed in a
    department they may not put records in fails, and rows match only contacts they may see.

    The import is recorded (`ContactImport`) with its report and every change it made, committed with
    each batch. An import that stops part way keeps its committed batches and raises with how far it
    got; one that exceeds a limit (`PayloadTooLarge`) is undone first, so it changes nothing.
    """
    record = start_import(session, outbox, defaults, rules)
    report = ImportReport(import_id=record.id)
    try:
        _import_rows(session, stream, record, report, outbox, definitions, defaults, scope, rules, batch)
    except (PayloadTooLarge, ValidationFailed) as exc:
        session.rollback()
        if isinstance(exc, ValidationFailed) and not report.rows:
            forget_import(session, record.id)  # a file refused as a whole changes nothing, not even the list
            raise
        # Over a limit, or broken part way (an unclosed quote): refused as a whole, so undone.
        from contacts.imports import revert  # late: undoing is the imports module's, which imports this one

        try:
            revert(session, session.get(ContactImport, record.id), outbox, Scope.system())  # its own rows, all of them
        finally:
            finish_import(session, record.id, report, "refused", exc.detail)
        exc.detail = f"{exc.detail} (import {record.id} refused after {report.progress()}; what it wrote is undone)"
        raise
    except BaseException as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, CrmError) else f"{type(exc).__name__}: {exc}"
        finish_import(session, record.id, report, "failed", detail)
        stopped = f"import {record.id} stopped after {report.progress()}"
        if isinstance(exc, CrmError):
            exc.detail = f"{exc.detail} ({stopped})"
        elif isinstance(exc, SQLAlchemyError) and is_transient_failure(
            [c.__name__ for c in type(exc).__mro__], str(exc)
        ):
            raise ServiceUnavailable(f"the database is unavailable; {stopped}; send the file again") from exc
        raise
    if not report.accounted():
        finish_import(session, record.id, report, "failed", "rows not accounted for")
        raise CrmError(f"import {record.id}: {report.progress()}, which does not add up; nothing more was written")
    finish_import(session, record.id, report, "completed")
    return report.as_dict()


def start_import(session, outbox, defaults: dict, rules: ImportRules) -> ContactImport:
    record = ContactImport(
        actor=outbox.context_data.get(ACTOR),
        department_id=defaults.get("department_id"),
        mode=rules.mode,
        match_by=rules.match_by,
        status="running",
        report={},
    )
    session.add(record)
    session.commit()
    return record


def forget_import(session, import_id: str) -> None:
    session.delete(session.get(ContactImport, import_id))
    session.commit()


def finish_import(session, import_id: str, report: ImportReport, status: str, problem: str | None = None) -> None:
    """Record the import's outcome; best effort after a failure (the database may be what failed)."""
    try:
        record = session.get(ContactImport, import_id)
        record.status, record.report, record.problem, record.finished_at = status, report.as_dict(), problem, utcnow()
        session.commit()
    except Exception:
        session.rollback()
        if status == "completed":
            raise


def _import_rows(session, stream, record, report, outbox, definitions, defaults, scope, rules, batch) -> None:
    prefix = read_up_to(stream, IN_PROCESS_BYTES)
    if len(prefix) < IN_PROCESS_BYTES:  # the whole file
        reader, header = open_csv(io.BytesIO(prefix))
        check_header(header, definitions)
        batches = read_ahead(in_os_thread(checked_batches(reader, header, definitions, defaults, scope, batch)))
    else:
        batches = checked_in_child(prefix, stream, definitions, defaults, scope, batch)
    companies = CompanyCache(session, outbox, defaults)
    postgresql = session.get_bind().dialect.name == "postgresql"
    next_analyze = ANALYZE_AT
    with contextlib.closing(batches):  # a write that fails stops the checker thread or process at once
        for rows, failures in batches:
            report.rows += len(rows) + len(failures)
            if report.rows > rules.max_rows:
                raise PayloadTooLarge(f"the file has more than {rules.max_rows} rows; split it")
            counted = copy.deepcopy(report)
            try:
                apply_batch(session, rows, failures, outbox, companies, report, scope, rules)
            except BaseException:
                report.__dict__.update(counted.__dict__)  # what the failed batch counted was rolled back
                raise
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
    session,
    rows: list,
    failures: list,
    outbox,
    companies: CompanyCache,
    report: ImportReport,
    scope=None,
    rules: ImportRules = ImportRules(),
) -> None:
    """Create, update, skip or fail each row of a batch, and commit them with their events, the import's
    record of each change and its progress at once."""
    without_nagle(session)
    refused = refused_owners(session, scope, {fields.get("owner_id") for _, fields, _ in rows})
    failures = failures + [(line, OWNER_REFUSED) for line, fields, _ in rows if fields.get("owner_id") in refused]
    rows = [row for row in rows if row[1].get("owner_id") not in refused]
    companies.resolve({company for _, _, company in rows if company})
    checked = []
    for line, fields, company in rows:
        if company:
            fields["company_id"] = companies.ids[company.casefold()]
        elif fields.get("company_id") and not companies.exists(fields["company_id"]):
            failures.append((line, {"company_id": ["unknown company"]}))
            continue
        checked.append((line, fields))
    known = _known_contacts(session, scope, checked)
    now = utcnow()
    new_contacts: dict[str, dict] = {}
    updates: dict[str, list] = {}
    created_by_email: dict[str, str] = {}
    created_by_phone: dict[str, list[str]] = {}
    for line, fields in checked:
        given = fields.pop("given")
        row_id = fields.pop(ROW_ID, None)
        emails = contact_keys(fields["emails"], [])
        phones = contact_keys([], fields["phones"])
        target, problem = _match(row_id, emails, known, rules)
        earlier = next((created_by_email[k] for k in emails if k in created_by_email), None)
        if problem:
            failures.append((line, problem))
        elif target is None and earlier is not None and rules.match_by == "email":
            # The same person again, new in this batch: the row applies to the contact being created.
            if _join_row(new_contacts[earlier], {n: v for n, v in fields.items() if n in given}):
                report.updated += 1
            else:
                report.skip(line, "brings nothing new to an earlier row of the file", earlier)
            created_by_email.update((k, earlier) for k in contact_keys(new_contacts[earlier]["emails"], []))
        elif target is not None and rules.mode == "create":
            report.skip(line, "matches an existing contact (mode=create)", target)
        elif target is not None:
            updates.setdefault(target, []).append((line, {n: v for n, v in fields.items() if n in given}))
        elif rules.mode == "update":
            column = "id" if rules.match_by == "id" else "emails"
            failures.append((line, {column: ["no existing contact matches this row (mode=update)"]}))
        else:
            contact = {**fields, "id": new_id(), "version": 1, "created_at": now, "updated_at": now}
            contact.update(deleted_at=None, merged_into=None)
            resembles = sorted(
                {c for k in phones for c in known["phones"].get(k, ())}
                | {c for k in phones for c in created_by_phone.get(k, ())}
                | {c for k in emails for c in known["emails"].get(k, ())}
                | {created_by_email[k] for k in emails if k in created_by_email}
            )
            if resembles:
                report.resembles(line, contact["id"], resembles)
            new_contacts[contact["id"]] = contact
            created_by_email.update((k, contact["id"]) for k in emails)
            for k in phones:
                created_by_phone.setdefault(k, []).append(contact["id"])
    new_contacts = list(new_contacts.values())
    new_keys, new_tags = [], []
    for contact in new_contacts:
        contact["search_text"] = search_text(
            contact["first_name"],
            contact["last_name"],
            contact["emails"],
            contact["phones"],
            companies.name_of(contact.get("company_id")),
        )
        new_keys += [
            {"contact_id": contact["id"], "key": k} for k in contact_keys(contact["emails"], contact["phones"])
        ]
        new_tags += [{"contact_id": contact["id"], "tag": t} for t in contact["tags"]]
    for line, errors in sorted(failures, key=lambda failure: failure[0]):
        report.fail(line, errors)
    if new_contacts:
        insert_rows(session, Contact.__table__, [{k: v for k, v in c.items() if k != "tags"} for c in new_contacts])
        insert_rows(session, ContactKey.__table__, new_keys)
        insert_rows(session, ContactTag.__table__, new_tags)
        events = outbox.event_rows(
            "contact.created", [created_entity(c) for c in new_contacts], import_id=report.import_id
        )
        insert_rows(session, OutboxEvent.__table__, [{**e, "entity_id": e["payload"]["entity"]["id"]} for e in events])
        insert_rows(
            session,
            ContactImportChange.__table__,
            [
                {"import_id": report.import_id, "contact_id": c["id"], "before": None, "version_after": 1}
                for c in new_contacts
            ],
        )
        report.created += len(new_contacts)
    if updates:
        update_matches(session, updates, outbox, companies, report)
    record = session.get(ContactImport, report.import_id)
    record.report = report.as_dict()  # progress, committed with the rows it counts
    session.commit()


def _known_contacts(session, scope, checked: list) -> dict:
    """The live contacts (that the caller may see) the batch's rows name by id, e-mail or phone."""
    emails, phones, ids = set(), set(), set()
    for _, fields in checked:
        emails.update(contact_keys(fields["emails"], []))
        phones.update(contact_keys([], fields["phones"]))
        if fields.get(ROW_ID):
            ids.add(fields[ROW_ID])
    known = {"ids": set(), "emails": {}, "phones": {}}
    if emails or phones:
        matching = (
            select(ContactKey.key, ContactKey.contact_id)
            .join(Contact)
            .where(any_key(session, ContactKey.key, emails | phones), Contact.deleted_at.is_(None))
        )
        for key, contact_id in session.execute(visible(matching, Contact, scope)):
            kind = "emails" if key.startswith("e:") else "phones"
            known[kind].setdefault(key, set()).add(contact_id)
    if ids:
        live = select(Contact.id).where(Contact.id.in_(ids), Contact.deleted_at.is_(None))
        known["ids"] = set(session.scalars(visible(live, Contact, scope)))
    return known


def _match(row_id: str | None, email_keys: list[str], known: dict, rules: ImportRules) -> tuple[str | None, dict]:
    """The contact a row updates (or None), or the errors that fail the row."""
    by_email = sorted({c for k in email_keys for c in known["emails"].get(k, ())})
    if row_id:
        if row_id not in known["ids"]:
            return None, {"id": [f"no contact {row_id} that you may change; leave id empty for a new contact"]}
        others = [c for c in by_email if c != row_id]
        if others:
            return None, {"id": [f"the row names contact {row_id}, but its e-mail belongs to contact {others[0]}"]}
        return row_id, {}
    if rules.match_by == "id" or not by_email:
        return None, {}
    if len(by_email) > 1:
        return None, {"emails": [f"more than one contact has these e-mails: {', '.join(by_email)}; merge them first"]}
    return by_email[0], {}


def _join_row(contact: dict, given: dict) -> bool:
    """Apply a row's given values to a contact not written yet, as an update would (lists joined,
    attributes merged, other values replaced); whether anything changed."""
    changed = False
    for name, value in given.items():
        if name in LISTS:
            value = list(dict.fromkeys([*contact[name], *value]))
            value = sorted(value) if name == "tags" else value
        elif name == "attributes":
            value = {**contact["attributes"], **value}
        if contact.get(name) != value:
            contact[name], changed = value, True
    return changed


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


def update_matches(session, updates: dict[str, list], outbox, companies: CompanyCache, report: ImportReport) -> None:
    """Rows that match existing contacts: the values a row gives replace, lists are joined; nothing new is a skip.

    Cells left empty, and the import's defaults (owner, department), never overwrite what is there.
    What a contact held before the import's first change to it is kept, so the import can be undone.
    """
    schema = ContactSchema()
    contacts = session.scalars(select(Contact).where(Contact.id.in_(list(updates)))).all()
    recorded = {
        change.contact_id: change
        for change in session.scalars(
            select(ContactImportChange).where(
                ContactImportChange.import_id == report.import_id, ContactImportChange.contact_id.in_(list(updates))
            )
        )
    }
    for contact in contacts:
        for line, fields in updates[contact.id]:
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
                report.skip(line, "brings nothing new", contact.id)
                continue
            contact.refresh_search_text(companies.name_of(contact.company_id))
            contact.updated_at = utcnow()
            session.flush()
            outbox.add(session, "contact.updated", schema.dump(contact), changes=changed, import_id=report.import_id)
            change = recorded.get(contact.id)
            if change is None:
                change = recorded[contact.id] = ContactImportChange(import_id=report.import_id, contact_id=contact.id)
                change.before = {}
                session.add(change)
            if change.before is not None:  # None: the import created it, and undoing deletes it
                change.before = {**{n: old for n, (old, _) in changed.items()}, **change.before}
            change.version_after = contact.version
            report.updated += 1
