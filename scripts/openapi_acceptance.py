"""How many requests generated from the OpenAPI document the API accepts, operation by operation.

    .venv/bin/python scripts/openapi_acceptance.py                  # 15 requests per operation
    .venv/bin/python scripts/openapi_acceptance.py --examples 30 --only 'contacts|deals'

Starts the system as `make run` does (`scripts/run_local.py`, SQLite, a RabbitMQ virtual host of its
own), creates one record of each kind so that `{id}` in a path names a record that exists (DELETE
aside), then lets schemathesis generate requests for every operation, valid by the document, sent as
the first admin. The configuration routes (`/auth`, `/plans`, `/sla-policies`, `/contact-fields`) run
after the others, logout last, as in tests/e2e/test_api_contract.py.

"Refused" is a 400 or 422: the API said the input is invalid, which a document that states every
constraint should prevent. A 404 (a generated id naming nothing), 409 or 412 is counted apart: no
OpenAPI keyword can say "an existing record". Prints, per operation, the counts and the commonest
reasons (`field: message` of the problem documents), and how many operations were mostly refused
(more than half of their requests). A 5xx is listed too: it is a bug.
"""

import argparse
import re
import sys
import tempfile
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from leftovers import rabbitmqctl, vhost_name  # noqa: E402
from system_launcher import launched  # noqa: E402

BROKER = "amqp://guest:guest@127.0.0.1:5672"
V1 = "/api/v1"
CONFIGURATION = re.compile(rf"^{V1}/(auth/|contact-fields|sla-policies|plans)")
LOGOUT = f"{V1}/auth/logout"


@contextmanager
def own_vhost():
    name = vhost_name()
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"{BROKER}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


def seed(client, url) -> dict[str, str]:
    """One record of each kind, keyed by its collection's path: what `{id}` is replaced with."""
    made = {}

    def create(path: str, body: dict) -> str:
        response = client.post(url(f"{V1}/{path}"), json=body)
        assert response.status_code == 201, f"seeding {path}: {response.status_code} {response.text[:300]}"
        made[path] = response.json()["id"]
        return made[path]

    me = client.get(url(f"{V1}/users/me")).json()
    department = create("departments", {"name": "Seeded", "timezone": "Europe/Berlin"})
    create("users", {"email": "seeded@example.com", "name": "Seeded", "role": "agent",
                     "department_id": department, "password": "a-seeded-password-1"})  # fmt: skip
    company = create("companies", {"name": "Seeded Ltd"})
    contact = create("contacts", {"first_name": "Sid", "last_name": "Seeded", "company_id": company})
    create("interactions", {"contact_id": contact, "channel": "call", "direction": "inbound",
                            "occurred_at": "2026-03-02T10:00:00+00:00"})  # fmt: skip
    create("tickets", {"contact_id": contact, "subject": "Seeded"})
    create("deals", {"contact_id": contact, "title": "Seeded", "amount": "10.00", "currency": "EUR"})
    create("tasks", {"title": "Seeded", "contact_id": contact, "due_at": "2026-03-03T10:00:00+00:00"})
    create("campaigns", {"name": "Seeded"})
    document = client.post(
        url(f"{V1}/documents"),
        files={"file": ("seeded.txt", b"seeded\n", "text/plain")},
        data={"title": "Seeded", "kind": "contract", "contact_id": contact},
    )
    if document.status_code == 201:
        made["documents"] = document.json()["id"]
    made["me"] = me["id"]
    return made


def record_id_for(path: str, seeded: dict) -> str | None:
    """The seeded id for `{id}` in `path` (`/api/v1/contacts/{id}/merge` -> the contact)."""
    parts = path.removeprefix(f"{V1}/").split("/")
    if "{id}" not in parts:
        return None
    collection = "/".join(parts[: parts.index("{id}")])
    return seeded.get(collection)


def reasons_of(response) -> list[str]:
    try:
        problem = response.json()
    except ValueError:
        return [f"{response.status_code} (no JSON)"]
    errors = problem.get("errors") or {}
    if not isinstance(errors, dict) or not errors:
        return [f"{problem.get('detail') or problem.get('title')}"[:120]]
    found = []
    for field, messages in errors.items():
        text = messages if isinstance(messages, str) else " / ".join(map(str, messages))
        text = re.sub(r"'[^']{0,80}'", "'…'", text)  # the generated value quoted says nothing
        found.append(f"{field}: {text[:120]}")
    return found


def measure(system, operations, examples: int, seeded: dict, tally: dict) -> None:
    headers = {"Authorization": f"Bearer {system.token()}"}
    for operation in operations:
        entry = tally[f"{operation.method.upper()} {operation.path}"]
        record_id = None if operation.method == "delete" else record_id_for(operation.path, seeded)
        send_generated(system, headers, operation, examples, record_id, entry["counts"], entry["reasons"])


def send_generated(system, headers, operation, examples, record_id, counts: Counter, reasons: Counter) -> None:
    """`examples` requests generated for `operation`, `{id}` replaced by `record_id` when given."""

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def send(case):
        if record_id is not None:
            case.path_parameters["id"] = record_id
        response = case.call(base_url=system.base_url, headers=headers, timeout=30)
        status = response.status_code
        kind = "2xx" if status < 300 else "refused" if status in (400, 422) else str(status)
        counts[kind] += 1
        if kind == "refused":
            reasons.update(reasons_of(response))
        elif status >= 500:  # a bug: what was sent, to reproduce it
            reasons[f"{status} after query={case.query} body={str(case.body)[:300]}"] += 1

    send()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=15, help="generated requests per operation")
    parser.add_argument("--only", default="", help="a regular expression the operation's path must match")
    parser.add_argument("--reasons", type=int, default=3, help="reasons shown per operation")
    args = parser.parse_args(argv)
    tally = defaultdict(lambda: {"counts": Counter(), "reasons": Counter()})
    vhost, var = own_vhost(), tempfile.TemporaryDirectory(prefix="openapi-acceptance-")
    with vhost as amqp, var as var_dir, launched(Path(var_dir), amqp) as system:
        schema = schemathesis.openapi.from_url(system.url(f"{V1}/openapi.json"))
        operations = [result.ok() for result in schema.get_all_operations()]
        operations = [op for op in operations if re.search(args.only, op.path)]
        seeded = seed(system.client(), system.url)
        ordinary = [op for op in operations if not CONFIGURATION.match(op.path)]
        configuration = [op for op in operations if CONFIGURATION.match(op.path) and op.path != LOGOUT]
        last = [op for op in operations if op.path == LOGOUT]
        for group in (ordinary, configuration, last):
            measure(system, group, args.examples, seeded, tally)
    report(tally, args.reasons)
    return 0


def report(tally: dict, shown: int) -> None:
    mostly = []
    print("| operation | sent | 2xx | refused (400/422) | other | commonest reasons |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for name, entry in sorted(tally.items(), key=lambda item: item[0].split(" ", 1)[::-1]):
        counts = entry["counts"]
        sent = sum(counts.values())
        other = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if k not in ("2xx", "refused"))
        why = "; ".join(f"{reason} ({n})" for reason, n in entry["reasons"].most_common(shown))
        print(f"| {name} | {sent} | {counts['2xx']} | {counts['refused']} | {other} | {why} |")
        if sent and counts["refused"] * 2 > sent:
            mostly.append(name)

    def outside(names):
        return [name for name in names if not CONFIGURATION.match(name.split(" ", 1)[1])]

    print(f"\nmostly refused: {len(mostly)} of {len(tally)} operations", end=" ")
    print(f"({len(outside(mostly))} of {len(outside(tally))} outside the configuration routes)")
    for name in mostly:
        print(f"  {name}")
    errors = [name for name, entry in tally.items() if any(k.startswith("5") for k in entry["counts"])]
    print(f"5xx: {len(errors)} operations {errors}")


if __name__ == "__main__":
    sys.exit(main())
