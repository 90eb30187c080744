"""Who the users are, as far as contacts needs: each user's department, from the gateway's events.

Each handler is applied once per `event_id` and is redelivered until it succeeds.
"""

from contacts.models import UserReplica
from crm_kernel.events import consumer


class UserReplicas:
    @consumer("gateway", "user.created")
    def on_user_created(self, event):
        replicate_user(self.db, event)

    @consumer("gateway", "user.updated")
    def on_user_updated(self, event):
        replicate_user(self.db, event)

    @consumer("gateway", "user.deleted")
    def on_user_deleted(self, event):
        replicate_user(self.db, event, deleted=True)


def replicate_user(db, event: dict, deleted: bool = False) -> None:
    entity = event["entity"]
    user = db.get(UserReplica, entity["id"]) or UserReplica(id=entity["id"])
    user.department_id = entity.get("department_id")
    user.active = bool(entity.get("active", True)) and not deleted
    db.add(user)
