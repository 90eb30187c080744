"""Unit-test fixtures: in-memory SQLite databases and Nameko workers over them, no broker."""

import itertools

import pytest
from service_workers import Workers
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from contacts import importer


@pytest.fixture
def memory_engine():
    """`memory_engine(Base)`: a fresh in-memory SQLite database holding `Base`'s tables."""
    engines = []

    def make(base):
        engine = create_engine("sqlite://", poolclass=StaticPool)
        base.metadata.create_all(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def workers(memory_engine):
    """`workers(Service, Base, outbox_model)`: call `Service`'s methods over a fresh in-memory database."""

    def make(service_cls, base, outbox_model=None):
        return Workers(service_cls, memory_engine(base), outbox_model)

    return make


@pytest.fixture
def contact_data():
    """`contact_data(**overrides)`: a valid contact as a client would send it, unique per call."""
    numbers = itertools.count(1)

    def make(**overrides):
        n = next(numbers)
        return {"first_name": f"Ada{n}", "last_name": "Lovelace", "emails": [f"ada{n}@example.com"]} | overrides

    return make


@pytest.fixture(params=["in process", "in a child process"])
def checked_where(request, monkeypatch):
    """Where a CSV import's rows are checked: a test taking this runs once each way."""
    if request.param == "in a child process":
        monkeypatch.setattr(importer, "IN_PROCESS_BYTES", 0)  # every file counts as large
    return request.param
