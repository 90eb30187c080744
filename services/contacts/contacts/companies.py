"""Companies: the organisations contacts work for. Plain functions over an explicit session and scope."""

from sqlalchemy import func, select
from sqlalchemy import update as core_update

from contacts.models import Company, Contact
from contacts.normalise import search_text
from contacts.placement import owner_errors, placement_errors
from contacts.schemas import COMPANY_SORTS, CompanyQuerySchema, CompanySchema
from crm_kernel import records
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope, visible


def create(db, scope: Scope | None, data: dict, *, outbox) -> dict:
    company = Company(**checked_input(db, scope, data))
    db.add(company)
    db.flush()
    dumped = CompanySchema().dump(company)
    outbox.add(db, "company.created", dumped)
    db.commit()
    return dumped


def get(db, scope: Scope | None, company_id: str) -> dict:
    return CompanySchema().dump(live(db, scope, company_id))


def update(db, scope: Scope | None, company_id: str, data: dict, *, outbox, expected_version=None) -> dict:
    company = live(db, scope, company_id, expected_version)
    fields = checked_input(db, scope, data, partial=True)
    before = CompanySchema().dump(company)
    for name, value in fields.items():
        setattr(company, name, value)
    changed = records.changes(before, CompanySchema().dump(company), fields)
    if not changed:
        return before
    company.updated_at = utcnow()
    records.flush_or_stale(db, company_id)
    if "name" in changed:
        reindex_contacts(db, company)
    dumped = CompanySchema().dump(company)
    outbox.add(db, "company.updated", dumped, changes=changed)
    db.commit()
    return dumped


def delete(db, scope: Scope | None, company_id: str, *, outbox, expected_version=None) -> None:
    """Soft delete; refused while live contacts still work there (move them first)."""
    company = live(db, scope, company_id, expected_version)
    staff = db.scalar(select(func.count()).where(Contact.company_id == company_id, Contact.deleted_at.is_(None)))
    if staff:
        raise Conflict(f"company {company_id} still has {staff} contacts; move or delete them first")
    company.deleted_at = utcnow()
    records.flush_or_stale(db, company_id)
    outbox.add(db, "company.deleted", CompanySchema().dump(company))
    db.commit()


def restore(db, scope: Scope | None, company_id: str, *, outbox) -> dict:
    company = records.visible_or_404(db, Company, company_id, scope, noun="company", live=False)
    if company.deleted_at is None:
        return CompanySchema().dump(company)
    company.deleted_at = None
    company.updated_at = utcnow()
    records.flush_or_stale(db, company_id)
    dumped = CompanySchema().dump(company)
    outbox.add(db, "company.restored", dumped)
    db.commit()
    return dumped


def listed(db, scope: Scope | None, query: dict) -> dict:
    params = load(CompanyQuerySchema(), query)
    stmt = select(Company).where(Company.deleted_at.is_(None))
    if params["q"]:
        stmt = stmt.where(Company.name.ilike(f"%{params['q']}%"))
    for name in ("owner_id", "department_id"):
        if params[name]:
            stmt = stmt.where(getattr(Company, name) == params[name])
    rows, next_cursor = keyset_page(
        db,
        visible(stmt, Company, scope),
        Company,
        limit=params["limit"],
        cursor=params["cursor"],
        sort=params["sort"],
        sortable=COMPANY_SORTS,
    )
    return {"items": CompanySchema(many=True).dump(rows), "next_cursor": next_cursor}


def live(db, scope: Scope | None, company_id: str, expected_version: int | None = None) -> Company:
    """The live company the caller may see, at `expected_version` when one is given; else 404 (or 412)."""
    return records.visible_or_404(db, Company, company_id, scope, noun="company", expected_version=expected_version)


def visible_to(db, scope: Scope | None, company_id: str) -> bool:
    """Whether a live company with this id exists for the caller (outside their scope it does not)."""
    try:
        live(db, scope, company_id)
    except NotFound:
        return False
    return True


def live_name(db, company_id: str | None) -> str | None:
    """The name of a live company, None when there is none (what a contact's search text carries)."""
    company = records.find(db, Company, company_id) if company_id else None
    return company.name if company is not None and company.deleted_at is None else None


def names_seen_by(db, scope: Scope | None, company_ids: set) -> dict[str, str]:
    """`{id: name}` of those companies the caller may see; a company out of sight has no name for them."""
    if not company_ids:
        return {}
    stmt = visible(select(Company.id, Company.name).where(Company.id.in_(company_ids)), Company, scope)
    return dict(db.execute(stmt).all())


def reindex_contacts(db, company: Company) -> None:
    """A renamed company: its contacts are found by the new name (not a change of theirs: no event)."""
    rows = db.execute(
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.emails, Contact.phones).where(
            Contact.company_id == company.id
        )
    ).all()
    # A Core UPDATE keeps `version` as it is: the contact did not change, only how it is found.
    for row in rows:
        text = search_text(row.first_name, row.last_name, row.emails, row.phones, company.name)
        db.execute(core_update(Contact).where(Contact.id == row.id).values(search_text=text))


def checked_input(db, scope: Scope | None, data: dict, partial: bool = False) -> dict:
    fields = load(CompanySchema(), data, partial=partial)
    errors = {**placement_errors(scope, fields), **owner_errors(db, scope, fields)}
    if errors:
        raise ValidationFailed(f"invalid fields: {', '.join(sorted(errors))}", errors)
    return fields
