"""Who sees which records: the scope rules, in Python and as SQL, agree."""

import pytest
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from crm_kernel.departments import DepartmentTree, subtree
from crm_kernel.scope import Scope, visible

TREE = {"hq": None, "sales": "hq", "sales-berlin": "sales", "support": "hq"}


class Base(DeclarativeBase):
    pass


class Record(Base):
    __tablename__ = "records"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String)
    assignee_id: Mapped[str | None] = mapped_column(String)
    department_id: Mapped[str | None] = mapped_column(String)


RECORDS = [
    {"id": "hq-1", "owner_id": "boss", "assignee_id": None, "department_id": "hq"},
    {"id": "sales-1", "owner_id": "ann", "assignee_id": None, "department_id": "sales"},
    {"id": "berlin-1", "owner_id": "ben", "assignee_id": None, "department_id": "sales-berlin"},
    {"id": "support-1", "owner_id": "sue", "assignee_id": "ann", "department_id": "support"},
    {"id": "support-2", "owner_id": "sue", "assignee_id": None, "department_id": "support"},
]

SCOPES = {
    "admin": Scope("root", "admin", "hq"),
    "sales manager": Scope("max", "manager", "sales", subtree(TREE, "sales")),
    "agent ann in sales": Scope("ann", "agent", "sales", ("sales",)),
    "analyst": Scope("ana", "analyst", "hq", ("hq",)),
}
EXPECTED = {
    "admin": {"hq-1", "sales-1", "berlin-1", "support-1", "support-2"},
    "sales manager": {"sales-1", "berlin-1"},
    "agent ann in sales": {"sales-1", "support-1"},
    "analyst": set(),
}


def test_a_departments_ancestors_run_from_it_to_the_root():
    assert DepartmentTree(TREE).ancestors("sales-berlin") == ["sales-berlin", "sales", "hq"]
    assert DepartmentTree(TREE).ancestors(None) == []


def test_a_cycle_in_the_tree_ends_the_walk():
    looped = {"a": "b", "b": "a"}
    assert set(subtree(looped, "a")) == {"a", "b"}
    assert DepartmentTree(looped).ancestors("a") == ["a", "b"]


def test_a_manager_sees_their_subtree_and_anyone_else_their_own_department():
    tree = DepartmentTree(TREE)
    assert set(Scope.for_user("m", "manager", "sales", tree).departments) == {"sales", "sales-berlin"}
    assert Scope.for_user("a", "agent", "sales", tree).departments == ("sales",)
    assert Scope.for_user("x", "analyst", None, tree).departments == ()


def test_a_departments_subtree_holds_it_and_everything_below():
    assert set(subtree(TREE, "sales")) == {"sales", "sales-berlin"}
    assert set(subtree(TREE, "hq")) == set(TREE)
    assert subtree(TREE, None) == ()


@pytest.fixture
def session():
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(Record(**row) for row in RECORDS)
        session.commit()
        yield session


@pytest.mark.parametrize("who", sorted(SCOPES))
def test_each_role_sees_exactly_its_records_in_queries(session, who):
    stmt = visible(select(Record.id), Record, SCOPES[who], owners=("owner_id", "assignee_id"))
    assert set(session.scalars(stmt)) == EXPECTED[who]


@pytest.mark.parametrize("who", sorted(SCOPES))
def test_the_rule_for_one_loaded_record_matches_the_query(who):
    seen = {row["id"] for row in RECORDS if SCOPES[who].sees(row, owners=("owner_id", "assignee_id"))}
    assert seen == EXPECTED[who]


def test_a_call_without_a_scope_sees_nothing(session):
    assert session.scalars(visible(select(Record.id), Record, None)).all() == []
    assert session.scalars(visible(select(Record.id), Record, Scope.from_context({}))).all() == []


def test_a_call_that_says_it_sees_everything_does(session):
    assert len(session.scalars(visible(select(Record.id), Record, Scope.system())).all()) == len(RECORDS)


def test_nobody_may_place_or_see_a_record():
    nobody = Scope.from_context({})
    assert nobody == Scope.nobody() and not nobody.unrestricted
    assert not nobody.may_place("hq") and not nobody.may_place(None)
    assert not any(nobody.sees(record) for record in RECORDS)


def test_a_scope_survives_the_trip_through_message_headers():
    scope = SCOPES["sales manager"]
    assert Scope.from_context({"scope": scope.encode()}) == scope
    assert Scope.from_context({}) == Scope.nobody()
