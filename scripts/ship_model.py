"""Turn a finished training run into the shipped default model and its model card.

    python scripts/ship_model.py --run-dir RUN --data-dir ../shared/data [--command "..."]
    python scripts/ship_model.py --soup SOUP.safetensors --member-runs RUN... --data-dir ../shared/data
    python scripts/ship_model.py --experiments-only data/models/experiments.json

Copies RUN/last.safetensors (the fixed schedule's final weights: the test split never
chooses anything) to data/models/lwirst-sirst.safetensors, exports the ONNX beside it,
copies the per-epoch log, scores SIRST test once in both input protocols and writes
data/models/lwirst-sirst.json (read by the dashboard) and data/models/MODEL_CARD.md.
`--soup` ships a weight mean written by `lwirst average` instead: every member must be one of
`--member-runs` (matched by content hash), whose recipes, commands and per-epoch logs the card
records member by member. `--experiments-only` rewrites only the card's table of experiments (a round whose rule
kept the shipped model adds rows, and scores nothing); with `--rescore` it also scores the
same weights on SIRST test again, for a round that changed the post-processing protocol.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from lwirst import jsonio
from lwirst.bench import detect_cpu
from lwirst.checkpoint import file_hash, load_checkpoint, load_model
from lwirst.complexity import count_complexity
from lwirst.consensus import DEFAULT_MIRROR, DEFAULT_SCALE
from lwirst.consensus import said as said_consensus
from lwirst.datasets import open_dataset
from lwirst.evaluate import evaluate
from lwirst.export import export_onnx, trained_size
from lwirst.inference import MODELS_DIR, Segmenter
from lwirst.modelcard import shareable_training
from lwirst.paths import checkout_commit
from lwirst.postprocess import GROW_TO, describe_growth
from lwirst.prominence import DEFAULT_PER_DOUBLING
from lwirst.prominence import describe as describe_margin
from lwirst.scoring import CARD, metric_spec, metric_specs

NAME = "lwirst-sirst"
REPORTED = tuple(spec.key for spec in metric_specs(CARD))  # the metric table's card view, a plugin's too
# the protocols the card scores SIRST test in (not every one lwirst offers: a pyramid is what auto runs for large
# frames, so auto's row holds it)
SCORED_PROTOCOLS = ("auto", "resize", "native")
TEST_PROTOCOL = (f"SIRST idx_427 test (86 images), threshold 0 (probability 0.5), {describe_growth(GROW_TO)}, "
                 "scored at each image's own resolution; auto (the default) = resize up to 2 x 256^2 pixels, "
                 "a pyramid above (natively and at half size, maps united; 2 of the 86 test images); "
                 "resize = 256x256 network input; "
                 "native = padded full resolution"
                 + said_consensus(DEFAULT_SCALE, DEFAULT_MIRROR, "; every protocol with {}, the default")
                 + (f"; {describe_margin(DEFAULT_PER_DOUBLING)}, on auto's pyramid frames and native's large "
                    "ones (the default)" if DEFAULT_PER_DOUBLING else ""))


def score(model_path: Path, data_dir: str, protocol: str) -> dict[str, float]:
    segmenter = Segmenter(model_path, backend="torch", protocol=protocol, confirm=DEFAULT_SCALE, mirror=DEFAULT_MIRROR,
                          margin=DEFAULT_PER_DOUBLING)
    dataset = open_dataset(data_dir, "sirst", "test")
    result = evaluate(segmenter, dataset, use_cache=False, keep_saliency=False)
    return {k: float(f"{result.metrics[k]:.6g}") for k in REPORTED}  # significant digits: Fa is ~1e-5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--soup", type=Path, help="ship this `lwirst average` checkpoint instead of a run's weights")
    parser.add_argument("--member-runs", type=Path, nargs="+", default=[],
                        help="with --soup: the training runs of every member of the mean")
    parser.add_argument("--member-soups", type=Path, nargs="+", default=[],
                        help="with --soup: earlier weight means among its ingredients, each with its card "
                             "(<stem>.json) and log (<stem>.train_log.csv) beside it")
    parser.add_argument("--data-dir")
    parser.add_argument("--command", default="", help="the exact `lwirst train` command of the run")
    parser.add_argument("--experiments", type=Path, help="JSON list of other recipes tried, with their scores")
    parser.add_argument("--chosen-by", default="", help="how the shipped run was chosen (the round's rule)")
    parser.add_argument("--comparison", type=Path,
                        help="scripts/compare_models.py JSON: the shipped model beside others in one run")
    parser.add_argument("--rescore", action="store_true",
                        help="with --experiments-only: score the shipped weights on SIRST test again (the "
                             "post-processing protocol changed; the weights did not)")
    parser.add_argument("--experiments-only", type=Path, metavar="EXPERIMENTS",
                        help="only replace the shipped card's experiments with this JSON list")
    args = parser.parse_args()
    if args.experiments_only:
        card_path = MODELS_DIR / f"{NAME}.json"
        card = json.loads(card_path.read_text())
        card["experiments"] = json.loads(args.experiments_only.read_text())
        if args.comparison:
            card["comparison"] = json.loads(args.comparison.read_text())
        if args.rescore:
            if args.data_dir is None:
                parser.error("--rescore needs --data-dir")
            torch.set_num_threads(2)
            card["test_metrics"] = {p: score(MODELS_DIR / f"{NAME}.safetensors", args.data_dir, p)
                                    for p in SCORED_PROTOCOLS}
            card["test_protocol"] = TEST_PROTOCOL
            card["confirm"], card["mirror"], card["margin"] = DEFAULT_SCALE, DEFAULT_MIRROR, DEFAULT_PER_DOUBLING
            card["card_commit"] = checkout_commit()
            print(jsonio.dumps(card["test_metrics"], indent=2))
        card_path.write_text(jsonio.dumps(card, indent=2) + "\n")
        log = pd.read_csv(MODELS_DIR / f"{NAME}.train_log.csv")
        (MODELS_DIR / "MODEL_CARD.md").write_text(render_card(card, log))
        return
    if (args.run_dir is None) == (args.soup is None) or args.data_dir is None:
        parser.error("--data-dir and one of --run-dir or --soup are required (or --experiments-only)")
    torch.set_num_threads(2)

    if args.soup is not None:
        source = args.soup
        training = soup_training(args.soup, args.member_runs, args.member_soups)
        log = member_logs(args.member_runs, args.member_soups)
    else:
        source, training = args.run_dir / "last.safetensors", run_training(args.run_dir)
        log = pd.read_csv(args.run_dir / "metrics.csv")
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    weights = MODELS_DIR / f"{NAME}.safetensors"
    shutil.copyfile(source, weights)
    model, meta = load_model(weights)
    export_onnx(model, MODELS_DIR / f"{NAME}.onnx", trained=trained_size(meta),  # the notes `lwirst export` writes
                record=shareable_training(weights, meta))
    log.to_csv(MODELS_DIR / f"{NAME}.train_log.csv", index=False)
    complexity = count_complexity(model)

    metrics = {protocol: score(weights, args.data_dir, protocol) for protocol in SCORED_PROTOCOLS}
    commit = checkout_commit()
    card = {
        "name": NAME,
        "params": complexity.params,
        "flops": complexity.flops,
        **training,
        "hardware": f"{detect_cpu().model}, shared 2-core VM, CPU only (threads: see the command)",
        "chosen_by": args.chosen_by or (
            "the final weights (EMA of the last epochs) of a fixed schedule, with a recipe chosen on the "
            "validation split (see Experiments); no checkpoint or setting was chosen on the test split, "
            "which was scored for this card after the decision"),
        "test_metrics": metrics,
        "test_protocol": TEST_PROTOCOL,
        "confirm": DEFAULT_SCALE,
        "mirror": DEFAULT_MIRROR,
        "margin": DEFAULT_PER_DOUBLING,
        "command": args.command,
        "card_commit": commit,
        "experiments": json.loads(args.experiments.read_text()) if args.experiments else [],
    }
    if args.comparison:
        card["comparison"] = json.loads(args.comparison.read_text())
    (MODELS_DIR / f"{NAME}.json").write_text(jsonio.dumps(card, indent=2) + "\n")
    (MODELS_DIR / "MODEL_CARD.md").write_text(render_card(card, log))
    print(jsonio.dumps(metrics, indent=2))


def run_training(run_dir: Path) -> dict:
    """The card's training fields of one run: its config, recipe, data, length and wall time."""
    run = json.loads((run_dir / "run.json").read_text())
    state = torch.load(run_dir / "state.pt", map_location="cpu", weights_only=True)
    return {"config": run["config"], "recipe": run["recipe"], "data": run["data"], "epochs": int(state["epoch"]),
            "wall_time_s": round(float(state["wall_seconds"]), 1)}


def soup_training(soup: Path, member_runs: list[Path], member_soups: Sequence[Path] = ()) -> dict:
    """The card's training fields of a weight mean: each member's run (matched to the mean's
    ingredients by content hash) with its weight, loss and seed; the members' shared config, data and
    length; their wall times summed. An ingredient may itself be an earlier weight mean (`member_soups`,
    each with its card `<stem>.json` beside it): a mean of means is the mean of their members, so its
    members join this one's, each weighted by its share times the ingredient's. Members may start from
    different weights (a fine-tune of an earlier mean averaged with it): each row names its start and the
    recipe fields, beyond loss and seed, in which it differs from the card's. Refuses an ingredient that
    is neither, or members that differ in training data or network."""
    _, _, meta = load_checkpoint(soup)
    ingredients = meta.get("averaged")
    if not ingredients:
        raise SystemExit(f"{soup}: not a weight mean written by `lwirst average`")
    runs = {file_hash(run / "last.safetensors"): run for run in member_runs}
    soups = {file_hash(path): path for path in member_soups}
    parts = []  # (source, training fields, member rows) per ingredient
    for ingredient in ingredients:
        weight, digest = float(ingredient["weight"]), ingredient["sha256"]
        if (run_dir := runs.get(digest)) is not None:
            training = run_training(run_dir)
            rows = [{"run": run_dir.name, "weight": weight, "loss": training["recipe"]["loss"],
                     "seed": training["recipe"]["seed"], "sha256": digest}]
            parts.append((run_dir, training, rows))
        elif (path := soups.get(digest)) is not None:
            training, inner = soup_card(path)
            parts.append((path, training, [{**m, "weight": weight * float(m["weight"])} for m in inner]))
        else:
            raise SystemExit(f"{soup}: member {ingredient['file']} is none of --member-runs' last.safetensors "
                             "or --member-soups")
    first = parts[0][1]
    for source, training, rows in parts:
        if _trained_on(training["data"]) != _trained_on(first["data"]) or training["config"] != first["config"]:
            raise SystemExit(f"{source}: trained on other data or another network than {parts[0][0]}")
        changes = {k: v for k, v in training["recipe"].items()
                   if k not in ("loss", "seed") and first["recipe"].get(k) != v}
        for row in rows:
            row.setdefault("start", _start(training["data"]))
            row.setdefault("recipe_changes", changes)
    record: dict = {"members": [{**row, "weight": round(row["weight"], 4)} for _, _, rows in parts for row in rows],
                    "bn_refit": meta.get("bn_refit", {})}
    if soups:
        record["built_from"] = [{"file": i["file"], "sha256": i["sha256"], "weight": round(float(i["weight"]), 4)}
                                for i in ingredients]
    return {
        "config": first["config"], "recipe": first["recipe"], "data": first["data"], "epochs": first["epochs"],
        "wall_time_s": round(sum(t["wall_time_s"] for _, t, _ in parts), 1), "soup": record,
    }


def soup_card(mean: Path) -> tuple[dict, list[dict]]:
    """(training fields, members) of an earlier weight mean, read from the card beside its checkpoint."""
    card_path = mean.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
        members = card["soup"]["members"]
        training = {k: card[k] for k in ("config", "recipe", "data", "epochs", "wall_time_s")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{mean}: no weight mean's card beside it ({card_path}: {exc})") from exc
    return training, members


def _trained_on(data: dict) -> dict:
    """A run's data record without its start weights (their hash and where the file lay): what members of one
    mean must share."""
    return {k: v for k, v in data.items() if k not in ("init", "init_path")}


def _start(data: dict) -> str:
    """The weights a run started from, by content hash (the same weights under another file name are the
    same start); "scratch" for none."""
    init = data.get("init")
    return str(init.get("sha256") if isinstance(init, dict) else init or "scratch")


def member_logs(member_runs: list[Path], member_soups: Sequence[Path] = ()) -> pd.DataFrame:
    """The members' per-epoch logs, one block per run (`member` names it): an earlier mean's blocks come
    from its log (`<stem>.train_log.csv`), which names its members already."""
    blocks = [pd.read_csv(mean.with_suffix(".train_log.csv")) for mean in member_soups]
    blocks += [pd.read_csv(run / "metrics.csv").assign(member=run.name) for run in member_runs]
    return pd.concat(blocks, ignore_index=True)


def data_note(data: dict) -> str:
    """What the run's validation scores mean for SIRST's split lists (val is a subset of trainval)."""
    if not data.get("val_split"):
        return "SIRST idx_427; no validation during training: a fixed schedule whose final weights ship"
    if data.get("train_split") == "trainval":
        return ("SIRST idx_427; val is a subset of trainval, so validation scores in the log are "
                "in-sample monitoring, never a selection criterion")
    return "SIRST idx_427; train and val are disjoint"


def _cell(value: object, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3f}" if isinstance(value, float) else str(value)


def metric_table(first: str, keys: Sequence[str], rows: Mapping[str, Mapping[str, Any]]) -> str:
    """A markdown table of metrics, one row per name in `rows`, each column labelled and formatted as the metric
    table shows it (`lwirst.scoring`: Fa in units of 1e-6)."""
    specs = [metric_spec(key) for key in keys]
    lines = ["| " + " | ".join([first, *(spec.label for spec in specs)]) + " |", "|---|" + "---|" * len(specs)]
    lines += [f"| {name} | " + " | ".join(spec.format(values.get(spec.key)) for spec in specs) + " |"
              for name, values in rows.items()]
    return "\n".join(lines)


def render_comparison(comparison: dict | None) -> str:
    """Markdown tables of a compare_models.py run: SIRST test, the suite and the samples, one row per model."""
    if not comparison:
        return ""
    models = comparison["models"]
    out = [f"## Beside other models, one run (`{comparison['command']}`, commit {comparison['commit']}, "
           f"{comparison['host']}; {comparison['protocol']})", ""]
    if any("sirst_test" in m for m in models.values()):
        keys = ("precision", "recall", "f1", "miou", "niou", "pd", "fa", "blobs_per_frame")
        out += ["SIRST test:", "", metric_table("model", keys, {name: m["sirst_test"] for name, m in models.items()}),
                ""]
    if any("suite" in m for m in models.values()):
        out += ["Cross-domain validation suite (`lwirst evaluate --suite xdomain`), pooled:", "",
                "| model | Pd (target parts) | false blobs per empty frame | empty frames alarmed |",
                "|---|---|---|---|"]
        for name, m in models.items():
            pooled = m["suite"]["pooled"]
            out.append(f"| {name} | {pooled['pd']:.3f} | {pooled['blobs_per_empty_frame']:.3f} | "
                       f"{pooled['empty_alarm_rate']:.1%} |")
        out += ["", "Per part:", "", "| part | " + " | ".join(f"{n} Pd / mIoU / blobs per frame" for n in models)
                + " |", "|---|" + "---|" * len(models)]
        names = [row["part"] for row in next(iter(models.values()))["suite"]["parts"]]
        for i, part in enumerate(names):
            cells = []
            for m in models.values():
                row = m["suite"]["parts"][i]
                cells.append(f"{_cell(row['pd'])} / {_cell(row['miou'])} / {row['blobs_per_frame']:.3f}")
            out.append(f"| {part} | " + " | ".join(cells) + " |")
        out.append("")
    if any("samples" in m for m in models.values()):
        out += ["Embedded samples (`data/samples`):", "", "| model | targets found | false alarms per frame | mIoU |",
                "|---|---|---|---|"]
        for name, m in models.items():
            t = m["samples"]
            out.append(f"| {name} | {int(t['detected'])} of {int(t['targets'])} | "
                       f"{t['false_alarms'] / t['images']:.3f} | {t['miou']:.3f} |")
        out.append("")
    return "\n".join(out)


def _changes(changes: dict | None) -> str:
    """A member's recipe fields that differ from the card's, as `field=value`; "as below" for none."""
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in changes.items()) if changes else "as below"


def render_soup(soup: dict | None) -> str:
    """The members of a weight mean, as a table (empty for one run's weights)."""
    if not soup:
        return ""
    refit = soup.get("bn_refit", {})
    rows = "\n".join(f"| {m['run']} | {m['weight']:g} | `{m['loss']}` | {m['seed']} | {m.get('start', '?')} | "
                      f"{_changes(m.get('recipe_changes'))} | {m['sha256']} |" for m in soup["members"])
    built = ", ".join(f"`{i['file']}` ({i['sha256']}, weight {i['weight']:g})" for i in soup.get("built_from", []))
    if built:
        built = f"\nIt was written as the mean of {built}: a mean of means is the mean of their members, listed here."
    starts = {m.get("start") for m in soup["members"]}
    of = "one start" if len(starts) == 1 else f"{len(starts)} starts"
    return f"""
The shipped weights are a weighted mean of {len(soup['members'])} fine-tunes of {of} (`lwirst average`;
BatchNorm statistics re-estimated on {refit.get('batches', '?')} x {refit.get('batch_size', '?')} training frames,
seed {refit.get('seed', '?')}); each member trained with the recipe below but for its loss, seed and the fields
listed, from the start weights named (sha256, 16 hex digits).{built}

| member run | weight | loss | seed | start | recipe otherwise | sha256 (16) |
|---|---|---|---|---|---|---|
{rows}
"""


def render_card(card: dict, log: pd.DataFrame) -> str:
    scored = [key for key in REPORTED if any(key in m for m in card["test_metrics"].values())]
    rows = metric_table("protocol", scored, card["test_metrics"])
    experiments = "\n".join(
        f"| {e['name']} | {e['recipe']} | {e['epochs']} | {e['result']} |" for e in card["experiments"]
    ) or "| (none) | | | |"
    if card.get("soup"):
        ship_args = "--soup SOUP --member-runs RUN... [--member-soups MEAN...] --data-dir ../shared/data"
        finals = log.groupby("member", sort=False).tail(1).set_index("member")
        log_note = ", and the member's run (one block per member). Final epochs: " + "; ".join(
            f"{member}: {row.to_dict()}" for member, row in finals.iterrows())
    else:
        ship_args = "--run-dir RUN --data-dir ../shared/data"
        log_note = f". Final epoch: {log.iloc[-1].to_dict()}"
    return f"""# Model card: {card['name']}

LW-IRSTNet ({card['params'] / 1e6:.4f} M parameters, {card['flops'] / 1e6:.2f} M FLOPs at 256x256,
THOP convention) trained by this project's own pipeline on SIRST.

* **Data:** `{json.dumps({k: v for k, v in card['data'].items() if k != 'train_files'})}` ({data_note(card['data'])})
* **Recipe:** `{json.dumps(card['recipe'])}`
* **Config:** `{json.dumps(card['config'])}`
* **Epochs / wall time:** {card['epochs']} epochs, {card['wall_time_s'] / 60:.1f} min on {card['hardware']}
* **How the shipped weights were chosen:** {card['chosen_by']}.
* **Command:** `{card['command']}`, then `python scripts/ship_model.py {ship_args}`
* **Card written at commit:** {card['card_commit']}
{render_soup(card.get("soup"))}
## Test metrics ({card['test_protocol']})

{rows}

Each row: `lwirst evaluate --data-dir ../shared/data --split test --protocol PROTOCOL` (its defaults are the card's).

{render_comparison(card.get("comparison"))}
## Experiments tried

Each row's figures come from that round's own run, named in it, on the suites as they were then: the
cross-domain suite was rebuilt over the rounds (mosaics from round 13 on), so figures of different rounds
are no one comparison. The suite's bar is read against round 8's weights in one run with the shipped model
(the README's "quarter bar" table, with its command); round 8's row below is older.

| name | recipe | epochs | result |
|---|---|---|---|
{experiments}

## Per-epoch log

`{card['name']}.train_log.csv`: epoch, lr, train loss, validation IoU (resize protocol), seconds{log_note}.
"""


if __name__ == "__main__":
    main()
