"""Create the first admin from `CRM_ADMIN_EMAIL` / `CRM_ADMIN_PASSWORD`: `python -m gateway.bootstrap`.

Without `CRM_ADMIN_PASSWORD` the password is generated for this installation and printed once; only
its hash is stored. Outside development a published placeholder password is refused.
"""

import secrets
import sys

from sqlalchemy.orm import Session

from crm_kernel.config import database_url, env
from crm_kernel.context import ACTOR
from crm_kernel.db import get_engine
from crm_kernel.outbox import OutboxRecorder
from crm_kernel.secrets import development, is_placeholder
from gateway.identity import ensure_admin
from gateway.models import OutboxEvent

DEFAULT_EMAIL = "admin@example.com"


def main() -> int:
    email = env("CRM_ADMIN_EMAIL", DEFAULT_EMAIL)
    given = env("CRM_ADMIN_PASSWORD", "")
    if given and is_placeholder(given) and not development():
        print("CRM_ADMIN_PASSWORD is a placeholder published with the project; set a password of your own")
        return 1
    password = given or secrets.token_urlsafe(18)
    with Session(get_engine(database_url("gateway"))) as session:
        created = ensure_admin(session, email, password, OutboxRecorder(OutboxEvent, {ACTOR: "system"}))
    if created and not given:
        print(f"admin created: {email} / {password} (generated for this installation, shown only this once)")
    elif created:
        print(f"admin created: {email}")
    else:
        print(f"admin {email} exists already")
    return 0


if __name__ == "__main__":
    sys.exit(main())
