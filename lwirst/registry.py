"""What the lazy registries (models, backends, metrics) share: name lookup with a hint, loading an entry
from its module only when it is first asked for, so listing names stays free of heavy imports, and the plugins
installed packages declare in their entry points, so a package extends lwirst without editing it."""

from __future__ import annotations

import difflib
import functools
import importlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lwirst.errors import LwirstError

log = logging.getLogger(__name__)

# Entry-point groups an installed package declares its plugins in (pyproject.toml):
#   [project.entry-points."lwirst.architectures"]
#   tiny = "mypkg.tinynet"        # a module defining ARCHITECTURE named "tiny"
ARCHITECTURES, BACKENDS, METRICS = "lwirst.architectures", "lwirst.backends", "lwirst.metrics"


@functools.cache
def installed(group: str) -> dict[str, str]:
    """Name -> module of the plugins installed packages declare for `group` (read once per process: a plugin
    installed later needs a restart, as any new package does). An entry naming an attribute ("mod:SPEC") counts as
    its module, since lwirst reads the registry attribute itself; a name two packages declare is left out, with a
    warning. Nothing here imports a plugin: one that fails to load fails only where it is asked for."""
    import importlib.metadata  # here, not at the top: the light modules that list registries stay light

    found: dict[str, str] = {}
    clashing: set[str] = set()
    for entry in importlib.metadata.entry_points(group=group):
        if entry.name in found and found[entry.name] != entry.module:
            clashing.add(entry.name)
        found[entry.name] = entry.module
    for name in sorted(clashing):
        log.warning("two installed packages declare %r in %s: it is left out; uninstall one", name, group)
    return {name: module for name, module in found.items() if name not in clashing}


def with_installed(built_in: Mapping[str, str], group: str, kind: str) -> dict[str, str]:
    """A registry's built-in name -> module table, then its installed plugins; a plugin that takes a built-in
    name is left out, with a warning (it would silently replace what every result so far was computed with)."""
    plugins = installed(group)
    for name in sorted(set(plugins) & set(built_in)):
        warn_once(f"an installed package declares the {kind} {name!r} in {group}, a built-in name: it is left out; "
                   "give it another name")
    return {**built_in, **{name: module for name, module in plugins.items() if name not in built_in}}


@functools.cache
def warn_once(message: str) -> None:
    """Log a warning once per process: a registry's listing runs on every command and dashboard rerun."""
    log.warning("%s", message)


def unknown(kind: str, name: str, known: Sequence[str], choose: str) -> LwirstError:
    """The one-line error for an unregistered `name`, with the closest known name as a hint."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return LwirstError(f"unknown {kind} {name!r}{hint}; {choose}")


def load_entry(module: str, attribute: str, name: str, fix: str) -> Any:
    """`module.attribute`, checked to register itself under `name`; a module that fails to import or
    lacks the attribute is named in a one-line error, an import error with the registry's advice `fix`
    (backends import their runtime inside functions; a model module imports torch at its top, rightly)."""
    try:
        loaded = importlib.import_module(module)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise LwirstError(f"{module} (registered as {name!r}) failed to import ({type(exc).__name__}: {reason}); "
                          f"{fix}") from exc
    entry = getattr(loaded, attribute, None)
    if entry is None:
        raise LwirstError(f"{module} (registered as {name!r}) defines no {attribute}")
    if entry.name != name:
        raise LwirstError(f"{module} registers {entry.name!r}, not {name!r}")
    return entry
