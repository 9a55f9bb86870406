"""Strict JSON for every file and line lwirst writes: non-finite floats become ``null``.

Python's `json` writes NaN and ±Infinity as bare ``NaN``/``Infinity`` tokens, which strict
parsers (JavaScript's ``JSON.parse``, jq, most browsers' viewers) reject. Writers call
`dumps` (or `finite` before their own `json.dumps`); a metric that is undefined (e.g. the
empty-frame alarm rate of a split without empty frames) is then ``null``. Readers that
expect numbers turn ``null`` back into NaN with `nan_for_null`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite(data: Any) -> Any:
    """A copy of JSON-like `data` (dicts, lists, tuples, numbers, numpy scalars) with every NaN or infinite float
    as None."""
    if isinstance(data, bool | int):
        return data
    if isinstance(data, np.integer | np.bool_):  # numpy scalars, which json refuses, as Python's
        return data.item()
    if isinstance(data, float | np.floating):
        return float(data) if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


def dumps(data: Any, **kwargs: Any) -> str:
    """`json.dumps` of `finite(data)`: never a bare NaN/Infinity token (`allow_nan=False` makes sure)."""
    return json.dumps(finite(data), allow_nan=False, **kwargs)


def nan_for_null(data: Any) -> Any:
    """A copy of read JSON with every None (a number written as null) as NaN, inside dicts and lists."""
    if data is None:
        return float("nan")
    if isinstance(data, dict):
        return {key: nan_for_null(value) for key, value in data.items()}
    if isinstance(data, list):
        return [nan_for_null(value) for value in data]
    return data
