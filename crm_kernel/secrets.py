"""Secrets from the environment: outside local development a weak or published placeholder is refused.

`CRM_ENVIRONMENT` says where a process runs: `development` (the default, for `make run` and the
tests) or anything else, such as `production` (the image sets it; only the dev overlay sets it back).
"""

from crm_kernel.config import env

MIN_BYTES = 32
# The throw-away values this project publishes (dev overlay, examples), in any case.
PLACEHOLDER_PREFIXES = ("dev-only-", "replace-", "change-me", "changeme")


class WeakSecret(RuntimeError):
    """A secret a process must not start with; the message says which and why."""


def development() -> bool:
    return env("CRM_ENVIRONMENT", "development").strip().lower() == "development"


def is_placeholder(value: str) -> bool:
    return any(value.lower().startswith(prefix) for prefix in PLACEHOLDER_PREFIXES)


def weakness(value: str) -> str | None:
    """Why `value` is not a secret to run with (None when it is)."""
    if is_placeholder(value):
        return "is a placeholder published with the project"
    if len(value.encode()) < MIN_BYTES:
        return f"is {len(value.encode())} bytes long; at least {MIN_BYTES} are needed"
    return None


def required_secret(name: str) -> str | None:
    """The environment variable `name`; outside development it must be set and strong (WeakSecret
    otherwise). In development it may be missing (None) or weak."""
    value = env(name, "")
    if development():
        return value or None
    if not value:
        raise WeakSecret(f"{name} is not set; generate one with `openssl rand -hex 32`")
    why = weakness(value)
    if why:
        raise WeakSecret(
            f"{name} {why} (CRM_ENVIRONMENT={env('CRM_ENVIRONMENT', '')}); generate one with `openssl rand -hex 32`"
        )
    return value
