"""Targets: where AWS calls go (``base.py``) and, one module each, how a place is brought up, checked and
torn down (``local.py``, ``compose.py``, ``aws.py``). ``registry.py`` lists them; adding a target is its
own module plus one line there.

This package's ``__init__`` imports nothing, so the modules below the targets (teardown, deploy, ...) can
import :mod:`harness.targets.base` without pulling in every target's lifecycle.
"""
