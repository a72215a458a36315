"""``python -m harness`` runs the CLI (the same as the ``harness`` console script)."""

from harness.main import main

main()
