"""Every patch of LocalStack's internals, one module per patch, all pinned to one LocalStack version.

A patch replaces a function or attribute that LocalStack does not offer as an extension point, so it is
only valid for the version it was written against. Each patch calls :func:`require_localstack_version`
before it applies, so a LocalStack upgrade fails loudly at start instead of running half-patched.

A patch module declares what it replaces in a ``REPLACES`` table of :class:`Replaces` rows (module,
attribute, the signature it had on :data:`LOCALSTACK_VERSION`), and calls :func:`applied` once it is in
place. One parametrized contract test (``tests/e2e/test_localstack_patches.py``) reads every module's
table through :mod:`localstack_plugin.patches.contract` in LocalStack's own venv, and checks in a
running LocalStack that the patch's hook was loaded and applied. A new patch needs nothing but its table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata

LOCALSTACK_VERSION = "4.9.2"


# The line :func:`applied` logs; the contract test looks for it in a running LocalStack's log.
APPLIED_MESSAGE = "localstack_plugin: patch %s applied"
LOG = logging.getLogger("localstack_plugin.patches")


@dataclass(frozen=True)
class Replaces:
    """One object of LocalStack (or its moto) a patch replaces or calls, with the signature it expects."""

    module: str
    attribute: str  # may be dotted: "Class.method"
    signature: str  # str(inspect.signature(original)) on LOCALSTACK_VERSION


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


def applied(patch: str) -> None:
    """Say (in LocalStack's log, at WARNING so every log level shows it) that ``patch`` is in place."""
    LOG.warning(APPLIED_MESSAGE, patch)
