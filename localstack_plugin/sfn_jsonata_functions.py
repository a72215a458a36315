"""Step Functions' own JSONata functions, as jsonata-python native functions with JSONata signatures.

AWS adds ``$partition``, ``$range``, ``$hash``, ``$random`` (with an optional seed), ``$uuid`` and
``$parse`` to JSONata. Declared as native functions, a wrong argument fails with JSONata's ``T0410``
as on AWS. Two behaviours follow AWS's recorded histories (LocalStack's AWS-validated snapshots,
``tests/aws/services/stepfunctions/v2/intrinsic_functions/test_array_jsonata.snapshot.json``):

* ``$range`` returns a JSONata *sequence*, so JSONata collapses a one-item result to the item and an
  empty one to undefined: ``$range(1, 9, 9)`` is ``1``; ``[$range(1, 9, 9)]`` keeps ``[1]``.
* ``$partition`` returns an array, never collapsed: ``$partition([0], 1)`` is ``[[0]]``.

An undefined argument (``$range($nothing, 3, 1)``) gives undefined, as JSONata's built-in functions
do, instead of a Python ``TypeError``.

Imported by ``patches/sfn_jsonata.py`` inside LocalStack's venv, where jsonata-python is installed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from typing import Any

HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
# AWS caps States.ArrayRange (and $range) at 1000 items.
RANGE_LIMIT = 1000


def _sfn_error(message: str) -> Exception:
    from jsonata.jexception import JException

    return JException("D3137", -1, message)  # the code of $error(): an error a function raised


def _sequence(items: list[Any]) -> list[Any]:
    from jsonata.utils import Utils

    return Utils.create_sequence_from_iter(items)


def number(value: Any) -> Any:
    """An integral double as an int (JSONata numbers are doubles; AWS writes 2.0 as ``2``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def _partition(array: Any, size: Any) -> list[Any] | None:
    if array is None or size is None:
        return None
    if not isinstance(array, list):
        array = [array]
    if not isinstance(size, (int, float)) or size != int(size) or size <= 0:
        raise _sfn_error(f"The chunk size of $partition must be a positive integer, got {size!r}")
    size = int(size)
    return [list(array[i : i + size]) for i in range(0, len(array), size)]


def _range(first: Any, last: Any, step: Any) -> list[Any] | None:
    if first is None or last is None or step is None:
        return None
    if step == 0:
        raise _sfn_error("The step of $range cannot be 0")
    count = math.floor((last - first) / step) + 1
    if count <= 0:
        return _sequence([])
    if count > RANGE_LIMIT:
        raise _sfn_error(f"$range would return {count} items; at most {RANGE_LIMIT} are allowed")
    return _sequence([number(first + i * step) for i in range(count)])


def _hash(value: Any, algorithm: Any) -> str | None:
    if value is None:
        return None
    name = HASH_ALGORITHMS.get(algorithm)
    if name is None:
        raise _sfn_error(
            f"Unsupported hashing algorithm {algorithm!r}; use one of {', '.join(HASH_ALGORITHMS)}"
        )
    return hashlib.new(name, str(value).encode()).hexdigest()


def _random(seed: Any = None) -> float:
    if seed is None:
        return random.random()
    return random.Random(seed).random()


def _uuid() -> str:
    return str(uuid.uuid4())


def _parse(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise _sfn_error(f"$parse could not parse its argument as JSON: {exc}") from exc


# name -> (implementation, JSONata signature)
SFN_FUNCTIONS: dict[str, tuple[Any, str]] = {
    "partition": (_partition, "<a-n:a>"),
    "range": (_range, "<nnn:a<n>>"),
    "hash": (_hash, "<s-s:s>"),
    "random": (_random, "<n?:n>"),
    "uuid": (_uuid, "<:s>"),
    "parse": (_parse, "<s-:x>"),
}

_bindings: dict[str, Any] | None = None


def bindings() -> dict[str, Any]:
    """The functions as jsonata-python bindings (built once)."""
    global _bindings
    if _bindings is None:
        from jsonata import signature
        from jsonata.jsonata import Jsonata

        built = {}
        for name, (implementation, sig) in SFN_FUNCTIONS.items():
            function = Jsonata.JFunction(Jsonata.JLambda(implementation), None)
            function.signature = signature.Signature(sig, name)
            function.function_name = name
            built[name] = function
        _bindings = built
    return _bindings
