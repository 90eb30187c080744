"""Custom field definitions (`/contact-fields`): what contacts' `attributes` may carry."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contacts.models import FieldDefinition
from contacts.schemas import FieldDefinitionSchema
from crm_kernel.errors import Conflict, NotFound, ValidationFailed
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load


class FieldDefinitionsRpc:
    @rpc
    def create_field_definition(self, data: dict) -> dict:
        definition = FieldDefinition(**load(FieldDefinitionSchema(), data))
        self.db.add(definition)
        try:
            self.db.flush()
        except IntegrityError:
            self.db.rollback()
            raise Conflict(f"a custom field {definition.key!r} exists", {"key": ["already defined"]}) from None
        dumped = FieldDefinitionSchema().dump(definition)
        self.outbox.add(self.db, "contact_field.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def list_field_definitions(self) -> dict:
        rows = self.db.scalars(select(FieldDefinition).order_by(FieldDefinition.key)).all()
        return {"items": FieldDefinitionSchema(many=True).dump(rows), "next_cursor": None}

    @rpc
    def get_field_definition(self, key: str) -> dict:
        return FieldDefinitionSchema().dump(self._definition(key))

    @rpc
    def update_field_definition(self, key: str, changes: dict) -> dict:
        """Change a definition's label, requiredness or choices; its key and type stay (values depend on them)."""
        definition = self._definition(key)
        fields = load(FieldDefinitionSchema(), changes, partial=True)
        fixed = {name: ["cannot change; define a new field"] for name in ("key", "type") if name in fields}
        if fixed:
            raise ValidationFailed("a custom field keeps its key and type", fixed)
        choices = fields.get("choices", definition.choices)
        if (definition.type == "choice") != bool(choices):
            raise ValidationFailed("only a choice field has choices, and it needs them", {"choices": ["wrong"]})
        before = FieldDefinitionSchema().dump(definition)
        for name in fields:
            setattr(definition, name, fields[name])
        self.db.flush()
        dumped = FieldDefinitionSchema().dump(definition)
        changed = {n: [before[n], dumped[n]] for n in fields if before[n] != dumped[n]}
        if changed:
            self.outbox.add(self.db, "contact_field.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_field_definition(self, key: str) -> None:
        """Contacts keep values of a deleted field until they are next changed; new values are refused."""
        definition = self._definition(key)
        self.outbox.add(self.db, "contact_field.deleted", FieldDefinitionSchema().dump(definition))
        self.db.delete(definition)
        self.db.commit()

    def field_definitions(self) -> dict[str, dict]:
        rows = self.db.scalars(select(FieldDefinition)).all()
        return {row.key: {"type": row.type, "required": row.required, "choices": row.choices} for row in rows}

    def _definition(self, key: str) -> FieldDefinition:
        definition = self.db.scalar(select(FieldDefinition).where(FieldDefinition.key == key))
        if definition is None:
            raise NotFound(f"custom field {key} not found")
        return definition
