"""The model files a dashboard offers and what their cards say, kept free of Streamlit.

A model is offered from the server's configured roots (never from a visitor's path);
its card joins the counted cost of the network with what the card JSON or checkpoint
metadata say about its training and test scores, and formats those scores the way
every page prints them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import torch

from lwirst.checkpoint import display_name, file_hash, load_checkpoint
from lwirst.complexity import config_complexity, onnx_complexity
from lwirst.config import NetConfig
from lwirst.consensus import SCALES, mirrored, recorded
from lwirst.datasets import SegDataset, TrainedOn, in_sample_note
from lwirst.errors import LwirstError
from lwirst.export import ARCHITECTURE_NOTE, onnx_cost, onnx_note, onnx_record
from lwirst.models import architecture_of, build_model, get_architecture
from lwirst.paths import DEFAULT_MODEL
from lwirst.prominence import recorded as recorded_margin
from lwirst.run_settings import RunSettings
from lwirst.scoring import CARD, metric_spec, metric_specs

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".pt", ".pth", ".onnx")
TRAINER_STATE = "state.pt"  # a run directory's resume file (optimizer state), not a model
DEMO_MODEL = "untrained demo network (random init, seed 0)"


def demo_network() -> torch.nn.Module:
    """LW-IRSTNet with seed-0 random weights: lets every page work before a trained model exists."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(config=NetConfig()).eval()


def find_models(roots: Iterable[Path], preferred: Path | None = None) -> list[Path]:
    """Model files directly in each root or one folder below, `preferred` first when present; hidden files
    (a training's staged `.replacing-*` checkpoints) are no models."""
    found: list[Path] = []
    for root in roots:
        for pattern in ("*", "*/*"):
            found += sorted(p for p in root.glob(pattern) if p.suffix.lower() in MODEL_SUFFIXES
                            and p.name != TRAINER_STATE and not p.name.startswith(".") and p.is_file())
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if preferred is not None and preferred.resolve() in unique:
        unique.remove(preferred.resolve())
        unique.insert(0, preferred.resolve())
    return unique


# Card JSON / checkpoint metadata fields that say how a model was trained, in display order.
TRAINING_KEYS = ("data", "recipe", "soup", "epochs", "epoch", "val_iou", "wall_time_s", "hardware", "chosen_by",
                 "command", "commit_trained_with", "confirm", "mirror", "margin")  # confirm, mirror, margin: the
# confirmation it was chosen with (the scale consensus's enlargement; whether large frames were also confirmed
# mirrored; the peak margin per doubling of a large frame's area, `lwirst.prominence`)


@dataclass(frozen=True)
class TrainingRecord:
    """How a model was trained and chosen, as its card JSON or checkpoint metadata record it (`TRAINING_KEYS`),
    read once: what a record lacks or holds in another shape (an older card, an ONNX file without one) reads as
    empty. `data` (dataset, train_split, train_images, init: the weights it was fine-tuned from, ...) and
    `recipe` (optimiser, schedule, loss, the training mix, ...) stay the free-form settings the card lists;
    `members` are a weight mean's runs (`lwirst average`); confirm, mirror and margin the confirmation it was
    chosen with; `weights` says in words what weights a model without a training record holds (the demo
    network's)."""

    data: Mapping[str, Any] = field(default_factory=dict)
    recipe: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[Mapping[str, Any], ...] = ()
    epochs: int | None = None
    epoch: int | None = None  # the epoch whose weights a run's checkpoint holds (its metadata's)
    wall_time_s: float | None = None
    hardware: str = ""
    chosen_by: str = ""
    confirm: float | None = None
    mirror: bool = False
    margin: float = 0.0
    weights: str = ""

    @property
    def settings(self) -> RunSettings:
        """How the card's scores ran: the confirmation the model was chosen with."""
        return RunSettings(self.confirm, self.mirror, self.margin)

    @classmethod
    def from_json(cls, source: Mapping[str, Any]) -> TrainingRecord:
        data, recipe, soup = source.get("data"), source.get("recipe"), source.get("soup")
        members = soup.get("members") if isinstance(soup, Mapping) else None
        epochs, seconds, chosen = source.get("epochs"), source.get("wall_time_s"), source.get("chosen_by")
        return cls(dict(data) if isinstance(data, Mapping) else {},
                   dict(recipe) if isinstance(recipe, Mapping) else {},
                   tuple(m for m in members if isinstance(m, Mapping)) if isinstance(members, list) else (),
                   _count(epochs),
                   _count(source.get("epoch")),
                   float(seconds) if _positive(seconds) else None,
                   str(source.get("hardware") or ""), chosen if isinstance(chosen, str) else "",
                   _scale(source.get("confirm")), mirrored(source.get("mirror")),
                   recorded_margin(source.get("margin")), str(source.get("weights") or ""))

    @property
    def dataset(self) -> str:
        """The dataset it trained on, as `open_dataset` names it ("" when not recorded)."""
        return str(self.data.get("dataset") or "")

    @property
    def train_split(self) -> str:
        """The split it trained on ("" when not recorded)."""
        return str(self.data.get("train_split") or "")

    @property
    def planned_epochs(self) -> int | None:
        """The epochs its training ran or was to run: the card's count, else its recipe's."""
        return self.epochs or _count(self.recipe.get("epochs"))

    @property
    def trained_on(self) -> TrainedOn:
        """The split it trained on and its images' identities, where the record keeps them (`in_training`)."""
        files = self.data.get("train_files")
        return TrainedOn(self.dataset, self.train_split, files if isinstance(files, str) else "")

    @property
    def data_dir(self) -> str:
        """The data root it trained under, as given then ("" when not recorded)."""
        return str(self.data.get("data_dir") or "")


def _count(value: object) -> int | None:
    """A positive whole number a record holds, or None."""
    return int(value) if _positive(value) and float(value).is_integer() else None  # type: ignore[arg-type]


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _scale(value: object) -> float | None:
    """A recorded consensus enlargement, where it is one `lwirst.consensus` runs (a true, a 1 or a string is not)."""
    scale = recorded(value) if _positive(value) else None
    return scale if scale is not None and SCALES[0] <= scale <= SCALES[1] else None


@dataclass
class ModelCard:
    """What is known about a model: size, cost, how it was trained and how it scored.

    params/flops are counted on the network a checkpoint describes (256 x 256 input,
    the paper's THOP convention); for an ONNX file they come from its card, else are
    counted on the graph (`onnx_complexity`: BatchNorm folded into convolutions is
    free there); None when the graph cannot be run. test_metrics (flat, or one dict
    per input protocol), test_protocol and training come from the card JSON beside the
    model (same stem), else from the checkpoint's metadata or an exported ONNX file's notes; empty when none has
    them. markdown: the long card (``<stem>.md``, or a ``MODEL_CARD.md`` beside it titled with the stem).
    architecture: the registered network a checkpoint holds (or an exported ONNX file names), as `lwirst.models`
    labels it ("LW-IRSTNet"), with its reference; empty for an ONNX graph that does not name its network.
    """

    name: str
    params: int | None = None
    flops: float | None = None
    test_metrics: dict[str, Any] = field(default_factory=dict)
    test_protocol: str = ""
    training: TrainingRecord = field(default_factory=TrainingRecord)
    markdown: str = ""
    architecture: str = ""
    reference: str = ""


def _read_card(path: Path) -> dict[str, Any]:
    card_path = path.with_suffix(".json")
    if not card_path.is_file():
        return {}
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LwirstError(f"model card {card_path.name} is not readable JSON ({exc})") from exc
    return card if isinstance(card, dict) else {}


def _read_markdown(path: Path) -> str:
    own, shared = path.with_suffix(".md"), path.with_name("MODEL_CARD.md")
    if own.is_file():
        return own.read_text(encoding="utf-8")
    if shared.is_file():
        text = shared.read_text(encoding="utf-8")
        first = text.lstrip().partition("\n")[0]
        return text if first.startswith("#") and path.stem in first else ""
    return ""


INIT_MOST_BYTES = 1 << 30  # a recorded start larger than this is not read to compare (no network here comes near)


def fine_tuned_from(training: TrainingRecord) -> Path | None:
    """The file a model's record says it was fine-tuned from (`lwirst train --init`), where it is still there with
    the content recorded: at the path the record kept on this machine, else the shipped model (an exported file
    keeps the hash, not the path). None for a model trained from scratch, or whose start is not found."""
    init = training.data.get("init")
    digest = init.get("sha256") if isinstance(init, Mapping) else None
    if not digest:
        return None
    kept = training.data.get("init_path")
    for candidate in ([Path(str(kept))] if kept else []) + [DEFAULT_MODEL]:
        try:
            if (candidate.is_file() and candidate.stat().st_size <= INIT_MOST_BYTES
                    and file_hash(candidate) == digest):
                return candidate
        except OSError:
            continue
    return None


LINEAGE_MOST = 8  # fine-tunes of fine-tunes followed back at most (a record naming itself ends the chain too)


def lineage(path: Path) -> list[ModelCard]:
    """The card of the model at `path`, then those of the weights it was fine-tuned from, back to the first one
    found (`fine_tuned_from`): a fine-tune of the shipped model holds most of its weights, so its scores on the
    split the shipped model trained on are in-sample too."""
    cards, seen, current = [], set(), path
    while current is not None and len(cards) < LINEAGE_MOST and current.resolve() not in seen:
        seen.add(current.resolve())
        cards.append(model_card(current))
        current = fine_tuned_from(cards[-1].training)
    return cards


def lineage_in_sample_note(data_dir: str | Path | None, chosen: SegDataset, path: Path, shown: str,
                           roots: Callable[[TrainingRecord], Sequence[str | Path] | None]) -> str:
    """`in_sample_note` for the model at `path` or, where its own training split holds none of `chosen`'s images,
    for the first weights it was fine-tuned from whose split does ("... the split lwirst-sirst.safetensors, which
    last.safetensors was fine-tuned from, trained on"). `roots` gives, for a record, the roots besides `data_dir`
    to look for its split under, or None where its split must not be opened (a server's guard)."""
    cards = lineage(path)
    for depth, card in enumerate(cards):
        training = card.training
        if (also := roots(training)) is None:
            continue
        model = card.name if depth == 0 else f"{card.name}, which {cards[0].name} was fine-tuned from,"
        note = in_sample_note(data_dir, chosen, training.trained_on, model, shown, also)
        if note:
            return note
    return ""


def model_card(path: Path | None) -> ModelCard:
    """The card of a model file, or of the untrained demo network when `path` is None."""
    if path is None:
        config = NetConfig()
        cost = config_complexity(config)
        return ModelCard(DEMO_MODEL, cost.params, cost.flops,
                         training=TrainingRecord(weights="random (seed 0); detections are meaningless"),
                         **_network(config))
    card = _read_card(path)
    meta: dict[str, Any] = {}
    params, flops = card.get("params"), card.get("flops")
    network: dict[str, str] = {}
    if path.suffix.lower() != ".onnx":
        config, _, meta = load_checkpoint(path)
        cost = config_complexity(config)
        params, flops = cost.params, cost.flops
        network = _network(config)
    else:
        data = path.read_bytes()  # once: its notes, and its cost where the card does not say it
        meta, network, noted = _onnx_provenance(data, path.name)
        if (params is None or flops is None) and noted is not None:  # its network's, as its checkpoint's card
            params, flops = noted
        if params is None or flops is None:
            try:
                cost = onnx_complexity(data)
                params, flops = cost.params, cost.flops
            except LwirstError as exc:
                log.warning("%s: FLOPs unknown: %s", path.name, exc)
    metrics = card.get("test_metrics") or meta.get("test_metrics") or {}
    training = TrainingRecord.from_json(training_fields(card) or training_fields(meta))
    return ModelCard(display_name(path), params, flops, dict(metrics), str(card.get("test_protocol", "")), training,
                     _read_markdown(path), **network)


def training_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a card JSON or checkpoint metadata that say how a model was trained (`TRAINING_KEYS`): what
    `lwirst export` carries into an ONNX file's notes, and a card reads back."""
    return {key: source[key] for key in TRAINING_KEYS if key in source}


# Fields of a training record that stay on the machine that trained: its folders, its command line (with their
# paths) and the fingerprints of its file lists. A card lists none of them (`lwirst.card_view`); an exported file,
# which travels, carries none of them.
PRIVATE_DATA = ("data_dir", "train_names", "val_names", "init_path")
PRIVATE_FIELDS = ("command",)


def shareable_training(path: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """How the checkpoint at `path` was trained, as its card reads it (the card JSON beside it where that records
    training, a shipped model's, which says more than its weights' metadata; else `meta`, its metadata), less what
    stays on the training machine (`PRIVATE_DATA`, `PRIVATE_FIELDS`): what `lwirst export` writes into the file.
    An unreadable card JSON is left out, with a warning (it never stopped an export)."""
    try:
        card = training_fields(_read_card(path))
    except LwirstError as exc:
        log.warning("%s; the export carries its checkpoint's own record", exc)
        card = {}
    record = {k: v for k, v in (card or training_fields(meta)).items() if k not in PRIVATE_FIELDS}
    if isinstance(record.get("data"), Mapping):
        record["data"] = {k: v for k, v in record["data"].items() if k not in PRIVATE_DATA}
    return record


def _network(config: Any) -> dict[str, str]:
    """The card's architecture and reference of a network config (its registered architecture)."""
    return _architecture(architecture_of(config))


def _architecture(name: str) -> dict[str, str]:
    """The card's architecture and reference of the registered architecture `name`."""
    spec = get_architecture(name)
    return {"architecture": spec.label, "reference": spec.reference}


def _onnx_provenance(data: bytes, name: str) -> tuple[dict[str, Any], dict[str, str], tuple[int, float] | None]:
    """The training record, architecture and network cost the notes of an exported ONNX file (`data`, named
    `name`) carry (`lwirst.export.with_notes`); empty (None) for a file without them (the published weights, an
    older export). An architecture no plugin here registers keeps its name, without a reference."""
    try:
        proto = onnx.load_from_string(data)
    except Exception as exc:  # onnx raises DecodeError, ...; the card still opens without them
        log.warning("%s: its notes are unreadable (%s)", name, exc)
        return {}, {}, None
    architecture = onnx_note(proto, ARCHITECTURE_NOTE)
    try:
        network = _architecture(architecture) if architecture else {}
    except LwirstError:
        network = {"architecture": architecture, "reference": ""}
    return onnx_record(proto), network, onnx_cost(proto)


def card_metrics() -> dict[str, tuple[str, str]]:
    """Metric cards: metrics key -> (label, help), the card view of `lwirst.scoring`'s table (read when
    asked, so a metric plugin is loaded, and its errors reported, where a card is drawn)."""
    return {spec.key: (spec.label, spec.help) for spec in metric_specs(CARD)}


def format_metric(name: str, value: float | None) -> str:
    """A metric as the cards print it (`lwirst.scoring`: Fa in units of 1e-6, NaN as "n/a")."""
    return metric_spec(name).format(value)
