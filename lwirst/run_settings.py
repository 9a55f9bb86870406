"""How a model's frames run beside its backend and protocol: the scale consensus and mirror check
(`lwirst.consensus`), the peak margin on large frames (`lwirst.prominence`), the sensor's polarity
(`lwirst.polarity`) and the ignore zones (`lwirst.zones`).

Each tells two runs of one model apart, so results record it, cache keys hold it, charts name it and pages label
it. One frozen value carries them all through results (`RunSpec.settings`), the evaluation cache, Compare's
points and the dashboard's engines, so a new switch is a field here with its line in each method below, besides
its behaviour (`lwirst.inference.Segmenter`), its option (`lwirst.commands.segment`) and its widget
(`dashboard.common`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lwirst.consensus import legend as consensus_legend
from lwirst.consensus import mirrored
from lwirst.consensus import recorded as recorded_confirm
from lwirst.polarity import DEFAULT as DEFAULT_POLARITY
from lwirst.polarity import legend as polarity_legend
from lwirst.polarity import recorded as recorded_polarity
from lwirst.polarity import said as said_polarity
from lwirst.prominence import legend as margin_legend
from lwirst.prominence import recorded as recorded_margin
from lwirst.zones import legend as zones_legend
from lwirst.zones import recorded as recorded_zones
from lwirst.zones import said as said_zones


@dataclass(frozen=True)
class RunSettings:
    """confirm: the scale-consensus run's enlargement, None for none; mirror: large frames also confirmed by a
    mirrored run; margin: the peak margin per doubling of a large frame's area, 0 for none; polarity: "black-hot"
    when frames are inverted as they are read; ignore: the ignore zones' key (`lwirst.zones.Zones.key`), "" for
    none. The defaults are a plain run's: what a result stored before a switch existed reads as."""

    confirm: float | None = None
    mirror: bool = False
    margin: float = 0.0
    polarity: str = DEFAULT_POLARITY
    ignore: str = ""

    def to_json(self) -> dict[str, Any]:
        """The switches that are on, as results record them: a plain run's record is the one it had before
        these existed."""
        data: dict[str, Any] = {}
        if self.confirm:
            data["confirm"] = self.confirm
        if self.mirror:
            data["mirror"] = True
        if self.margin:
            data["margin"] = self.margin
        if self.polarity != DEFAULT_POLARITY:
            data["polarity"] = self.polarity
        if self.ignore:
            data["ignore"] = self.ignore
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSettings:
        """From a result's record or a row of a table of them (pandas: an empty cell is NaN); what is absent
        reads as a plain run's."""
        return cls(recorded_confirm(data.get("confirm")), mirrored(data.get("mirror")),
                   recorded_margin(data.get("margin")), recorded_polarity(data.get("polarity")),
                   recorded_zones(data.get("ignore")))

    def key_parts(self) -> list[str]:
        """The evaluation cache key's parts: none for a plain run, whose key is the one it had before these."""
        return [f"{name}={value:g}" if isinstance(value, float) else name if value is True else f"{name}={value}"
                for name, value in self.to_json().items()]

    def legend(self) -> str:
        """A chart point's name tags (", consensus 1.5×, margin 1, black-hot, ignore 0,0,100%,24"); "" for a
        plain run."""
        return (consensus_legend(self.confirm, self.mirror) + margin_legend(self.margin)
                + polarity_legend(self.polarity) + zones_legend(self.ignore))

    def label(self) -> str:
        """A page's run label after its backend and protocol (" · consensus 1.5× · mirror · margin 1 · black-hot
        · ignore 0,0,100%,24"); "" for a plain run."""
        return ((f" · consensus {self.confirm:g}×" if self.confirm else "") + (" · mirror" if self.mirror else "")
                + (f" · margin {self.margin:g}" if self.margin else "")
                + (f" · {self.polarity}" if self.polarity != DEFAULT_POLARITY else "")
                + (f" · ignore {self.ignore}" if self.ignore else ""))

    def reading(self, template: str = "{}") -> str:
        """How frames were read, each part in `template` ("; {}"): "black-hot frames inverted", "ignore zones
        ..."; "" when they were read as they are."""
        return said_polarity(self.polarity, template) + said_zones(self.ignore, template)


PLAIN = RunSettings()
