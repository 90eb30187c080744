"""The first admin: a password generated per installation when none is given, shown once, stored hashed."""

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel.db import get_engine
from gateway import bootstrap
from gateway.auth import password_matches
from gateway.models import Base, User


@pytest.fixture
def gateway_db(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("CRM_ADMIN_EMAIL", "first@example.com")
    monkeypatch.delenv("CRM_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("CRM_ENVIRONMENT", raising=False)
    Base.metadata.create_all(get_engine(url))
    return get_engine(url)


def stored_hash(engine) -> str:
    with Session(engine) as session:
        return session.scalar(select(User.password_hash).where(User.email == "first@example.com"))


def test_without_a_password_one_is_generated_printed_once_and_stored_only_hashed(gateway_db, capsys):
    assert bootstrap.main() == 0
    printed = capsys.readouterr().out
    password = re.search(r"first@example\.com / (\S+) ", printed).group(1)
    assert len(password) >= 20 and password != "demo-admin-password"
    assert password not in stored_hash(gateway_db) and password_matches(stored_hash(gateway_db), password)
    assert bootstrap.main() == 0
    assert password not in capsys.readouterr().out  # shown only when created


def test_two_installations_get_two_passwords(gateway_db, capsys, tmp_path, monkeypatch):
    bootstrap.main()
    first = capsys.readouterr().out
    other = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", other)
    Base.metadata.create_all(get_engine(other))
    bootstrap.main()
    assert capsys.readouterr().out.split(" / ")[1] != first.split(" / ")[1]


def test_outside_development_a_placeholder_admin_password_is_refused(gateway_db, monkeypatch, capsys):
    monkeypatch.setenv("CRM_ENVIRONMENT", "production")
    monkeypatch.setenv("CRM_ADMIN_PASSWORD", "REPLACE-with-a-long-password")
    assert bootstrap.main() == 1
    assert "placeholder" in capsys.readouterr().out and stored_hash(gateway_db) is None
