"""A model card as people read it: a summary sentence, readable tables and prose, no JSON or keys.

`lwirst.modelcard.model_card` gathers what is known about a model (size, cost, test
metrics, training); this module turns it into the Home page's text and tables, and
holds the glossary of the field's terms the pages show on hover (`GLOSSARY`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lwirst.consensus import flops_factor
from lwirst.losses import LOSS_TERMS
from lwirst.modelcard import PRIVATE_DATA, ModelCard
from lwirst.postprocess import GROW_RADIUS, GROW_TO_PROBABILITY
from lwirst.prominence import per_doubling_text
from lwirst.rounding import count_text, flops_text, params_text
from lwirst.scoring import CARD, metric_specs

GLOSSARY: dict[str, str] = {
    "logit": "The network's raw score of a pixel, before the sigmoid: 0 is probability 0.5, +4 about 0.98, "
             "-4 about 0.02. Thresholds here are logits.",
    "threshold": "Pixels whose logit is above it are target (Eq. 2); 0 is the paper's Th (probability 0.5). "
                 f"Each target's mask then grows by up to {GROW_RADIUS} px into neighbours above probability "
                 f"{GROW_TO_PROBABILITY:g}, never joining two targets (`--grow-to`; see `lwirst.postprocess`).",
    "Eq. 4": "The paper's post-processing filter: targets with pixel size <= m or >= k, or aspect ratio "
             "(box width / height) <= l or >= n, are dropped.",
    "mIoU": "Dataset IoU: target pixels found in common with the ground truth over the union, summed over "
            "every image.",
    "nIoU": "Normalised IoU: the IoU of each image, averaged over images (small images count as much as large).",
    "Pd": "Probability of detection: the share of ground-truth targets matched by a detection whose centroid "
          "lies within 3 pixels.",
    "Fa": "False-alarm rate: false-alarm pixels over all pixels, in units of 1e-6 (Fa 10 = 10 per million pixels).",
    "P / R / F1": "Pixel precision, recall and their harmonic mean.",
    "AUC": "Area under the pixel ROC curve (true- against false-positive rate over every threshold).",
    "hot but below threshold": "A missed target whose peak logit is just under the threshold (within the "
                               "hot margin): a lower threshold would find it (the paper's Fig. 6 case).",
    "peak margin": "On a frame over twice the model's area a target counts only where its peak clears the "
                   "threshold by this many logits per doubling of the area (1: a 1280x1024 frame's by 3.3), so "
                   "a large sensor's frame alarms about as often as a small one's (`--margin`; "
                   "`lwirst.prominence`).",
    "auto": "Input protocol: SIRST-sized frames are resized to the model's 256x256 input; frames of at most a "
            "quarter of its area (a 128x128 crop) run at their own size, as resized they would be enlarged 2x or "
            "more; frames over twice its area run as a pyramid (see pyramid).",
    "resize": "Input protocol of the paper's deployment: every frame is resized to 256x256 and the map "
              "resized back.",
    "native": "Input protocol: every frame runs at its own resolution (padded to a multiple of 8).",
    "pyramid": "Input protocol: every frame runs at its own resolution, for targets of a few pixels, and at "
               "half of it, for targets larger than the network was trained on; the two maps are united.",
    "FLOPs": "Multiply-adds of one 256x256 frame, counted as the paper does (THOP).",
    "model-only fps": "Network calls per second: the network alone, no reading, drawing or tracking.",
    "end-to-end fps": "Frames per second of the whole page pipeline: read, network, post-processing, "
                      "tracking and drawing.",
}

_RECIPE = {
    "optimizer": "optimiser", "lr": "learning rate", "momentum": "momentum", "weight_decay": "weight decay",
    "schedule": "learning-rate schedule", "poly_power": "poly power", "warmup_epochs": "warm-up epochs",
    "epochs": "epochs", "batch_size": "batch size", "loss": "loss", "size": "training crop (pixels)",
    "scale_min": "random scale, smallest", "scale_max": "random scale, largest", "hflip": "horizontal flips",
    "vflip": "vertical flips", "transpose": "transposes (with flips: all 8 rotations/mirrorings)",
    "gain": "random grey-level gain", "ema_decay": "weight averaging (EMA) decay", "seed": "random seed",
}
# The training mix (`lwirst.trainmix`): recipe fields, shown with the data because they are data.
_MIX = {
    "implant": "implanted frames per real frame", "synthetic": "synthetic scenes per real frame",
    "negatives": "target-free frames per real frame", "mosaic": "mosaics per real frame",
    "hard": "hard negatives per real frame", "hard_implant": "hard negatives with targets (chance)",
    "upscale": "2-4x native-scale crops (chance)", "colour": "pseudo-colour frames (chance)",
    "noise": "sensor-noise frames (chance)",
}
_DATA = {  # what a card lists of the data (never `PRIVATE_DATA`: server paths and list fingerprints)
    "dataset": "dataset", "train_split": "trained on split", "train_images": "training images",
    "val_split": "validation split", "val_images": "validation images",
    "val_overlap": "images shared by training and validation",
}


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "loss" and isinstance(value, str):
        return " + ".join(LOSS_TERMS.get(part, part) for part in value.split("+"))
    if key == "val_split" and not value:
        return "none during training (a fixed schedule)"
    if key == "optimizer" and isinstance(value, str):
        return {"adam": "Adam", "sgd": "SGD", "adamw": "AdamW"}.get(value, value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _table(values: Mapping[str, Any], names: Mapping[str, str]) -> pd.DataFrame:
    rows = [(names[k], _value(k, values[k])) for k in names if k in values]
    rows += [(k.replace("_", " "), _value(k, v)) for k, v in values.items()
             if k not in names and not isinstance(v, (dict, list))]
    return pd.DataFrame(rows, columns=["setting", "value"])


# Recipe fields that differ between the members of a weight mean: shown per member (`soup_table`).
_PER_MEMBER = ("loss", "seed")


def recipe_table(card: ModelCard) -> pd.DataFrame:
    """How the model was trained: optimiser, schedule, loss, augmentation, in words (a weight mean's
    loss and seed are its members', in `soup_table`)."""
    recipe = card.training.recipe
    if not recipe:
        return pd.DataFrame(columns=["setting", "value"])
    hidden = set(_MIX) | (set(_PER_MEMBER) if card.training.members else set())
    return _table({k: v for k, v in recipe.items() if k not in hidden}, _RECIPE)


def soup_table(card: ModelCard) -> pd.DataFrame:
    """The members of a weight mean: run, weight, loss (as `--loss` names it; `soup_losses` says each in
    words, once), seed, the weights it started from and the recipe fields in which it differs from the
    card's (cards before round 43 record neither: ""); empty for one run's weights."""
    rows = [{"member run": str(m.get("run", "")), "weight": f"{float(m.get('weight', 0)):g}",
             "loss": str(m.get("loss", "")), "seed": str(m.get("seed", "")),
             "start": str(m.get("start", "")),
             "recipe otherwise": ", ".join(f"{k} {v}" for k, v in (m.get("recipe_changes") or {}).items())}
            for m in card.training.members]
    return pd.DataFrame(rows, columns=["member run", "weight", "loss", "seed", "start", "recipe otherwise"])


def soup_losses(card: ModelCard) -> dict[str, str]:
    """Each loss of a weight mean's members (as `--loss` names it) in words: said once under the members'
    table, not in every row."""
    losses = dict.fromkeys(str(m.get("loss", "")) for m in card.training.members)
    return {loss: _value("loss", loss) for loss in losses if loss}


def _mix(card: ModelCard) -> dict[str, Any]:
    """The recipe's training-mix shares that are in use (non-zero)."""
    recipe = card.training.recipe
    return {k: recipe[k] for k in _MIX if recipe.get(k)}


def data_table(card: ModelCard) -> pd.DataFrame:
    """What the model was trained on: the dataset, and the frames generated from it each epoch."""
    data = card.training.data
    if not data:
        return pd.DataFrame(columns=["setting", "value"])
    shown = {k: v for k, v in data.items() if k not in PRIVATE_DATA}
    return pd.concat([_table(shown, _DATA), _table(_mix(card), _MIX)], ignore_index=True)


def summary(card: ModelCard) -> str:
    """One paragraph: size, cost, data, length of training and how the weights were chosen."""
    training = card.training
    parts = [f"**{card.name}**"]
    if card.params:
        parts.append(f"has {params_text(card.params)} parameters")
    if card.flops:
        parts.append(f"and costs {flops_text(card.flops)} FLOPs per 256×256 frame")  # as the FLOPs card prints it
        if training.confirm:
            mirror = "; large frames also run mirrored, one more run each" if training.mirror else ""
            parts.append(f"({flops_text(card.flops * flops_factor(training.confirm))} with the scale consensus at "
                         f"{training.confirm:g}× it was chosen with and runs with by default{mirror})")
    text = " ".join(parts) + "."
    if training.margin:
        text += (f" On frames over twice its input's area a target counts only where its peak clears the threshold "
                 f"by {per_doubling_text(training.margin)} (the peak margin).")
    if training.data:
        # a fine-tune's epochs and wall time are its own step's, not the whole lineage's
        init = training.data.get("init")
        start = str(init.get("file") or "") if isinstance(init, Mapping) and not training.members else ""
        earlier = "an earlier " if start == card.name else ""  # a model shipped under its start's name
        verb = f"fine-tuned from {earlier}{start}" if start else "fine-tuned from earlier weights" if init else \
            "trained"
        members = training.members
        if members:
            weights = [float(m.get("weight", 0)) for m in members]
            mean = "the equal mean" if max(weights) - min(weights) < 1e-3 else \
                "a weighted mean (" + " / ".join(f"{w:g}" for w in weights) + ")"
            text += f" Its weights are {mean} of {len(members)} runs (Members below), each {verb}"
        else:
            text += f" It was {verb}"
        text += (f" on {_dataset_said(training.dataset)} ({training.train_split or '?'}, "
                 f"{training.data.get('train_images', '?')} images)")
        if _mix(card):
            text += " and frames generated from them (Training data below)"
        planned = training.epochs if members else training.planned_epochs
        if training.epoch and planned and training.epoch < planned:  # a run stopped early, or its best epoch
            text += f"; these are the weights of epoch {training.epoch} of the {planned} its recipe plans"
        elif planned:
            text += f" for {count_text(planned, 'epoch')}"
        if training.wall_time_s:
            runs = " in all" if members else ""
            text += f" ({training.wall_time_s / 60:.0f} min{runs} on {_plain(training.hardware or 'a CPU')})"
        text += "."
    elif training.weights:
        text += f" Weights: {training.weights}."
    if training.chosen_by:
        text += f" The shipped weights are {_plain(training.chosen_by).split(';')[0].strip()}."  # a ';' in (...) too
    return text


def _dataset_said(dataset: str) -> str:
    """A recorded dataset as a card says it: a dataset's name in capitals ("SIRST"), "folder" or "auto" (which
    say how files lie, not which) as "a folder"."""
    if not dataset:
        return "?"
    return "a folder" if dataset.split("@")[0] in ("folder", "auto") else dataset.upper()


def _plain(text: str) -> str:
    """A card phrase without its parenthetical pointers (\"(see Experiments)\")."""
    return re.sub(r"\s*\([^()]*\)", "", text).strip()


def test_table(card: ModelCard) -> pd.DataFrame:
    """Test metrics, one row per input protocol: every card metric of the metric table the card holds
    (a plugin's too), labelled and scaled as the cards print them (Fa in 1e-6)."""
    metrics = card.test_metrics
    if not metrics:
        return pd.DataFrame()
    columns = metrics if all(isinstance(v, dict) for v in metrics.values()) else {"score": metrics}
    rows = []
    for protocol, values in columns.items():
        row: dict[str, Any] = {"input protocol": protocol}
        for spec in metric_specs(CARD):
            value = values.get(spec.key)
            if isinstance(value, (int, float)):
                row[spec.label] = round(float(value) * spec.scale, spec.decimals)
        rows.append(row)
    return pd.DataFrame(rows)


def experiments_table(model: Path | None) -> pd.DataFrame:
    """The experiments listed in a model's card JSON (run, recipe, epochs, result); empty without them."""
    experiments: list[Any] = []
    card = model.with_suffix(".json") if model is not None else None
    if card is not None and card.is_file():
        try:
            loaded = json.loads(card.read_text(encoding="utf-8"))
            experiments = loaded.get("experiments", []) if isinstance(loaded, dict) else []
        except (OSError, ValueError):
            experiments = []
    rows = [{"run": e.get("name", ""), "recipe": e.get("recipe", ""), "epochs": str(e.get("epochs", "")),
             "result": e.get("result", "")} for e in experiments if isinstance(e, Mapping)]
    return pd.DataFrame(rows, columns=["run", "recipe", "epochs", "result"])


@functools.cache
def glossary() -> dict[str, str]:
    """`GLOSSARY`, then every score of the metric table it does not explain (a plugin's too), by its own help
    (made once: every page's hover help reads it on every rerun; read it, never change it)."""
    explained = {part for term in GLOSSARY for part in term.split(" / ")}
    return {**GLOSSARY, **{spec.label: spec.help[:1].upper() + spec.help[1:] + "." for spec in metric_specs(CARD)
                           if spec.help and spec.label.split(" (")[0] not in explained}}


def help_for(*terms: str) -> str:
    """Glossary lines for a widget's help (hover)."""
    terms_explained = glossary()
    return "\n\n".join(f"**{t}**: {terms_explained[t]}" for t in terms if t in terms_explained)
