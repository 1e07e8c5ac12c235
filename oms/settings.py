"""Typed settings from environment variables (set by the CDK app on each function)."""

import os


class MissingSetting(RuntimeError):
    pass


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise MissingSetting(f"environment variable {name} is not set")
    return value


def warehouses() -> list[str]:
    return [w.strip() for w in setting("WAREHOUSES", "wh-east,wh-west").split(",") if w.strip()]
