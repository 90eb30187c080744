"""Each service's wire contract as a committed file, so that the gateway needs none of its code.

`python -m crm_kernel.contracts <service>` writes `contracts/<service>.json`: the OpenAPI schema object
of every marshmallow schema defined in the service's schema modules (`<service>.schemas`, and any
`<service>.*_schemas`), keyed by class name, nested schemas as `#/components/schemas/<ClassName>`, and
the named values beside them (enums, sort columns, patterns: upper-case names bound to text, numbers
or lists of them). Each schema object states the kernel's own rules too: an id is at most
`ID_LENGTH` characters (`StrictSchema` refuses a longer one), a time zone is the `TimeZone`
component (the zones the kernel accepts). A rule between fields that JSON Schema can state (`anyOf`,
`allOf`) is the schema class's `openapi_rules`, written beside the validator it describes. The
gateway reads these files with `read`; a unit test regenerates every file and fails when a committed
one differs.
"""

import copy
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema, fields

from crm_kernel.config import ROOT
from crm_kernel.schemas import ID_LENGTH, TIME_ZONE_COMPONENT, StrictSchema, TimeZone

CONTRACTS_DIR = ROOT / "contracts"
OPENAPI_VERSION = "3.0.3"


def path_of(service: str) -> Path:
    return CONTRACTS_DIR / f"{service}.json"


def read(service: str) -> dict:
    """The committed contract of `service`."""
    return json.loads(path_of(service).read_text(encoding="utf-8"))


def schema_modules(service: str) -> list:
    package = importlib.import_module(service)
    names = sorted(
        found.name
        for found in pkgutil.iter_modules(package.__path__)
        if found.name == "schemas" or found.name.endswith("_schemas")
    )
    return [importlib.import_module(f"{service}.{name}") for name in names]


def _is_value(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str | int | float):
        return True
    return isinstance(value, tuple | list) and all(isinstance(item, str | int) for item in value)


def schema_objects(classes: list[type[Schema]]) -> dict:
    """The OpenAPI schema object of each of `classes`, keyed by class name; a nested schema is a
    `$ref` to `#/components/schemas/<ClassName>` (and among the objects)."""
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: resolve_schema_cls(schema).__name__)
    spec = APISpec(title="contract", version="1", openapi_version=OPENAPI_VERSION, plugins=[plugin])
    for schema_cls in classes:
        if schema_cls.__name__ not in spec.components.schemas:
            spec.components.schema(schema_cls.__name__, schema=schema_cls)
    objects = spec.to_dict()["components"]["schemas"]
    for schema_cls in classes:
        if issubclass(schema_cls, StrictSchema):
            _state_id_lengths(schema_cls(), objects[schema_cls.__name__])
        _refer_to_components(schema_cls, objects[schema_cls.__name__], objects)
        objects[schema_cls.__name__].update(copy.deepcopy(getattr(schema_cls, "openapi_rules", {})))
    return objects


def _refer_to_components(schema_cls: type[Schema], described: dict, objects: dict) -> None:
    """A field whose kind is a component of its own (`TimeZone`: the zone database, 600 names) is a
    `$ref` to it, the component among `objects`; what the field adds (nullable, a default) stays
    beside it in an `allOf`, since OpenAPI 3.0 ignores the siblings of a `$ref`."""
    for name, field in schema_cls().fields.items():
        key = field.data_key or name
        if isinstance(field, TimeZone) and key in described.get("properties", {}):
            objects[TimeZone.component] = copy.deepcopy(TIME_ZONE_COMPONENT)
            reference = {"$ref": f"#/components/schemas/{TimeZone.component}"}
            extras = {k: v for k, v in described["properties"][key].items() if k != "type"}
            described["properties"][key] = {"allOf": [reference], **extras} if extras else reference


def _state_id_lengths(schema: Schema, described: dict) -> None:
    """`maxLength` on every id a client sends as plain text (lists of ids separated by commas, which
    are checked id by id, are other fields)."""
    for name, field in schema.fields.items():
        key = field.data_key or name
        is_id = key == "id" or key.endswith("_id")
        if is_id and type(field) is fields.String and not field.dump_only:
            stated = described["properties"][key]
            stated["maxLength"] = min(stated.get("maxLength", ID_LENGTH), ID_LENGTH)


def generate(service: str) -> dict:
    """The contract of `service` as its schema modules define it now."""
    classes, values = [], {}
    for module in schema_modules(service):
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == module.__name__
            if isinstance(value, type) and issubclass(value, Schema) and defined_here:
                classes.append(value)
            elif name.isupper() and _is_value(value):
                values[name] = list(value) if isinstance(value, tuple | list) else value
    # By name: the same contract however the service splits its schema modules.
    classes.sort(key=lambda schema_cls: schema_cls.__name__)
    return {
        "service": service,
        "openapi": OPENAPI_VERSION,
        "schemas": schema_objects(classes),
        "values": dict(sorted(values.items())),
    }


def dumps(contract: dict) -> str:
    """The file's text: stable, so that a regenerated contract compares equal to the committed one."""
    return json.dumps(contract, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m crm_kernel.contracts SERVICE [SERVICE ...]", file=sys.stderr)
        return 2
    CONTRACTS_DIR.mkdir(exist_ok=True)
    for service in argv:
        path_of(service).write_text(dumps(generate(service)), encoding="utf-8")
        print(f"wrote {path_of(service).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
