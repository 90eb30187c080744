"""One batch of an import's checked rows written: each row matched to an existing contact (by id or
e-mail), then created, updated, skipped or failed; committed with its events, the import's record of
each change and its progress (which renews the import's lease)."""

from dataclasses import dataclass, field

from sqlalchemy import cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from contacts.imports import renew_lease
from contacts.models import (
    Company,
    Contact,
    ContactImportChange,
    ContactKey,
    ContactTag,
    OutboxEvent,
    contact_keys,
)
from contacts.normalise import search_text
from contacts.placement import OWNER_REFUSED, refused_owners
from contacts.rows import LISTS, ROW_ID
from contacts.schemas import CompanySchema, ContactSchema, created_entity
from crm_kernel.bulk import insert_rows
from crm_kernel.db import new_id, utcnow
from crm_kernel.errors import ServiceUnavailable
from crm_kernel.scope import visible

RESEMBLES = 10  # ids of the contacts a new one resembles, listed at most
LISTED = 1000  # failing rows, possible duplicates and skipped rows listed in full; beyond that only counted


class LeaseLost(ServiceUnavailable):
    """The import's lease passed before this batch (a sweep took its process for gone): it writes no more."""


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
    if not renew_lease(session, report.import_id, report.as_dict()):  # progress, committed with the rows it counts
        session.rollback()
        raise LeaseLost(f"import {report.import_id} was taken as interrupted (its lease passed)")
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
