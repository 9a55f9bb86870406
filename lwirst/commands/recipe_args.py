"""argparse types for the `Recipe` override options shared by `lwirst train` and `lwirst sweep`:
finite numbers within a sane range, booleans parsed strictly."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from lwirst.validate import number, strict_bool

# field -> (lower, upper, lower bound open); anything not listed: a finite number >= 0.
RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (0.0, 10.0, True),
    "momentum": (0.0, 1.0, False),
    "weight_decay": (0.0, 1.0, False),
    "poly_power": (0.0, 100.0, False),
    "warmup_epochs": (0, 100_000, False),
    "epochs": (1, 100_000, False),
    "batch_size": (1, 4096, False),
    "size": (8, 4096, False),
    "scale_min": (0.0, 100.0, True),
    "scale_max": (0.0, 100.0, True),
    "gain": (0.0, 0.999, False),
    "ema_decay": (0.0, 0.9999, False),
    "implant": (0.0, 10.0, False),  # shares per real frame, as `Recipe.validate` bounds them
    "synthetic": (0.0, 10.0, False),
    "negatives": (0.0, 10.0, False),
    "mosaic": (0.0, 10.0, False),
    "hard": (0.0, 10.0, False),
    "upscale": (0.0, 1.0, False),  # probabilities
    "hard_implant": (0.0, 1.0, False),
    "colour": (0.0, 1.0, False),
    "noise": (0.0, 1.0, False),
    "seed": (0, 2**32 - 1, False),
}


def _multiple_of_8(read: Callable[[str], object]) -> Callable[[str], object]:
    """`read`, refusing a value that is not a multiple of 8 (the training size: the network halves it three times)."""
    def checked(text: str) -> object:
        value = read(text)
        if isinstance(value, int) and value % 8:
            raise argparse.ArgumentTypeError(f"{value} is not a multiple of 8")
        return value
    return checked


def field_type(field: dataclasses.Field) -> tuple[Callable[[str], object], str | None]:
    """(argparse type, metavar) for one Recipe field."""
    kind = str(field.type)
    if field.type is bool or kind == "bool":
        return strict_bool, "BOOL"
    if kind in ("int", "float"):
        lo, hi, lo_open = RANGES.get(field.name, (0.0, 1e9, False))
        read = number(int if kind == "int" else float, lo=lo, hi=hi, lo_open=lo_open)
        return (_multiple_of_8(read) if field.name == "size" else read), None
    return str, None
