"""Contacts over HTTP as a sales floor uses them: companies, custom fields, duplicates, merge, import, export."""

import csv
import io
import uuid

import pytest
from e2e_helpers import V1


def user_client(system, admin, role: str):
    email = f"{role}-{uuid.uuid4().hex[:8]}@e2e.example.com"
    body = {"email": email, "name": role, "role": role, "password": "a-long-enough-password"}
    assert admin.post(system.url(f"{V1}/users"), json=body).status_code == 201
    return system.client(system.token(email, body["password"]))


def unique() -> str:
    return uuid.uuid4().hex[:8]


def test_companies_and_contacts_with_custom_fields_and_roles(system):
    admin = system.client()
    agent = user_client(system, admin, "agent")
    analyst = user_client(system, admin, "analyst")
    key = f"tier_{unique()}"

    field = {"key": key, "label": "Tier", "type": "choice", "choices": ["gold", "silver"]}
    assert agent.post(system.url(f"{V1}/contact-fields"), json=field).status_code == 403
    assert admin.post(system.url(f"{V1}/contact-fields"), json=field).status_code == 201
    company = agent.post(system.url(f"{V1}/companies"), json={"name": f"Acme {unique()}", "domain": "acme.example"})
    assert company.status_code == 201 and company.headers["ETag"] == '"1"'

    bad = agent.post(
        system.url(f"{V1}/contacts"),
        json={"first_name": "Zoë", "phones": ["12"], "attributes": {key: "bronze"}},
    )
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    assert set(bad.json()["errors"]) == {"phones", f"attributes.{key}"}

    body = {
        "first_name": "Zoë",
        "last_name": "Núñez",
        "phones": ["+44 20 7123 4567"],
        "company_id": company.json()["id"],
        "attributes": {key: "gold"},
    }
    created = agent.post(system.url(f"{V1}/contacts"), json=body)
    assert created.status_code == 201, created.text
    assert created.json()["phones"] == ["+442071234567"]
    assert analyst.get(system.url(f"{V1}/contacts")).status_code == 403

    found = agent.get(system.url(f"{V1}/contacts"), params={"q": "zoe nunez", "company_id": body["company_id"]})
    assert [c["id"] for c in found.json()["items"]] == [created.json()["id"]]
    unknown_tag = agent.get(system.url(f"{V1}/contacts"), params={"tag": f"never-{unique()}"})
    assert unknown_tag.status_code == 200 and unknown_tag.json()["items"] == []


@pytest.mark.engines("sqlite", "postgresql")
def test_duplicates_are_announced_merged_undone_and_audited(system):
    api = system.client()
    email = f"ada-{unique()}@example.com"
    first = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Ada", "emails": [email]}).json()

    second = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Augusta", "emails": [email.upper()]})
    rejected = api.post(
        system.url(f"{V1}/contacts"), params={"on_duplicate": "reject"}, json={"first_name": "A", "emails": [email]}
    )

    assert second.status_code == 201
    assert second.headers["X-Possible-Duplicates"] == first["id"]
    assert "duplicates" not in second.json()
    assert rejected.status_code == 409 and "duplicates" in rejected.json()["errors"]
    candidates = api.get(system.url(f"{V1}/contacts/{first['id']}/duplicates")).json()["items"]
    assert [(c["id"], c["score"]) for c in candidates] == [(second.json()["id"], 100)]

    merge = api.post(system.url(f"{V1}/contacts/{first['id']}/merge"), json={"source_ids": [second.json()["id"]]})
    assert merge.status_code == 200, merge.text
    assert api.get(system.url(f"{V1}/contacts/{second.json()['id']}")).status_code == 404
    undo = api.post(system.url(f"{V1}/contacts/merges/{merge.json()['merge_id']}/undo"))
    assert undo.status_code == 200
    assert api.get(system.url(f"{V1}/contacts/{second.json()['id']}")).status_code == 200

    assert api.delete(system.url(f"{V1}/contacts/{first['id']}")).status_code == 204
    assert api.post(system.url(f"{V1}/contacts/{first['id']}/restore")).status_code == 200
    history = api.get(system.url(f"{V1}/contacts/{first['id']}/history")).json()["items"]
    assert [h["type"] for h in history] == [
        "contact.restored",
        "contact.deleted",
        "contact.unmerged",
        "contact.merged",
        "contact.created",
    ]
    assert history[0]["actor"]


@pytest.mark.engines("sqlite", "postgresql")
def test_a_csv_import_streams_through_the_gateway_and_exports_back(system):
    api = system.client()
    tag = f"imp-{unique()}"
    rows = [f"Person{n};Imported;p{n}-{tag}@example.com;{tag}" for n in range(300)]
    body = "\ufefffirst_name;last_name;email;tags\n" + "\n".join(rows) + "\nBroken;Row;not-an-email;x\n"

    def chunks():  # sent chunked, as a client streaming a large file would
        data = body.encode()
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    report = api.post(system.url(f"{V1}/contacts/import"), data=chunks(), headers={"Content-Type": "text/csv"})
    again = api.post(system.url(f"{V1}/contacts/import"), data=body.encode(), headers={"Content-Type": "text/csv"})

    assert report.status_code == 200, report.text
    assert (report.json()["created"], report.json()["failed"]) == (300, 1)
    assert report.json()["errors"] == [{"line": 302, "errors": {"emails": {"0": ["Not a valid email address."]}}}]
    assert (again.json()["created"], again.json()["skipped"]) == (0, 300)

    exported = api.get(system.url(f"{V1}/contacts/export"), params={"tag": tag}, stream=True)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert len(lines) == 300 and {line["tags"] for line in lines} == {tag}

    broken = api.post(system.url(f"{V1}/contacts/import"), data="first_name\nZo\u00eb\n".encode("latin-1"))
    no_header = api.post(system.url(f"{V1}/contacts/import"), data=b"email\na@example.com\n")
    assert broken.status_code == 422 and "body" in broken.json()["errors"]
    assert no_header.status_code == 422 and "first_name" in no_header.json()["errors"]


@pytest.mark.engines("sqlite", "postgresql")
def test_a_large_csv_import_is_checked_in_the_services_checker_process_with_the_same_report(system):
    api = system.client()
    tag = f"big-{unique()}"
    rows = [f"Person{n};Imported-{tag};p{n}-{tag}@example.com;+44 20 7{n:07d};{tag}" for n in range(4000)]
    body = ("first_name;last_name;email;phone;tags\n" + "\n".join(rows) + "\nBroken;Row;not-an-email;;x\n").encode()
    assert len(body) > 256 * 1024  # contacts.importer.IN_PROCESS_BYTES: checked in a child process

    def chunks():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    report = api.post(system.url(f"{V1}/contacts/import"), data=chunks(), headers={"Content-Type": "text/csv"})
    refused = api.post(system.url(f"{V1}/contacts/import"), data=b"first_name;colour\n" + body)

    assert report.status_code == 200, report.text
    assert (report.json()["created"], report.json()["failed"]) == (4000, 1)
    assert report.json()["errors"] == [{"line": 4002, "errors": {"emails": {"0": ["Not a valid email address."]}}}]
    found = api.get(system.url(f"{V1}/contacts"), params={"q": f"p3999-{tag}"}).json()["items"]
    assert [(c["first_name"], c["phones"]) for c in found] == [("Person3999", ["+442070003999"])]
    assert refused.status_code == 422 and "colour" in refused.json()["errors"]
