"""Where a caller may put contacts and companies (who sees them is `crm_kernel.scope.visible`)."""

from crm_kernel.scope import Scope


def placement_errors(scope: Scope | None, fields: dict) -> dict:
    """`department_id` refused when it is a department the caller may not put records in (a record with
    no department is left to its owner). Used by the API and by the CSV import alike."""
    department_id = fields.get("department_id")
    if department_id and scope is not None and not scope.may_place(department_id):
        return {"department_id": ["not a department you may assign records to"]}
    return {}
