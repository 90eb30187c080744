"""Create the first admin from `CRM_ADMIN_EMAIL` / `CRM_ADMIN_PASSWORD`: `python -m gateway.bootstrap`."""

import sys

from sqlalchemy.orm import Session

from crm_kernel.config import database_url, env
from crm_kernel.context import ACTOR
from crm_kernel.db import get_engine
from crm_kernel.outbox import OutboxRecorder
from gateway.identity import ensure_admin
from gateway.models import OutboxEvent

DEMO_EMAIL = "admin@example.com"
DEMO_PASSWORD = "demo-admin-password"  # noqa: S105 - printed as a demo credential, local runs only


def main() -> int:
    email = env("CRM_ADMIN_EMAIL", DEMO_EMAIL)
    password = env("CRM_ADMIN_PASSWORD", DEMO_PASSWORD)
    with Session(get_engine(database_url("gateway"))) as session:
        created = ensure_admin(session, email, password, OutboxRecorder(OutboxEvent, {ACTOR: "system"}))
    if created and password == DEMO_PASSWORD:
        print(f"admin created with demo credentials: {email} / {password} (set CRM_ADMIN_PASSWORD in production)")
    elif created:
        print(f"admin created: {email}")
    else:
        print(f"admin {email} exists already")
    return 0


if __name__ == "__main__":
    sys.exit(main())
