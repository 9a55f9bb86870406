"""What a result records of how it was produced, typed: the model run (`RunSpec`, what `Segmenter.describe`
gives), how its frames actually ran (`FramesRan`, `AppliedProtocol`) and the evaluation's protocol
(`EvalProtocol`, stored in every result's metrics.json).

Pages and commands read fields, not string keys. The JSON a result stores keeps its flat layout, so results
stored by earlier versions read back (`from_json` fills what they did not record yet).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lwirst.consensus import said as said_consensus
from lwirst.metrics import NIOU_CONVENTION
from lwirst.palettes import decoded_text
from lwirst.paper import PAPER_SIZE
from lwirst.postprocess import GROW_TO, NO_FILTER, TargetFilter, describe_growth, probability_of
from lwirst.prominence import describe as describe_margin
from lwirst.rounding import count_text
from lwirst.run_settings import PLAIN, RunSettings
from lwirst.saliency import Saliency

PDFA_THRESHOLDS = np.round(np.linspace(-8.0, 8.0, 17), 3)  # the Pd-Fa sweep's fixed logit grid
PD_AT_FA_BUDGET = 0.1  # false-alarm blobs per frame: one alarm in ten frames
SAVED_SIZE = "each image's own"  # the size saved predictions record: no network input size

# How every figure is scored: the same for every result, stored beside its protocol for whoever reads the file.
SCORED_AT = "each image's own resolution"
CONVENTIONS = {
    "scored_at": SCORED_AT,
    "pd_fa": "DNANet convention: 8-connected, centroid distance < 3 px",
    "niou": NIOU_CONVENTION,
    "pd_at_fa": f"best Pd over logit thresholds {PDFA_THRESHOLDS[0]:g}..{PDFA_THRESHOLDS[-1]:g} (step 1) and this "
                f"run's, with at most {PD_AT_FA_BUDGET:g} false-alarm blobs per frame",
}
RESULT_FIELDS = ("model", "backend", "dataset", "split", "threshold")  # what a stored protocol cannot lack
RAN_AS = {"native": "native", "pyramid": "as a pyramid"}  # how "auto" ran a frame it did not resize, in words


@dataclass(frozen=True)
class RunSpec:
    """A model as it runs: what tells two runs apart (content hash, backend, protocol, size, and how its frames
    run: `settings`, `lwirst.run_settings`) and what a reader of a result wants to know (file name, threads,
    options).

    protocol: "auto", "resize", "native", "pyramid", or "as saved" for saved predictions; size: the network's
    input (H, W), None for saved predictions (each image at its own size); hash: the model content's, with
    ":bf16" or ":int8" when it ran at that precision ("" for a model without a file); input: the network's
    input convention (`lwirst.inference`), or how saved predictions were read; palettes: whether pseudo-colour
    frames are decoded (None: not recorded).
    """

    model: str
    hash: str
    backend: str
    precision: str = "fp32"
    protocol: str = "?"
    size: tuple[int, int] | None = PAPER_SIZE
    threads: int | None = None
    input: str = "files"
    palettes: bool | None = None
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    settings: RunSettings = PLAIN
    params: int | None = field(default=None, compare=False)  # of the network, recorded by an evaluation (None:
    flops: float | None = field(default=None, compare=False)  # not, or not countable), FLOPs per 256x256 pass

    @property
    def recorded_size(self) -> list[int] | str:
        """The input size as results record (and lines print) it: [H, W], or "each image's own"."""
        return list(self.size) if self.size is not None else SAVED_SIZE

    def to_json(self) -> dict[str, Any]:
        """The run's fields as results and `lwirst segment` record them (its settings only where a switch was on,
        as results stored them before these existed)."""
        data: dict[str, Any] = {
            "model": self.model, "hash": self.hash, "backend": self.backend, "precision": self.precision,
            "protocol": self.protocol, "size": self.recorded_size, **self.settings.to_json()}
        data.update({"threads": self.threads, "input": self.input})
        if self.palettes is not None:
            data["palettes"] = self.palettes
        data["options"] = dict(self.options)
        if self.params is not None and self.flops is not None:
            data.update(params=self.params, flops=self.flops)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        """A recorded run; what a result stored before a field existed did not record reads as its default."""
        size = data.get("size")
        threads = data.get("threads")
        palettes = data.get("palettes")
        options = data.get("options")
        return cls(str(data.get("model", "?")), str(data.get("hash") or ""), str(data.get("backend", "?")),
                   str(data.get("precision", "fp32")), str(data.get("protocol", "?")),
                   (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) and len(size) == 2 else
                   None if size == SAVED_SIZE else PAPER_SIZE,
                   _count(threads) or None,
                   str(data.get("input", "files")), palettes if isinstance(palettes, bool) else None,
                   options if isinstance(options, Mapping) else {}, RunSettings.from_json(data),
                   _count(data.get("params")) or None, _positive(data.get("flops")))

@dataclass(frozen=True)
class AppliedProtocol:
    """The input protocol as it ran: how many images the network saw resized to the model size, how
    many natively and how many as a pyramid ("auto" decides per image), so that a result states what ran,
    not only what was asked.

    configured: the protocol asked for ("auto", "resize", "native", "pyramid"; "as saved" for saved
    predictions); ran: applied protocol ("resize", "native", "pyramid", "saved") -> images; confirm: the
    enlargement of the scale-consensus run (`lwirst.consensus`), or None; as_is: how many of the "resize"
    images already had the model size, so that nothing was resized (a result should not say "resized" of
    them).
    """

    configured: str
    size: tuple[int, int]
    ran: dict[str, int]
    as_is: int = 0
    # how the frames ran (`lwirst.run_settings`), its peak margin only where it held a frame
    settings: RunSettings = PLAIN
    grow_to: float | None = GROW_TO  # the masks' growth (`lwirst.postprocess`): a logit, None for Eq. 2's masks
    target_filter: TargetFilter = NO_FILTER  # Eq. 4's bounds the scored targets passed (`lwirst.postprocess`)

    def __str__(self) -> str:
        """"auto: 37 of 39 images as a pyramid, 2 resized to 256×256" ("auto: all 8 images resized to 256×256"
        when they ran one way); a fixed protocol: "resize to 256×256 (39 images)"; then "; scale consensus at
        1.5x ..." when one ran (a peak margin is said with the masks: `_score`'s "masks", with the frames it held)."""
        return self.inputs() + said_consensus(self.settings.confirm, self.settings.mirror, "; {}")

    def inputs(self) -> str:
        """How the images reached the network, without the confirmation: `str`'s first part."""
        images = sum(self.ran.values())
        if self.configured == "auto":
            kinds = self._kinds()
            if len(kinds) == 1:  # one kind of frame: say so, not "0 of 8 images ..."
                return f"auto: {'the image' if images == 1 else f'all {images} images'} {self._said(kinds[0][0])}"
            (first, count), *rest = kinds
            return (f"auto: {count} of {images} images {self._said(first)}, "
                    + ", ".join(f"{n} {self._said(kind)}" for kind, n in rest))
        if self.configured == "resize":
            already = f", {self.as_is} already that size" if self.as_is else ""
            return f"resize to {self._to} ({images} images{already})"
        if self.configured == "native":
            return f"native ({images} images at their own size)"
        if self.configured == "pyramid":
            return f"pyramid ({images} images at their own size and at half of it, maps united)"
        return self.configured

    @property
    def _to(self) -> str:
        return f"{self.size[1]}×{self.size[0]}"

    def _resized(self) -> str:
        """What happened to the "resize" images: "resized to 256×256", "at the model size 256×256, as they
        are" when every one had that size, or "resized to 256×256 (1 already that size)"."""
        if self.as_is and self.as_is == self.ran.get("resize", 0):
            return f"at the model size {self._to}, as they are"
        return f"resized to {self._to}" + (f" ({self.as_is} already that size)" if self.as_is else "")

    def _kinds(self) -> list[tuple[str, int]]:
        """The applied kinds "auto" ran, with their counts, in the order they are said: large frames (a pyramid
        since round 45, natively in results stored before), small ones natively, the rest resized."""
        return [(kind, self.ran[kind]) for kind in ("pyramid", "native", "resize") if self.ran.get(kind)] or [
            ("resize", 0)]

    def _said(self, kind: str, short: bool = False) -> str:
        if kind != "resize":
            return RAN_AS[kind]
        if short:
            return "at the model size" if self.as_is == self.ran.get("resize", 0) else "resized"
        return self._resized()

    @property
    def short(self) -> str:
        """For a chart legend: "auto: all resized", "auto: 2 as a pyramid, 84 resized", or the fixed
        protocol."""
        confirmed = self.settings.legend() + growth_legend(self.grow_to) + filter_legend(self.target_filter)
        if self.configured != "auto":
            return self.configured + confirmed
        kinds = self._kinds()
        if len(kinds) == 1:
            return f"auto: all {self._said(kinds[0][0], short=True)}{confirmed}"
        return "auto: " + ", ".join(f"{n} {self._said(kind, short=True)}" for kind, n in kinds) + confirmed


def filter_legend(target_filter: TargetFilter) -> str:
    """A point's name tag for targets scored through an Eq. 4 filter ("" for none): filtered and unfiltered
    runs of one model score different targets, and must not merge into one point."""
    return f", filter {target_filter}" if target_filter.active else ""


def growth_legend(grow_to: float | None) -> str:
    """A point's name tag for masks grown other than by default ("" for the default growth): two runs that
    differ only there score different masks, and must not merge into one point."""
    if grow_to is not None and GROW_TO is not None and math.isclose(grow_to, GROW_TO, abs_tol=1e-4):
        return ""  # stored results hold their floats to a few significant digits
    return ", Eq. 2 masks" if grow_to is None else f", masks grown to p{float(probability_of(grow_to)):.2g}"


@dataclass(frozen=True)
class FramesRan:
    """How a run's frames ran, counted frame by frame (`FrameTally`): applied protocol ->
    images (None for a result stored before that was recorded), the "resize" frames that already had the model
    size, the frames held to a peak margin, the frames decoded per pseudo-colour palette and the colour frames no
    palette decoded."""

    applied: Mapping[str, int] | None = field(default=None, hash=False)
    at_model_size: int = 0
    margin_frames: int = 0
    decoded_palettes: Mapping[str, int] = field(default_factory=dict, hash=False)
    colour_as_is: int = 0

    @classmethod
    def counted(cls, ran: Sequence[tuple[str, tuple[int, int]]], size: tuple[int, int] | None, held: int = 0,
                decoded: Mapping[str, int] | None = None, as_colour: int = 0) -> FramesRan:
        """From (applied protocol, frame (H, W)) per frame and the network's input size."""
        model = tuple(size or ())
        return cls(dict(sorted(Counter(protocol for protocol, _ in ran).items())),
                   sum(protocol == "resize" and tuple(hw) == model for protocol, hw in ran), held,
                   dict(decoded or {}), as_colour)

    def applied_protocol(self, run: RunSpec, grow_to: float | None = GROW_TO,
                         target_filter: TargetFilter = NO_FILTER) -> AppliedProtocol | None:
        """How `run`'s frames ran, for protocol lines and legends; None where that was not recorded."""
        if self.applied is None:
            return None
        held = run.settings if self.margin_frames else dataclasses.replace(run.settings, margin=0.0)
        return AppliedProtocol(run.protocol, run.size or PAPER_SIZE, dict(self.applied), self.at_model_size, held,
                               grow_to, target_filter)

    def reading_text(self, run: RunSpec) -> str:
        """How frames were read, for a protocol line: "; black-hot frames inverted" for a black-hot run, "; ignore
        zones 0,0,100%,24" for a run with zones (`lwirst.zones`), then
        "; pseudo-colour decoding off" when it was off, else the frames decoded ("; 3 frames decoded from
        the pseudo-colour palette jet") and the colour frames no known palette decoded; "" for none of these."""
        said = run.settings.reading("; {}")
        if run.palettes is False:
            return said + "; pseudo-colour decoding off (colour frames ran as BGR)"
        if self.decoded_palettes:
            said += f"; {decoded_text(self.decoded_palettes)}"
        if self.colour_as_is:
            said += (f"; {count_text(self.colour_as_is, 'colour frame')} in no palette the decoder knows ran on "
                     f"{'its' if self.colour_as_is == 1 else 'their'} colours (the network learnt grey frames)")
        return said

    def to_json(self, run: RunSpec) -> dict[str, Any]:
        data: dict[str, Any] = {} if self.applied is None else {"applied": dict(self.applied),
                                                                "at_model_size": self.at_model_size}
        if run.settings.margin:
            data["margin_frames"] = self.margin_frames
        if self.decoded_palettes:
            data["decoded_palettes"] = dict(self.decoded_palettes)
        if self.colour_as_is:
            data["colour_as_is"] = self.colour_as_is
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FramesRan:
        applied, decoded = data.get("applied"), data.get("decoded_palettes")
        return cls({str(k): int(v) for k, v in applied.items()} if isinstance(applied, Mapping) else None,
                   _count(data.get("at_model_size")), _count(data.get("margin_frames")),
                   {str(k): int(v) for k, v in decoded.items()} if isinstance(decoded, Mapping) else {},
                   _count(data.get("colour_as_is")))


@dataclass
class FrameTally:
    """How a run's frames ran, gathered frame by frame from their maps: the protocol each applied and its size,
    the palettes decoded, the colour frames no palette decoded and the frames held to a peak margin. `record`
    gives what a result's protocol records of it, so that `evaluate`, `demo` and `lwirst.video` say the same things."""

    ran: list[tuple[str, tuple[int, int]]] = field(default_factory=list)
    decoded: Counter[str] = field(default_factory=Counter)
    as_colour: int = 0
    held: int = 0

    def add(self, saliency: Saliency) -> None:
        self.ran.append((saliency.protocol, saliency.shape))
        self.decoded.update([saliency.palette] if saliency.palette else [])
        self.as_colour += saliency.as_colour
        self.held += saliency.clearance > 0

    def margin(self, run: RunSpec) -> float:
        """The run's peak margin per doubling, said only where it held a frame (0 otherwise)."""
        return run.settings.margin if self.held else 0.0

    def margin_text(self, run: RunSpec) -> str:
        """"; on frames over twice the model's area ... (3 frames)", or "" where no frame was held."""
        margin = self.margin(run)
        return f"; {describe_margin(margin)} ({count_text(self.held, 'frame')})" if margin else ""

    def record(self, run: RunSpec) -> FramesRan:
        """What a result's protocol records of how `run`'s frames ran."""
        return FramesRan.counted(self.ran, run.size, self.held, self.decoded, self.as_colour)


def _positive(value: object) -> float | None:
    """A positive finite number a record holds, else None (absent, null, NaN, a string)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return float(value) if number else None  # type: ignore[arg-type]


def _count(value: object) -> int:
    """A count a record holds (3, or 3.0 from a table), 0 for anything else (absent, null, NaN, a fraction)."""
    whole = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return int(value) if whole and value == int(value) and value >= 0 else 0  # type: ignore[arg-type]


@dataclass(frozen=True)
class EvalProtocol:
    """How an evaluation was produced and scored: the run, how its frames ran, the threshold (a logit) and the
    masks' growth (a logit, None for the paper's Eq. 2 masks), the masks in words, the data (dataset, split and
    content fingerprint), and for saved predictions how many were binary masks; `rescored_from` is the threshold
    of the run whose stored maps were scored again at this one (None: scored from the network)."""

    run: RunSpec
    threshold: float
    grow_to: float | None
    masks: str
    dataset: str
    split: str
    data_fingerprint: str = ""
    frames: FramesRan = field(default_factory=FramesRan)
    binary_predictions: int | None = None
    rescored_from: float | None = None
    target_filter: TargetFilter = NO_FILTER  # Eq. 4: only targets within these bounds were scored

    def renamed(self, model: str, dataset: str, split: str) -> EvalProtocol:
        """The same result under the names it was asked by (a cache hit): the same model content in another
        file, the same data reached by another dataset name or split label."""
        return dataclasses.replace(self, dataset=dataset, split=split, run=dataclasses.replace(self.run, model=model))

    @property
    def applied(self) -> AppliedProtocol | None:
        """How the frames ran (None for a result stored before that was recorded)."""
        return self.frames.applied_protocol(self.run, self.grow_to, self.target_filter)

    def text(self) -> str:
        """The protocol as applied (`AppliedProtocol`), or as configured for a result stored before it recorded
        what ran; then how frames were read (polarity, colour)."""
        applied = self.applied
        said = str(applied) if applied is not None else f"{self.run.protocol} {self.run.recorded_size}"
        return said + self.frames.reading_text(self.run)

    def to_json(self) -> dict[str, Any]:
        """The flat record metrics.json stores: the run's fields, the frames', the scoring's, the conventions."""
        data: dict[str, Any] = {
            **self.run.to_json(), **self.frames.to_json(self.run),
            "threshold": self.threshold, "threshold_probability": probability_of(self.threshold),
            "grow_to": self.grow_to, "masks": self.masks, "dataset": self.dataset, "split": self.split,
            "data_fingerprint": self.data_fingerprint, **CONVENTIONS}
        if self.binary_predictions is not None:
            data["binary_predictions"] = self.binary_predictions
        if self.rescored_from is not None:
            data["rescored_from"] = {"threshold": self.rescored_from}
        if self.target_filter.active:  # a result scored without one keeps the record it had before filters
            data["filter"] = self.target_filter.to_dict()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalProtocol:
        """A stored protocol, of this version or an earlier one."""
        threshold, binary, source = data.get("threshold"), data.get("binary_predictions"), data.get("rescored_from")
        return cls(RunSpec.from_json(data), float(threshold) if isinstance(threshold, (int, float)) else 0.0,
                   _stored_growth(data), str(data.get("masks", "")), str(data.get("dataset", "?")),
                   str(data.get("split", "?")), str(data.get("data_fingerprint", "")), FramesRan.from_json(data),
                   _count(binary) if binary is not None else None,
                   float(source["threshold"]) if isinstance(source, Mapping)
                   and isinstance(source.get("threshold"), (int, float)) else None,
                   TargetFilter.recorded(data.get("filter")))


def _stored_growth(data: Mapping[str, Any]) -> float | None:
    """A stored result's mask growth: its "grow_to" (None: Eq. 2's masks); a result stored before that was
    recorded says it in its "masks" text only."""
    if "grow_to" in data:
        grow_to = data["grow_to"]
        return float(grow_to) if isinstance(grow_to, (int, float)) else None
    return None if str(data.get("masks", "")).startswith(describe_growth(None)) else GROW_TO
