"""Numbers as results show them: floats rounded to significant digits for the JSON files results are
shared in, and parameter and FLOP counts as cards print them.

Rounding to decimal places (`round(v, 6)`) turns a false-alarm rate of 3.6123e-05 into
3.6e-05; significant digits keep every metric's precision whatever its scale.
"""

from __future__ import annotations

import math

import numpy as np

DIGITS = 6


def significant(value: float, digits: int = DIGITS) -> float:
    """`value` rounded to `digits` significant digits (0, inf and NaN unchanged)."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def round_floats(data: object, digits: int = DIGITS) -> object:
    """A copy of JSON-like `data` (dicts, lists, tuples, numbers) with every float at `digits` significant digits."""
    if isinstance(data, bool | int | np.integer):
        return data
    if isinstance(data, float | np.floating):
        return significant(data, digits)
    if isinstance(data, dict):
        return {key: round_floats(value, digits) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [round_floats(value, digits) for value in data]
    return data


def span_text(low: float, high: float) -> str:
    """A range of values to three digits of its width: "7000 to 16383", "1000 to 1000.02" (six significant
    digits read 1000.01 to 1000.02), trailing zeros dropped."""
    decimals = 0 if high <= low else min(12, max(0, 2 - math.floor(math.log10(high - low))))

    def fixed(value: float) -> str:
        text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    return f"{fixed(low)} to {fixed(high)}"


def count_text(count: int, noun: str) -> str:
    """A count and its noun, "1 target", "2 targets" (nouns that take an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def params_text(count: int, decimals: int = 4) -> str:
    """A parameter count as cards print it: millions ("0.1632 M", as every view prints it: Home said "0.163 M"
    where Evaluate and Compare said "0.1632 M"), or the exact count for a network
    too small to show in millions at `decimals` (a 297-parameter test network is "297", not "0.0000 M")."""
    if count >= 10 ** (6 - decimals) * 10:
        return f"{count / 1e6:.{decimals}f} M"
    return f"{count:,}"


def flops_text(flops: float | None) -> str:
    """FLOPs in M below 1e9, else in G ("303.5 M", "6.07 G"); "n/a" when unknown."""
    if not flops:
        return "n/a"
    return f"{flops / 1e9:.2f} G" if flops >= 1e9 else f"{flops / 1e6:.1f} M"


def rate_text(fps: float | None) -> str:
    """A frame rate as cards print it: one decimal ("12.3"), two significant digits under one frame per second
    ("0.042": at one decimal a slow machine's 0.04 read "0.0", as if nothing ran), "n/a" when unknown."""
    if fps is None or not math.isfinite(fps) or fps <= 0:
        return "n/a"
    rounded = float(f"{fps:.2g}")
    return f"{fps:.1f}" if rounded >= 1 else f"{rounded:#.2g}"  # 0.999 reads "1.0", 0.0999 "0.10"
