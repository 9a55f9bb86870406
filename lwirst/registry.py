"""What the lazy registries (models, backends) share: name lookup with a hint, and loading an entry
from its module only when it is first asked for, so listing names stays free of heavy imports."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from typing import Any

from lwirst.errors import LwirstError


def unknown(kind: str, name: str, known: Sequence[str], choose: str) -> LwirstError:
    """The one-line error for an unregistered `name`, with the closest known name as a hint."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return LwirstError(f"unknown {kind} {name!r}{hint}; {choose}")


def load_entry(module: str, attribute: str, name: str) -> Any:
    """`module.attribute`, checked to register itself under `name`; a module that fails to import or
    lacks the attribute is named in a one-line error."""
    try:
        loaded = importlib.import_module(module)
    except Exception as exc:
        raise LwirstError(f"{module} (registered as {name!r}) failed to import ({type(exc).__name__}: {exc}); "
                          "a registry module must import its runtime inside functions") from exc
    entry = getattr(loaded, attribute, None)
    if entry is None:
        raise LwirstError(f"{module} (registered as {name!r}) defines no {attribute}")
    if entry.name != name:
        raise LwirstError(f"{module} registers {entry.name!r}, not {name!r}")
    return entry
