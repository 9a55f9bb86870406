"""What an architecture declares to the registry, and the config behaviour every network shares."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from lwirst.errors import LwirstError

if TYPE_CHECKING:
    from torch import nn


class NetworkConfig(Protocol):
    """What the registry, checkpoints and inference need of an architecture's config dataclass."""

    in_channels: int

    def to_dict(self) -> dict[str, Any]: ...

    def to_json(self) -> str: ...


class ConfigFields:
    """JSON round trip for a frozen config dataclass; unknown fields are refused so a typo in a
    config file or a checkpoint from another architecture fails loudly instead of being ignored."""

    TUPLES: ClassVar[tuple[str, ...]] = ()  # fields JSON turns into lists

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise LwirstError(f"unknown network config field(s): {', '.join(unknown)}")
        values = {k: tuple(v) if k in cls.TUPLES and isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Any:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LwirstError(f"network config is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise LwirstError("network config JSON must be an object")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


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
