"""Documents over HTTP: upload limits and checks, versions, the approval workflow, generation, search."""

import hashlib
import http.client
import io
import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pypdf
from e2e_helpers import V1, contact_body, every_item, json_documents

README = Path(__file__).resolve().parents[2] / "README.md"
PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


def documents_walkthrough() -> str:
    text = README.read_text()
    section = text.split("## Walk-through: a document from upload to signature", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def make_user(system, admin, role: str, department_id: str | None = None):
    n = hashlib.sha256(f"{role}{department_id}{id(admin)}".encode()).hexdigest()[:8]
    email = f"{role}-{n}@documents.example.com"
    password = "a-password-for-documents"
    body = {"email": email, "name": role, "role": role, "department_id": department_id, "password": password}
    assert admin.post(system.url(f"{V1}/users"), json=body).status_code in (201, 409)
    return system.client(system.token(email, password))


def upload(system, api, content=b"Quote for Ada\n", name="quote.txt", content_type="text/plain", **fields):
    return api.post(
        system.url(f"{V1}/documents"), files={"file": (name, content, content_type)}, data={"kind": "quote", **fields}
    )


def transition(system, api, document_id, action, **body):
    return api.post(system.url(f"{V1}/documents/{document_id}/transitions"), json={"action": action, **body})


def test_the_document_walkthrough_in_the_readme_runs_as_printed(system, tmp_path):
    admin = system.client()
    demo = {"email": "admin@example.com", "name": "Demo", "role": "admin", "password": "demo-admin-password"}
    assert admin.post(system.url(f"{V1}/users"), json=demo).status_code in (201, 409)
    script = documents_walkthrough().replace("http://127.0.0.1:8000", system.base_url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CRM_ADMIN_PASSWORD": demo["password"]},  # as the README asks
    )
    assert result.returncode == 0, result.stderr
    documents = json_documents(result.stdout)
    agent, submitted, forbidden, approved, signed, refused, trail, second, versions, bad, generated, listed = documents
    assert agent["role"] == "agent"
    assert [submitted["status"], approved["status"], signed["status"]] == ["in_review", "approved", "signed"]
    assert forbidden["status"] == 403  # the agent's approval
    assert refused["status"] == 409 and "approve: signed -> approved is not allowed" in json.dumps(refused)
    assert [(step["action"], step["comment"]) for step in trail["items"]][:2] == [
        ("submit", "please check"),
        ("approve", "prices ok"),
    ]
    assert [step["action"] for step in trail["items"]] == ["submit", "approve", "sign"]
    quote = b"Quote for Ada Lovelace: 3 engines, 12500.00 EUR\n"
    assert f"{hashlib.sha256(quote).hexdigest()}  signed.txt" in result.stdout  # only after cmp found them equal
    assert (second["current_version"], second["status"]) == (2, "draft")
    assert len(versions["items"]) == 2
    assert (bad["status"], list(bad["errors"])) == (422, ["file"])
    assert (generated["kind"], generated["content_type"]) == ("contract", "application/pdf")
    assert generated["id"] in [document["id"] for document in listed["items"]]


def test_a_file_over_the_limit_is_refused_by_its_length_before_it_is_read(system):
    target = urlparse(system.base_url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    connection.putrequest("POST", f"{V1}/documents")
    connection.putheader("Authorization", f"Bearer {system.token()}")
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Content-Length", str(60 * 1024 * 1024))
    connection.endheaders()  # not one byte of the body is sent
    response = connection.getresponse()
    assert response.status == 413
    connection.close()


def test_bad_uploads_are_refused_naming_the_field_and_store_nothing(system):
    api = system.client()
    before = len(every_item(api, system.url(f"{V1}/documents")))
    refused = [
        upload(system, api, content=b"plain words", name="quote.pdf", content_type="application/pdf"),
        upload(system, api, content=PDF_HEAD + b"1 0 obj", name="quote.txt", content_type="text/plain"),
        upload(system, api, content=b"", name="empty.txt"),
        upload(system, api, kind="poem"),
        upload(system, api, colour="red"),
    ]
    assert [r.status_code for r in refused] == [422] * 5, [r.text for r in refused]
    assert [list(r.json()["errors"]) for r in refused] == [["file"], ["file"], ["file"], ["kind"], ["colour"]]
    after = len(every_item(api, system.url(f"{V1}/documents")))
    assert after == before


def test_a_name_with_path_parts_is_kept_as_its_last_part_only(system):
    api = system.client()
    document = upload(system, api, name="../../../etc/passwd").json()
    assert document["filename"] == "passwd"
    download = api.get(system.url(f"{V1}/documents/{document['id']}/content"))
    assert 'filename="passwd"' in download.headers["Content-Disposition"]


def test_versions_are_listed_with_their_uploader_and_each_stays_readable(system):
    api = system.client()
    document = upload(system, api, content=b"first\n").json()
    second = api.post(
        system.url(f"{V1}/documents/{document['id']}/versions"),
        files={"file": ("quote-v2.txt", b"second\n", "text/plain")},
        headers={"If-Match": f'"{document["version"]}"'},
    )
    assert second.status_code == 201, second.text
    assert second.json()["current_version"] == 2 and second.headers["ETag"] == f'"{document["version"] + 1}"'
    versions = api.get(system.url(f"{V1}/documents/{document['id']}/versions")).json()["items"]
    assert [v["number"] for v in versions] == [1, 2] and versions[0]["uploaded_by"] == versions[1]["uploaded_by"]
    content = system.url(f"{V1}/documents/{document['id']}/content")
    assert api.get(content, params={"version": 1}).content == b"first\n"
    assert api.get(content).content == b"second\n"
    assert api.get(content, params={"version": 3}).status_code == 404
    assert api.get(content, params={"version": "x"}).status_code == 422
    stale = api.post(
        system.url(f"{V1}/documents/{document['id']}/versions"),
        files={"file": ("v3.txt", b"third\n", "text/plain")},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412


def test_a_manager_above_the_uploaders_department_approves_and_others_may_not(system):
    admin = system.client()
    sales = admin.post(system.url(f"{V1}/departments"), json={"name": "Sales docs"}).json()
    north = admin.post(system.url(f"{V1}/departments"), json={"name": "North docs", "parent_id": sales["id"]}).json()
    support = admin.post(system.url(f"{V1}/departments"), json={"name": "Support docs"}).json()
    agent = make_user(system, admin, "agent", north["id"])
    manager = make_user(system, admin, "manager", sales["id"])
    other_manager = make_user(system, admin, "manager", support["id"])
    analyst = make_user(system, admin, "analyst", sales["id"])

    document = upload(system, agent).json()
    assert transition(system, agent, document["id"], "submit").status_code == 200
    assert transition(system, agent, document["id"], "approve").status_code == 403
    assert transition(system, other_manager, document["id"], "approve").status_code == 404
    assert analyst.get(system.url(f"{V1}/documents/{document['id']}")).status_code == 403
    approved = transition(system, manager, document["id"], "approve", comment="ok")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    trail = agent.get(system.url(f"{V1}/documents/{document['id']}/transitions")).json()["items"]
    assert [(t["action"], t["comment"]) for t in trail] == [("submit", None), ("approve", "ok")]


def test_a_generated_contract_is_a_pdf_with_the_contacts_name_found_by_search(system):
    api = system.client()
    contact = api.post(system.url(f"{V1}/contacts"), json=contact_body(first_name="Grace")).json()
    generated = api.post(
        system.url(f"{V1}/documents/generate"),
        json={"template": "contract", "contact_id": contact["id"], "deal_id": "deal-1"},
    )
    assert generated.status_code == 201, generated.text
    document = generated.json()
    assert document["kind"] == "contract" and document["deal_id"] == "deal-1"
    pdf = api.get(system.url(f"{V1}/documents/{document['id']}/content")).content
    assert f"Grace {contact['last_name']}" in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    found = api.get(system.url(f"{V1}/documents"), params={"contact_id": contact["id"], "kind": "contract"}).json()
    assert [d["id"] for d in found["items"]] == [document["id"]]
    unknown = api.post(system.url(f"{V1}/documents/generate"), json={"template": "quote", "contact_id": "nobody"})
    assert unknown.status_code == 422 and list(unknown.json()["errors"]) == ["contact_id"]


def checksum_failures(system) -> float:
    """`crm_document_checksum_failures_total` as the documents service exports it (port base + 3)."""
    port = int(system.base_url.rsplit(":", 1)[1]) + 3
    metrics = system.http.get(f"http://127.0.0.1:{port}/metrics").text
    found = re.search(r"^crm_document_checksum_failures_total (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_content_corrupted_on_disk_is_a_500_problem_and_counted_never_served(system):
    api = system.client()
    content = f"Contract {uuid.uuid4().hex}\n".encode()  # a blob of this test's own
    document = upload(system, api, content=content).json()
    blob = next((system.log.parent / "documents").glob(f"??/??/{document['sha256']}"))
    blob.write_bytes(content.replace(b"Contract", b"Contrac7"))  # same size, one byte changed
    failures_before = checksum_failures(system)

    answer = api.get(system.url(f"{V1}/documents/{document['id']}/content"))

    assert answer.status_code == 500
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["title"] == "Stored content failed its integrity check"
    assert b"Contrac7" not in answer.content
    assert checksum_failures(system) == failures_before + 1
