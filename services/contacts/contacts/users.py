"""Who the users are, as far as contacts needs: each user's department and whether they are active,
replicated from the gateway's `user.*` events (the consumers are in `service.py`). The owner rule
(`placement.refused_owners`) reads it."""

from contacts.models import UserReplica


def replicate(db, event: dict, deleted: bool = False) -> None:
    entity = event["entity"]
    user = db.get(UserReplica, entity["id"]) or UserReplica(id=entity["id"])
    user.department_id = entity.get("department_id")
    user.active = bool(entity.get("active", True)) and not deleted
    db.add(user)
