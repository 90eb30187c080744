"""Who the users are, as far as contacts needs: each user's department, from the gateway's events.

Each handler is idempotent by `event_id` and is redelivered until it succeeds.
"""

from contacts.models import ProcessedEvent, UserReplica
from crm_kernel.events import event_consumer
from crm_kernel.outbox import apply_once


def on(event_type: str):
    return event_consumer("gateway", event_type)


class UserReplicas:
    @on("user.created")
    def on_user_created(self, event):
        self._replicate_user(event)

    @on("user.updated")
    def on_user_updated(self, event):
        self._replicate_user(event)

    @on("user.deleted")
    def on_user_deleted(self, event):
        self._replicate_user(event, deleted=True)

    def _replicate_user(self, event: dict, deleted: bool = False) -> None:
        def change(event: dict) -> None:
            entity = event["entity"]
            user = self.db.get(UserReplica, entity["id"]) or UserReplica(id=entity["id"])
            user.department_id = entity.get("department_id")
            user.active = bool(entity.get("active", True)) and not deleted
            self.db.add(user)

        apply_once(self.db, ProcessedEvent, event, change, self.name)
