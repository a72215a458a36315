"""The List* operations, declared once: filter, sort and paginate any collection of resources.

Every SageMaker List* call takes the same parameters (NameContains, StatusEquals, Creation- and
LastModifiedTime bounds, SortBy, SortOrder, MaxResults, NextToken) and answers one list of
summaries plus a NextToken. :func:`listing` turns a (collection, result key) pair into the backend
method, so a new List* operation is one line in ``backend.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sagemaker_emulator.errors import ValidationException

DEFAULT_MAX_RESULTS = 10
_BOUNDS = (
    ("CreationTimeAfter", "created", True),
    ("CreationTimeBefore", "created", False),
    ("LastModifiedTimeAfter", "last_modified", True),
    ("LastModifiedTimeBefore", "last_modified", False),
)
_SORT_KEYS = {"Name": "name", "CreationTime": "created", "Status": "status"}


def page(
    items: list[Any], params: dict[str, Any], default_max: int = DEFAULT_MAX_RESULTS
) -> tuple[list[Any], str | None]:
    """Slice a sorted list by NextToken/MaxResults; tokens are opaque offsets."""
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except ValueError as exc:
            raise ValidationException("Invalid pagination token") from exc
    size = int(params.get("MaxResults") or default_max)
    chunk = items[start : start + size]
    nxt = start + size
    token = base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(items) else None
    return chunk, token


def filter_sort(items: list[Any], params: dict[str, Any]) -> list[Any]:
    """The common filters, then SortBy/SortOrder (AWS defaults: CreationTime, Descending)."""
    if params.get("NameContains"):
        items = [i for i in items if params["NameContains"] in i.name]
    if params.get("StatusEquals"):
        items = [i for i in items if getattr(i, "status", "") == params["StatusEquals"]]
    for key, attr, after in _BOUNDS:
        bound = params.get(key)
        if bound is not None:
            items = [i for i in items if (getattr(i, attr) > bound if after else getattr(i, attr) < bound)]
    attr = _SORT_KEYS.get(params.get("SortBy") or "CreationTime", "created")
    descending = (params.get("SortOrder") or "Descending") == "Descending"
    return sorted(items, key=lambda i: getattr(i, attr, ""), reverse=descending)


def listing(collection: str, result_key: str) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """A backend method answering a List* call from ``backend.<collection>`` (a dict of resources)."""

    def list_resources(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
        with backend.lock:
            items = list(getattr(backend, collection).values())
        chunk, token = page(filter_sort(items, params), params)
        return {result_key: [i.summary() for i in chunk], "NextToken": token}

    list_resources.__doc__ = f"List* over ``{collection}``, answered as ``{result_key}``."
    return list_resources
