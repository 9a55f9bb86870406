"""What the lazy registries (models, backends, metrics) share: name lookup with a hint, loading an entry
from its module only when it is first asked for, so listing names stays free of heavy imports, and the plugins
installed packages declare in their entry points, so a package extends lwirst without editing it."""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any

from lwirst.errors import LwirstError

# Entry-point groups an installed package declares its plugins in (pyproject.toml):
#   [project.entry-points."lwirst.architectures"]
#   tiny = "mypkg.tinynet"        # a module defining ARCHITECTURE named "tiny"
ARCHITECTURES, BACKENDS, METRICS = "lwirst.architectures", "lwirst.backends", "lwirst.metrics"


@functools.cache
def installed(group: str) -> dict[str, str]:
    """Name -> module of the plugins installed packages declare for `group` (read once per process: a plugin
    installed later needs a restart, as any new package does). A value must name a module, not an attribute."""
    found: dict[str, str] = {}
    for entry in importlib.metadata.entry_points(group=group):
        if ":" in entry.value:
            raise LwirstError(f"entry point {entry.name} = {entry.value!r} in group {group}: name the module only "
                              f"(e.g. {entry.value.split(':')[0]!r}); lwirst reads its registry attribute itself")
        if entry.name in found and found[entry.name] != entry.value:
            raise LwirstError(f"two installed packages declare {entry.name!r} in {group}: {found[entry.name]} and "
                              f"{entry.value}; uninstall one")
        found[entry.name] = entry.value
    return found


def with_installed(built_in: Mapping[str, str], group: str, kind: str) -> dict[str, str]:
    """A registry's built-in name -> module table, then its installed plugins; a plugin may not take a built-in
    name (it would silently replace what every result so far was computed with)."""
    plugins = installed(group)
    if taken := sorted(set(plugins) & set(built_in)):
        raise LwirstError(f"an installed package declares the {kind} {', '.join(map(repr, taken))} in {group}, a "
                          f"built-in name; give it another name")
    return {**built_in, **plugins}


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
