"""Companies: the organisations contacts work for."""

from sqlalchemy import func, select, update

from contacts.models import Company, Contact
from contacts.normalise import search_text
from contacts.schemas import COMPANY_SORTS, CompanyQuerySchema, CompanySchema
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.scope import visible


class CompaniesRpc:
    @rpc
    def create_company(self, data: dict) -> dict:
        company = Company(**self.company_input(data))
        self.db.add(company)
        self.db.flush()
        dumped = CompanySchema().dump(company)
        self.outbox.add(self.db, "company.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def get_company(self, company_id: str) -> dict:
        return CompanySchema().dump(self.live_company(company_id))

    @rpc
    def update_company(self, company_id: str, changes: dict, expected_version: int | None = None) -> dict:
        company = self.live_company(company_id, expected_version)
        fields = self.company_input(changes, partial=True)
        before = CompanySchema().dump(company)
        for name, value in fields.items():
            setattr(company, name, value)
        after = CompanySchema().dump(company)
        changed = {name: [before[name], after[name]] for name in fields if before[name] != after[name]}
        if not changed:
            return before
        company.updated_at = utcnow()
        self.flush_or_stale(company_id)
        if "name" in changed:
            self.reindex_company_contacts(company)
        dumped = CompanySchema().dump(company)
        self.outbox.add(self.db, "company.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_company(self, company_id: str, expected_version: int | None = None) -> None:
        """Soft delete; refused while live contacts still work there (move them first)."""
        company = self.live_company(company_id, expected_version)
        staff = self.db.scalar(
            select(func.count()).where(Contact.company_id == company_id, Contact.deleted_at.is_(None))
        )
        if staff:
            raise Conflict(f"company {company_id} still has {staff} contacts; move or delete them first")
        company.deleted_at = utcnow()
        self.flush_or_stale(company_id)
        self.outbox.add(self.db, "company.deleted", CompanySchema().dump(company))
        self.db.commit()

    @rpc
    def restore_company(self, company_id: str) -> dict:
        company = self.find(Company, company_id)
        if company is None or not self.in_scope(company):
            raise NotFound(f"company {company_id} not found")
        if company.deleted_at is None:
            return CompanySchema().dump(company)
        company.deleted_at = None
        company.updated_at = utcnow()
        self.flush_or_stale(company_id)
        dumped = CompanySchema().dump(company)
        self.outbox.add(self.db, "company.restored", dumped)
        self.db.commit()
        return dumped

    @rpc
    def list_companies(self, query: dict) -> dict:
        params = load(CompanyQuerySchema(), query)
        stmt = select(Company).where(Company.deleted_at.is_(None))
        if params["q"]:
            stmt = stmt.where(Company.name.ilike(f"%{params['q']}%"))
        for name in ("owner_id", "department_id"):
            if params[name]:
                stmt = stmt.where(getattr(Company, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            visible(stmt, Company, self.context.scope),
            Company,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=COMPANY_SORTS,
        )
        return {"items": CompanySchema(many=True).dump(rows), "next_cursor": next_cursor}

    def reindex_company_contacts(self, company: Company) -> None:
        """A renamed company: its contacts are found by the new name (not a change of theirs: no event)."""
        rows = self.db.execute(
            select(Contact.id, Contact.first_name, Contact.last_name, Contact.emails, Contact.phones).where(
                Contact.company_id == company.id
            )
        ).all()
        # A Core UPDATE keeps `version` as it is: the contact did not change, only how it is found.
        for row in rows:
            text = search_text(row.first_name, row.last_name, row.emails, row.phones, company.name)
            self.db.execute(update(Contact).where(Contact.id == row.id).values(search_text=text))

    def company_input(self, data: dict, partial: bool = False) -> dict:
        fields = load(CompanySchema(), data, partial=partial)
        errors = self.placement_errors(fields)
        if errors:
            raise ValidationFailed(f"invalid fields: {', '.join(sorted(errors))}", errors)
        return fields

    def live_company(self, company_id: str, expected_version: int | None = None) -> Company:
        company = self.find(Company, company_id)
        if company is None or company.deleted_at is not None or not self.in_scope(company):
            raise NotFound(f"company {company_id} not found")
        if expected_version is not None and company.version != expected_version:
            raise PreconditionFailed(
                f"company {company_id} is at version {company.version}, not {expected_version}; read it again"
            )
        return company
