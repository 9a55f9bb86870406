"""What an architecture declares to the registry, and the config behaviour every network shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lwirst.config import ConfigFields  # noqa: F401  (re-exported: architectures subclass it)

if TYPE_CHECKING:
    from torch import nn


class NetworkConfig(Protocol):
    """What the registry, checkpoints and inference need of an architecture's config dataclass."""

    in_channels: int

    def to_dict(self) -> dict[str, Any]: ...

    def to_json(self) -> str: ...


@dataclass(frozen=True)
class Architecture:
    """One registered network.

    module: the torch module class, built as ``module(config)``; it maps N x C x H x W
        normalised RGB (H, W multiples of 8) to N x 1 x H x W logits and keeps ``.config``.
    config: its frozen config dataclass (``from_dict``/``from_json``/``to_dict``/``to_json``).
    Export-time rewrites that need a particular structure (input folding needs LW-IRSTNet's
    stage 1) check the module itself and are skipped for networks without it.
    """

    name: str
    label: str
    module: type[nn.Module]
    config: type
    reference: str = ""
