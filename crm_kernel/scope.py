"""Who may see which records: the caller's scope travels with every call and filters every query.

The gateway authenticates the caller and puts their scope in the call context; services apply it
in their own queries (`visible`), so that lists stay full pages and counts stay true, and a record
outside the scope reads as absent (404), never as forbidden.

- admin: everything;
- manager: records of their department and of every department below it;
- agent: records they own or are assigned, and their department's shared records;
- analyst: no records (reports only);
- system (`Scope.system()`): everything, for the few calls that act for no user and say so;
- nobody (`Scope.nobody()`): nothing; what a call that carries no scope gets.

Reports count records and follow the same rules (`sees_all_figures`, `sees_figures_of`), except that
an analyst counts every record; plans are set by admins and managers (`may_set_target`).
"""

import json
from dataclasses import dataclass

from sqlalchemy import false, or_

from crm_kernel.departments import DepartmentTree

SCOPE = "scope"
SYSTEM = "system"  # the role of `Scope.system()`, which no user can hold
NOBODY = "nobody"  # the role of `Scope.nobody()`, which no user can hold


@dataclass(frozen=True)
class Scope:
    user_id: str
    role: str
    department_id: str | None
    departments: tuple[str, ...] = ()  # the departments whose records the caller sees

    def encode(self) -> str:
        return json.dumps([self.user_id, self.role, self.department_id, list(self.departments)])

    @classmethod
    def decode(cls, raw: str) -> "Scope":
        """The scope `encode` wrote."""
        user_id, role, department_id, departments = json.loads(raw)
        return cls(user_id, role, department_id, tuple(departments))

    @classmethod
    def system(cls) -> "Scope":
        """Everything, said explicitly: for the few calls that act for no user (tooling, the system)."""
        return cls("system", SYSTEM, None)

    @classmethod
    def nobody(cls) -> "Scope":
        """Nothing: the scope of a call that carries none, so that forgetting one never shows everything."""
        return cls("nobody", NOBODY, None)

    @classmethod
    def for_user(cls, user_id: str, role: str, department_id: str | None, tree: DepartmentTree) -> "Scope":
        """A user's scope: a manager sees their department's subtree, anyone else their own department."""
        if role == "manager":
            return cls(user_id, role, department_id, tree.subtree(department_id))
        return cls(user_id, role, department_id, (department_id,) if department_id else ())

    @classmethod
    def from_context(cls, context_data: dict) -> "Scope":
        """The caller's scope; `Scope.nobody()` for a call that carries none."""
        raw = context_data.get(SCOPE)
        return cls.decode(raw) if raw else cls.nobody()

    @property
    def unrestricted(self) -> bool:
        return self.role in ("admin", SYSTEM)

    def may_place(self, department_id: str | None) -> bool:
        """Whether the caller may put a record in `department_id`: an admin anywhere; a manager anywhere
        in their subtree (that is how work moves across it); an agent only in their own department."""
        if self.unrestricted:
            return True
        return self.role in ("manager", "agent") and department_id is not None and department_id in self.departments

    def sees(self, record: dict, owners: tuple[str, ...] = ("owner_id",), department: str = "department_id") -> bool:
        """The same rule as `visible`, for one record already loaded (as its wire dict)."""
        if self.unrestricted:
            return True
        if self.role == "manager":
            return record.get(department) in self.departments
        if self.role == "agent":
            mine = any(record.get(owner) == self.user_id for owner in owners)
            return mine or (self.department_id is not None and record.get(department) == self.department_id)
        return False

    @property
    def sees_all_figures(self) -> bool:
        """Reports count records: an admin, an analyst (whose job is reports) or the system counts them all."""
        return self.unrestricted or self.role == "analyst"

    def sees_figures_of(self, department_id: str | None, user_id: str | None = None) -> bool:
        """Whether reports show the caller the figures of `department_id` (where their records may be
        placed), or of the user `user_id` of that department (their own; a manager's subtree's)."""
        if self.sees_all_figures:
            return True
        if user_id is not None:
            return user_id == self.user_id or (self.role == "manager" and department_id in self.departments)
        return self.may_place(department_id)

    def may_set_target(self, department_id: str | None, user_id: str | None = None) -> bool:
        """Plans: an admin sets targets for anyone, a manager for whose figures they see, nobody else."""
        return self.unrestricted or (self.role == "manager" and self.sees_figures_of(department_id, user_id))


def visible(
    stmt, model, scope: Scope | None, owners: tuple[str, ...] = ("owner_id",), department: str = "department_id"
):
    """`stmt` restricted to the rows of `model` that `scope` may see; no scope (None) sees nothing."""
    if scope is None:
        return stmt.where(false())
    if scope.unrestricted:
        return stmt
    department_column = getattr(model, department)
    if scope.role == "manager":
        return stmt.where(department_column.in_(scope.departments))
    if scope.role == "agent":
        mine = [getattr(model, owner) == scope.user_id for owner in owners]
        shared = [department_column == scope.department_id] if scope.department_id else []
        return stmt.where(or_(*mine, *shared))
    return stmt.where(false())
