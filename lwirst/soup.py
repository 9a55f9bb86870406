"""Weight averaging ("model soups", Wortsman et al. 2022): one network from several fine-tunes.

Fine-tunes that start from one set of weights stay in one basin of the loss, so their
element-wise mean is a network too, and it cancels part of the run-to-run (seed) noise
that a single fine-tune carries. Averaged weights do not fit averaged BatchNorm
statistics (see `lwirst.train.Trainer.eval_model`), so the soup's statistics are
re-estimated on augmented training frames, drawn the way the first ingredient was trained.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lwirst.checkpoint import file_hash, load_checkpoint
from lwirst.datasets import SegDataset
from lwirst.errors import LwirstError
from lwirst.models import NetworkConfig, build_model
from lwirst.train import RECIPES, Recipe, TrainSet, recalibrate_batchnorm

log = logging.getLogger(__name__)

MAX_INGREDIENTS = 64


@dataclass(frozen=True)
class BatchNormRefit:
    """How the soup's BatchNorm statistics are re-estimated."""

    batches: int = 32
    batch_size: int = 4
    seed: int = 0


@dataclass
class Soup:
    """The averaged network (eval mode), its config, and what it was made from."""

    model: torch.nn.Module
    config: NetworkConfig
    ingredients: list[dict[str, Any]]
    recipe: Recipe
    member_data: list[Any] = field(default_factory=list)  # each ingredient's recorded training data, if any

    def trained_on(self, dataset: str, refit_split: str) -> str:
        """The split the soup's images came from, so that a view scoring it on them says in-sample (a soup
        recorded none, and its own training images passed for unseen): the members' own when they all trained on
        one split of `dataset`, else the split its BatchNorm was refit on."""
        splits = {(r.get("dataset"), r.get("train_split")) for r in self.member_data if isinstance(r, dict)}
        if len(splits) == 1 and all(isinstance(r, dict) for r in self.member_data):
            member_dataset, member_split = next(iter(splits))
            if member_dataset == dataset and member_split:
                return str(member_split)
        return refit_split

    def meta(self, refit: BatchNormRefit, data: dict[str, Any]) -> dict[str, Any]:
        """Checkpoint metadata: the ingredients by name and hash, the recipe the BN frames were
        drawn with, and the refit's settings and data."""
        return {"averaged": self.ingredients, "recipe": self.recipe.to_dict(),
                "bn_refit": dataclasses.asdict(refit), "data": data}


def recipe_of(meta: dict[str, Any]) -> Recipe:
    """The recipe a checkpoint was trained with (fields it lacks keep their defaults); the
    default recipe for a checkpoint that records none."""
    saved = meta.get("recipe")
    if not isinstance(saved, dict):
        return RECIPES["default"]
    known = {f.name for f in dataclasses.fields(Recipe)}
    try:
        recipe = dataclasses.replace(RECIPES["default"], **{k: v for k, v in saved.items() if k in known})
        recipe.validate()
    except (TypeError, ValueError, LwirstError) as exc:
        raise LwirstError(f"the checkpoint's recorded recipe is not usable ({exc})") from exc
    return recipe


def average_states(paths: Sequence[str | Path], weights: Sequence[float] | None = None) -> tuple[
        NetworkConfig, dict[str, torch.Tensor], list[dict[str, Any]], list[dict[str, Any]]]:
    """(config, mean state, ingredients, each checkpoint's meta) of checkpoints of one network.

    `weights` (one per checkpoint, non-negative, normalised to sum 1; default uniform) make the
    mean a weighted one: a point on the line between two fine-tunes rather than its middle.
    Float tensors are averaged in float64; integer ones (BN batch counters) come from the
    first checkpoint. Refuses fewer than two files, a file given twice, or differing configs.
    """
    if len(paths) < 2:
        raise LwirstError("averaging needs at least two checkpoints")
    if len(paths) > MAX_INGREDIENTS:
        raise LwirstError(f"{len(paths)} checkpoints given; at most {MAX_INGREDIENTS} can be averaged")
    shares = normalise_weights(weights, len(paths))
    hashes = [file_hash(p) if Path(p).is_file() else "" for p in paths]
    for i, digest in enumerate(hashes):
        if digest and digest in hashes[:i]:
            raise LwirstError(f"{paths[i]} is the same file as {paths[hashes.index(digest)]}; give each "
                              "checkpoint once")
    config, first, first_meta = load_checkpoint(paths[0])
    metas = [first_meta]
    sums = {k: v.double() * shares[0] if v.is_floating_point() else v.clone() for k, v in first.items()}
    for path, share in zip(paths[1:], shares[1:], strict=True):
        other_config, state, meta = load_checkpoint(path)
        metas.append(meta)
        if other_config != config:
            raise LwirstError(f"{path}: its network differs from {paths[0]}'s; only checkpoints of one "
                              "network (one config) can be averaged")
        for key, value in state.items():
            if value.is_floating_point():
                sums[key] += value.double() * share
    state = {k: v.to(first[k].dtype) if v.is_floating_point() else v for k, v in sums.items()}
    ingredients = [{"file": _short_name(Path(p)), "sha256": h, "weight": w}
                   for p, h, w in zip(paths, hashes, shares, strict=True)]
    return config, state, ingredients, metas


def normalise_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """`count` ingredient weights summing to 1 (uniform for None); refuses a wrong count, a negative or
    non-finite weight, or all zeros."""
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise LwirstError(f"{len(weights)} weights given for {count} checkpoints; give one per checkpoint")
    # validity first: fsum itself raises on inf + -inf
    if not all(math.isfinite(w) and w >= 0 for w in weights) or (total := math.fsum(weights)) <= 0:
        raise LwirstError("weights must be finite, non-negative and not all zero")
    return [w / total for w in weights]


def _short_name(path: Path) -> str:
    """The file name with its folder (fine-tunes are all `last.safetensors` in their run folders)."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def make_soup(paths: Sequence[str | Path], train_set: SegDataset, refit: BatchNormRefit = BatchNormRefit(), *,
              recipe: Recipe | None = None, weights: Sequence[float] | None = None) -> Soup:
    """Average `paths` (`weights`: see `average_states`) and re-estimate BN statistics on `train_set`
    frames drawn with `recipe` (default: the first checkpoint's recorded recipe)."""
    config, state, ingredients, metas = average_states(paths, weights)
    recipe = recipe or recipe_of(metas[0])
    model = build_model(config=config)
    model.load_state_dict(state)
    log.info("averaged %d checkpoints; re-estimating BatchNorm on %d batches of %d", len(paths),
             refit.batches, refit.batch_size)
    torch.manual_seed(refit.seed)  # dropout runs during the refit, as in training's
    recalibrate_batchnorm(model, TrainSet(train_set, recipe, config.in_channels), seed=refit.seed,
                          batch_size=refit.batch_size, batches=refit.batches)
    return Soup(model.eval(), config, ingredients, recipe, [m.get("data") for m in metas])
