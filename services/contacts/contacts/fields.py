"""Custom fields: the definitions an admin manages, and checking a contact's `attributes` against them."""

from datetime import date

from crm_kernel.errors import ValidationFailed

FIELD_TYPES = ("text", "number", "date", "choice", "bool")


def _check(definition: dict, value) -> str | None:
    """What is wrong with `value` for `definition`, or None."""
    kind = definition["type"]
    if kind == "text":
        return None if isinstance(value, str) and len(value) <= 2000 else "must be text (at most 2000 characters)"
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "date":
        try:
            date.fromisoformat(value if isinstance(value, str) and len(value) == 10 else "")
        except ValueError:
            return "must be a date such as 2026-11-30"
        return None
    if kind == "choice":
        choices = definition.get("choices") or []
        return None if value in choices else f"must be one of: {', '.join(map(str, choices))}"
    return f"has an unknown type {kind!r}"


def validate_attributes(definitions: dict[str, dict], attributes: dict, *, enforce_required: bool) -> dict:
    """`attributes` checked against `definitions` (by key); raises ValidationFailed naming `attributes.<key>`.

    A `None` value means "not set" and is dropped; required fields are enforced when the whole set of
    attributes is given (on create, or when a change replaces them).
    """
    errors = {}
    cleaned = {}
    for key, value in attributes.items():
        definition = definitions.get(key)
        if definition is None:
            errors[f"attributes.{key}"] = ["unknown custom field; an admin defines them at /contact-fields"]
        elif value is not None:
            problem = _check(definition, value)
            if problem:
                errors[f"attributes.{key}"] = [problem]
            else:
                cleaned[key] = value
    if enforce_required:
        for key, definition in definitions.items():
            if definition.get("required") and cleaned.get(key) in (None, "") and f"attributes.{key}" not in errors:
                errors[f"attributes.{key}"] = ["required"]
    if errors:
        raise ValidationFailed(f"invalid custom fields: {', '.join(sorted(errors))}", errors)
    return cleaned


TRUE_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def from_text(definition: dict, text: str):
    """A CSV cell as the value its field's type expects (left as text when it cannot be: the check names it)."""
    kind = definition["type"]
    if kind == "number":
        try:
            number = float(text.replace(",", ".")) if any(c in text for c in ".,eE") else int(text)
        except ValueError:
            return text
        return number
    if kind == "bool":
        return TRUE_WORDS.get(text.strip().lower(), text)
    return text
