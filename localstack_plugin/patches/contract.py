"""Check every patch's ``REPLACES`` table against the installed LocalStack; prints one JSON object.

Run with LocalStack's interpreter (``<localstack venv>/bin/python -m localstack_plugin.patches.contract``):
the project's own venv has no LocalStack. For each patch module of this package it reports, per
replaced object, the signature the patch expects and the one found (or why it could not be found), and
the ``localstack.hooks.on_infra_start`` entry points that point into the module.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import pkgutil
from importlib import metadata
from typing import Any

from localstack_plugin import patches

HOOK_GROUP = "localstack.hooks.on_infra_start"
NOT_PATCHES = {"contract"}


def patch_modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.iter_modules(patches.__path__) if info.name not in NOT_PATCHES
    )


def check_module(name: str) -> dict[str, Any]:
    module = importlib.import_module(f"{patches.__name__}.{name}")
    rows: list[dict[str, Any]] = []
    for row in getattr(module, "REPLACES", ()):
        entry: dict[str, Any] = {"module": row.module, "attribute": row.attribute, "expected": row.signature}
        try:
            obj = functools.reduce(getattr, row.attribute.split("."), importlib.import_module(row.module))
            # A replaced constant has no signature: its value stands in for one ("= '...'").
            entry["found"] = str(inspect.signature(obj)) if callable(obj) else f"= {obj!r}"
        except Exception as exc:  # a missing module or attribute is exactly what this reports
            entry["found"] = None
            entry["problem"] = f"{type(exc).__name__}: {exc}"
        rows.append(entry)
    hooks = [
        ep.name
        for ep in metadata.entry_points(group=HOOK_GROUP)
        if ep.value.startswith(f"{module.__name__}:")
    ]
    return {"replaces": rows, "hooks": hooks}


def main() -> None:
    print(json.dumps({name: check_module(name) for name in patch_modules()}))


if __name__ == "__main__":
    main()
