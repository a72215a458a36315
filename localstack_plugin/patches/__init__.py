"""Every patch of LocalStack's internals, one module per patch, all pinned to one LocalStack version.

A patch replaces a function or attribute that LocalStack does not offer as an extension point, so it is
only valid for the version it was written against. Each patch calls :func:`require_localstack_version`
before it applies, so a LocalStack upgrade fails loudly at start instead of running half-patched, and
``tests/`` has a contract test per patch that checks the replaced object still exists with the
signature the patch expects.
"""

from __future__ import annotations

from importlib import metadata

LOCALSTACK_VERSION = "4.9.2"


class LocalStackVersionError(RuntimeError):
    """The running LocalStack is not the version the patches were written against."""


def require_localstack_version(patch: str) -> None:
    """Refuse to apply ``patch`` on any LocalStack but :data:`LOCALSTACK_VERSION`."""
    found = metadata.version("localstack-core")
    if found != LOCALSTACK_VERSION:
        raise LocalStackVersionError(
            f"patch {patch!r} of localstack_plugin is written for localstack-core {LOCALSTACK_VERSION}, "
            f"found {found}: update the patch (and its contract test) before upgrading LocalStack"
        )
