"""Deploy small zip functions (the pytest plugin's helper; the tests and benchmarks use the same one)."""

from harness.pytest_plugin.functions import (
    BROAD_POLICY,
    ROLE_ARN,
    ROLE_NAME,
    TRUST,
    deploy,
    ensure_role,
    iam_for,
    zip_source,
)

__all__ = ["BROAD_POLICY", "ROLE_ARN", "ROLE_NAME", "TRUST", "deploy", "ensure_role", "iam_for", "zip_source"]
