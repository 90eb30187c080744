"""One organisation to test who sees and does what, over HTTP.

HQ > Sales > Sales Berlin, HQ > Support; one user per role and place; and one record of every kind
with an `{id}` route in Sales Berlin, built by the admin (the document by the Berlin agent, since a
document belongs to its uploader's department).
"""

import uuid

from e2e_helpers import V1, contact_body

PASSWORD = "a-long-enough-password"


class World:
    def __init__(self, system):
        self.system = system
        self.admin = system.client()
        tag = uuid.uuid4().hex[:8]
        hq = self.department(f"HQ {tag}")
        self.sales = self.department(f"Sales {tag}", hq)
        self.berlin = self.department(f"Sales Berlin {tag}", self.sales)
        self.support = self.department(f"Support {tag}", hq)
        self.user_ids = {}
        self.users = {
            "admin": self.admin,
            "sales manager": self.user("sales manager", "manager", self.sales, tag),
            "berlin agent": self.user("berlin agent", "agent", self.berlin, tag),
            "support manager": self.user("support manager", "manager", self.support, tag),
            "support agent": self.user("support agent", "agent", self.support, tag),
            "analyst": self.user("analyst", "analyst", hq, tag),
        }
        self.ids = self.records(tag)

    def url(self, path: str) -> str:
        return self.system.url(f"{V1}/{path}")

    def department(self, name: str, parent: str | None = None) -> str:
        return self.create("departments", {"name": name, "parent_id": parent})

    def user(self, who: str, role: str, department: str, tag: str):
        email = f"{role}-{uuid.uuid4().hex[:6]}-{tag}@scope.example.com"
        body = {"email": email, "name": who, "role": role, "department_id": department, "password": PASSWORD}
        self.user_ids[who] = self.create("users", body)
        return self.system.client(self.system.token(email, PASSWORD))

    def create(self, path: str, body: dict, api=None) -> str:
        created = (api or self.admin).post(self.url(path), json=body)
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def records(self, tag: str) -> dict:
        here = {"department_id": self.berlin}
        contact = self.create("contacts", contact_body(marketing_consent=True, **here))
        about = {"contact_id": contact, **here}
        target, source = (self.create("contacts", contact_body(**here)) for _ in range(2))
        merged = self.admin.post(self.url(f"contacts/{target}/merge"), json={"source_ids": [source]})
        assert merged.status_code == 200, merged.text
        upload = self.users["berlin agent"].post(
            self.url("documents"), files={"file": ("quote.txt", b"Quote\n", "text/plain")}, data={"kind": "quote"}
        )
        assert upload.status_code == 201, upload.text
        imported = self.users["berlin agent"].post(
            self.url("contacts/import"),
            data=f"first_name,email\nImported,imported-{tag}@example.com\n".encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
        field = {"key": f"size{tag}", "label": "Size", "type": "number"}
        assert self.admin.post(self.url("contact-fields"), json=field).status_code == 201
        return {
            "contact": contact,
            "merge": merged.json()["merge_id"],
            "merge_target": target,
            "import": imported.json()["import_id"],
            "company": self.create("companies", {"name": f"Berlin Motors {tag}", **here}),
            "document": upload.json()["id"],
            "plan": self.create("plans", {"metric": "contacts_created", "period": "2026-03", "value": "5", **here}),
            "sla_policy": self.create(
                "sla-policies", {"targets": {"low": 4800, "normal": 2400, "high": 480, "urgent": 60}, **here}
            ),
            "department": self.berlin,
            "user": self.user_ids["berlin agent"],
            "field": f"size{tag}",
            "interaction": self.create(
                "interactions",
                {"channel": "call", "direction": "inbound", "occurred_at": "2026-03-10T10:00:00Z", "user_id": None}
                | about,
            ),
            "ticket": self.create("tickets", {"subject": "Late", "priority": "normal", **about}),
            "deal": self.create(
                "deals", {"title": "Engines", "amount": "100", "currency": "EUR", "owner_id": None, **about}
            ),
            "task": self.create("tasks", {"title": "Call back", "assignee_id": None, **about}),
            "campaign": self.create("campaigns", {"name": "Spring", "owner_id": None, **here}),
        }
