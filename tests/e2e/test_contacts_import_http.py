"""The CSV import as its users reach it: whole files through the public HTTP API, every row accounted for.

Each file is counted three ways: by a plain reading with `csv`, by the import's report, and by the
contacts the API lists afterwards. Large files go through the gateway's stream and the contacts
service's checker process; small ones are checked in the service's own process.
"""

import csv
import io
import socket
import uuid
from urllib.parse import urlparse

import pytest
from e2e_helpers import V1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOTES = 'A note with "quotes"; semicolons, commas,\nline breaks\r\nand accents: Zoë Núñez, Ærø, Łódź. '


def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def big_system(system_of_its_own_on_each_engine):
    """The large files go to a system of their own: the events of 50,000 imported contacts keep
    reporting busy for a while, which must not slow the other tests' reports."""
    running = system_of_its_own_on_each_engine
    notes = {"key": "notes", "label": "Notes", "type": "text"}  # rows as long as a real CRM export's
    assert running.client().post(running.url(f"{V1}/contact-fields"), json=notes).status_code == 201
    return running


def csv_file(rows: int, tag: str, *, phones: bool, size: int, crlf: bool, bom: bool, last_newline: bool) -> bytes:
    """`rows` distinct people as CSV of about `size` bytes, written by `csv` the way spreadsheets write it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n" if crlf else "\n")
    header = ["first_name", "last_name", "email", "tags", "attr.notes"] + (["phone"] if phones else [])
    writer.writerow(header)
    filler = max(0, size // rows - 120)
    notes = (NOTES * (filler // len(NOTES) + 1))[:filler]
    for n in range(rows):
        row = [f"Zoë{n}", f'Núñez; "{n}"', f"z{n}.{tag}@example.com", tag, f"{n}: {notes}"]
        writer.writerow(row + ([f"+44 20 7{n:07d}"] if phones else []))
    text = buffer.getvalue()
    if not last_newline:
        text = text.rstrip("\r\n")
    return ("\ufeff" if bom else "").encode() + text.encode()


def data_rows(body: bytes) -> int:
    """Rows as a plain reading with `csv` sees them (the header and blank lines not counted)."""
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";")
    next(reader)
    return sum(1 for row in reader if any(cell.strip() for cell in row))


def listed(system, api, tag: str, by: str = "tag") -> list[dict]:
    """Every contact tagged `tag` (each test's own; `by="q"`: whose e-mail holds it), through the API's
    list pages. By tag, an index lookup: a substring search paged 100 times over 20,000 matches took
    as long as the import."""
    items, cursor = [], None
    while True:
        params = {by: tag, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(system.url(f"{V1}/contacts"), params=params, timeout=60)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def in_pieces(body: bytes, size: int = 65536):
    """The body sent chunked, as a client streaming a file it has not read whole."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def import_file(system, api, body, **params):
    return api.post(
        system.url(f"{V1}/contacts/import"),
        data=body,
        params=params,
        headers={"Content-Type": "text/csv"},
        timeout=900,
    )


@pytest.mark.timeout(1800)  # 20 MB on a busy two-core machine
@pytest.mark.parametrize(
    ("megabytes", "rows", "phones", "crlf", "bom", "last_newline"),
    [
        (1, 2_000, False, False, False, True),
        (1, 2_000, True, True, True, False),
        (5, 10_000, False, True, False, False),
        (20, 20_000, True, False, True, True),
    ],
    ids=["1MB", "1MB-phones-crlf-bom-no-last-newline", "5MB-crlf", "20MB-phones-bom"],
)
def test_every_row_of_a_large_file_is_stored_and_accounted_for(
    big_system, megabytes, rows, phones, crlf, bom, last_newline
):
    system = big_system
    api = system.client()
    tag = f"f{unique()}"
    body = csv_file(
        rows, tag, phones=phones, size=megabytes * 1024 * 1024, crlf=crlf, bom=bom, last_newline=last_newline
    )
    assert abs(len(body) - megabytes * 1024 * 1024) < 0.2 * megabytes * 1024 * 1024
    assert data_rows(body) == rows

    response = import_file(system, api, in_pieces(body))

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["created"], report["failed"]) == (rows, rows, 0), report["errors"][:3]
    assert report["created"] + report["updated"] + report["skipped"] + report["failed"] == report["rows"]
    contacts = listed(system, api, tag)
    assert len(contacts) == rows
    by_email = {c["emails"][0]: c for c in contacts}
    last = by_email[f"z{rows - 1}.{tag}@example.com"]
    assert last["last_name"] == f'Núñez; "{rows - 1}"'
    assert last["attributes"]["notes"].startswith(f'{rows - 1}: A note with "quotes"; semicolons, commas,\nline')
    assert last["phones"] == ([f"+44207{rows - 1:07d}"] if phones else [])
    the_import = api.get(system.url(f"{V1}/contacts/imports/{report['import_id']}")).json()
    assert (the_import["status"], the_import["report"]["created"]) == ("completed", rows)


@pytest.mark.engines("sqlite", "postgresql")
def test_a_row_sharing_only_a_phone_creates_a_new_contact_and_names_the_one_it_resembles(system):
    api = system.client()
    tag = f"s{unique()}"
    alice = api.post(
        system.url(f"{V1}/contacts"),
        json={"first_name": "Alice", "emails": [f"alice.{tag}@acme.example.com"], "phones": ["+49 30 12345678"]},
    ).json()

    response = import_file(
        system, api, f"first_name;last_name;email;phone\nBob;Builder;bob.{tag}@acme.example.com;+493012345678\n"
    )

    report = response.json()
    assert (report["rows"], report["created"], report["updated"]) == (1, 1, 0)
    assert report["possible_duplicates"][0]["line"] == 2
    assert alice["id"] in report["possible_duplicates"][0]["resembles"]
    still = api.get(system.url(f"{V1}/contacts/{alice['id']}")).json()
    assert (still["first_name"], still["emails"], still["version"]) == ("Alice", [f"alice.{tag}@acme.example.com"], 1)


def test_an_import_is_listed_shown_in_history_and_undone_through_the_api(system):
    api = system.client()
    tag = f"u{unique()}"
    ada = api.post(
        system.url(f"{V1}/contacts"),
        json={"first_name": "Ada", "last_name": "Lovelace", "emails": [f"ada.{tag}@example.com"]},
    ).json()
    body = (
        "first_name,last_name,email,tags\n"
        f"Augusta,,ada.{tag}@example.com,{tag}\n"
        f"Grace,Hopper,grace.{tag}@example.com,{tag}\n"
    )

    report = import_file(system, api, body, mode="upsert", match_by="email").json()

    assert (report["rows"], report["created"], report["updated"]) == (2, 1, 1)
    listed_imports = api.get(system.url(f"{V1}/contacts/imports"), params={"limit": 50}).json()["items"]
    assert report["import_id"] in [i["id"] for i in listed_imports]
    history = api.get(system.url(f"{V1}/contacts/{ada['id']}/history")).json()["items"]
    assert history[0]["import_id"] == report["import_id"]
    assert history[0]["changes"]["first_name"] == ["Ada", "Augusta"]

    undone = api.post(system.url(f"{V1}/contacts/imports/{report['import_id']}/undo"))

    assert undone.status_code == 200, undone.text
    assert (undone.json()["undo_report"]["deleted"], undone.json()["undo_report"]["restored"]) == (1, 1)
    restored = api.get(system.url(f"{V1}/contacts/{ada['id']}")).json()
    assert (restored["first_name"], restored["last_name"], restored["tags"]) == ("Ada", "Lovelace", [])
    assert [c["id"] for c in listed(system, api, tag, by="q")] == [ada["id"]]  # Grace, whom it created, is gone
    again = api.post(system.url(f"{V1}/contacts/imports/{report['import_id']}/undo"))
    assert again.status_code == 409
    assert api.post(system.url(f"{V1}/contacts/imports/{'0' * 32}/undo")).status_code == 404


@pytest.mark.parametrize(("params", "field"), [({"mode": "merge"}, "mode"), ({"match_by": "phone"}, "match_by")])
def test_an_unknown_import_option_is_a_422_naming_it_and_imports_nothing(system, params, field):
    api = system.client()
    tag = f"o{unique()}"

    response = import_file(system, api, f"first_name,email,tags\nAda,ada.{tag}@example.com,{tag}\n", **params)

    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert listed(system, api, tag) == []


def test_an_export_shows_formulas_as_text_and_reimports_to_the_same_values_in_every_field(system):
    api = system.client()
    tag = f"x{unique()}"
    field = api.post(system.url(f"{V1}/contact-fields"), json={"key": f"rt{tag}", "label": "Note", "type": "text"})
    assert field.status_code == 201, field.text
    company = api.post(system.url(f"{V1}/companies"), json={"name": f"+Acme {tag}"}).json()
    me = api.get(system.url(f"{V1}/users/me")).json()
    evil = '=HYPERLINK("http://evil.example","x")'
    created = api.post(
        system.url(f"{V1}/contacts"),
        json={
            "first_name": evil,
            "last_name": "-2+3",
            "emails": [f"evil.{tag}@example.com", f"-second.{tag}@example.com"],
            "phones": ["+44 20 7123 9999", "+49 30 1234567"],
            "tags": [tag, "@home", "-minus"],
            "company_id": company["id"],
            "owner_id": me["id"],
            "attributes": {f"rt{tag}": '=1+1; said "she"\nnext line'},
            "timezone": "Europe/Berlin",
            "marketing_consent": True,
        },
    )
    assert created.status_code == 201, created.text
    before = api.get(system.url(f"{V1}/contacts/{created.json()['id']}")).json()

    exported = api.get(system.url(f"{V1}/contacts/export"), params={"tag": tag}).content.decode()
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in row.values())
    assert (row["first_name"], row["company"]) == ("'" + evil, f"'+Acme {tag}")

    report = import_file(system, api, exported.encode()).json()

    assert (report["rows"], report["skipped"], report["updated"], report["created"]) == (1, 1, 0, 0), report
    after = api.get(system.url(f"{V1}/contacts/{before['id']}")).json()
    assert after == before  # every field, the version included: nothing changed


def test_a_declared_length_over_the_limit_is_a_413_before_the_body_is_sent(system):
    token = system.token()
    address = urlparse(system.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as raw:
        raw.sendall(
            (
                f"POST {V1}/contacts/import HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: text/csv\r\nContent-Length: {200 * 1024 * 1024}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        answer = raw.recv(4096).decode(errors="replace")  # the server answers without waiting for 200 MB

    assert answer.startswith("HTTP/1.1 413"), answer[:200]


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(lambda s: s.strip())
separators_and_quotes = st.sampled_from(['"', ";", ",", "\n", "\r\n", "'", "=", " "])
odd_names = st.lists(st.tuples(names, separators_and_quotes, names).map("".join), min_size=1, max_size=40)


@pytest.mark.timeout(900)
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(first_names=odd_names, crlf=st.booleans())
def test_random_files_are_read_as_csv_reads_them(system, first_names, crlf):
    api = system.client()
    tag = f"h{unique()}"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["first_name", "email", "tags"])
    for n, name in enumerate(first_names):
        writer.writerow([name, f"r{n}.{tag}@example.com", tag])
    body = buffer.getvalue().encode()
    reader = csv.reader(io.StringIO(buffer.getvalue(), newline=""))
    next(reader)
    expected = {}  # e-mail -> (the line its row starts on, its first name as the import must store it)
    line = reader.line_num
    for row in reader:
        expected[row[1]] = (line + 1, as_imported(row[0]))
        line = reader.line_num

    report = import_file(system, api, body).json()

    assert report["rows"] == len(expected)
    assert report["created"] + report["failed"] == report["rows"]
    stored = {c["emails"][0]: c["first_name"] for c in listed(system, api, tag)}
    failed_lines = {e["line"] for e in report["errors"]}
    assert len(stored) == report["created"] and len(failed_lines) == report["failed"]
    for email, (start, name) in expected.items():
        assert stored[email] == name if email in stored else start in failed_lines


def as_imported(cell: str) -> str:
    """A cell as the README says the import reads it: trimmed, and one apostrophe fewer before a formula."""
    cell = cell.strip()
    if cell.startswith("'") and cell.lstrip("'").startswith(("=", "+", "-", "@", "\t", "\r")):
        return cell[1:]
    return cell


# Where the contacts service cuts a file: the first 64 KiB are read to find the separator, and a file
# of 256 KiB or more is checked in a child process that gets the rest in pieces.
SNIFFED, IN_PROCESS = 64 * 1024, 256 * 1024
paddings = st.one_of(
    st.just(0), st.integers(SNIFFED - 3000, SNIFFED + 500), st.integers(IN_PROCESS - 3000, IN_PROCESS + 500)
)


@pytest.mark.timeout(900)
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    first_names=odd_names,
    last_names=odd_names,
    padding=paddings,
    delimiter=st.sampled_from([",", ";"]),
    crlf=st.booleans(),
    bom=st.booleans(),
    last_newline=st.booleans(),
)
def test_random_rows_where_the_service_cuts_the_file_are_read_as_csv_reads_them(
    system, first_names, last_names, padding, delimiter, crlf, bom, last_newline
):
    api = system.client()
    tag = f"k{unique()}"
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["first_name", "last_name", "email", "tags", "created_at"])  # created_at: ignored
    n = 0
    while buffer.tell() < padding:  # rows of about 1 KB up to the place the random rows should start
        writer.writerow([f"Pad{n}", "", f"pad{n}.{tag}@example.com", tag, "x" * 1000])
        n += 1
    for index, name in enumerate(first_names):
        writer.writerow([name, last_names[index % len(last_names)], f"r{index}.{tag}@example.com", tag, ""])
    text = buffer.getvalue() if last_newline else buffer.getvalue().rstrip("\r\n")
    body = ("\ufeff" if bom else "").encode() + text.encode()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    expected = {}  # e-mail -> (the line its row starts on, its names as the import must store them)
    line = reader.line_num
    for row in reader:
        expected[row[2]] = (line + 1, as_imported(row[0]), as_imported(row[1]))
        line = reader.line_num

    report = import_file(system, api, in_pieces(body)).json()

    assert report["rows"] == len(expected), report
    assert report["created"] + report["failed"] == report["rows"]
    stored = {c["emails"][0]: (c["first_name"], c["last_name"]) for c in listed(system, api, tag)}
    failed_lines = {e["line"] for e in report["errors"]}
    assert len(stored) == report["created"] and len(failed_lines) == report["failed"]
    for email, (start, first, last) in expected.items():
        assert stored[email] == (first, last) if email in stored else start in failed_lines
