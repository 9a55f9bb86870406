"""Turn a finished training run into the shipped default model and its model card.

    python scripts/ship_model.py --run-dir RUN --data-dir ../shared/data [--command "..."]
    python scripts/ship_model.py --experiments-only data/models/experiments.json

Copies RUN/last.safetensors (the fixed schedule's final weights: the test split never
chooses anything) to data/models/lwirst-sirst.safetensors, exports the ONNX beside it,
copies the per-epoch log, scores SIRST test once in both input protocols and writes
data/models/lwirst-sirst.json (read by the dashboard) and data/models/MODEL_CARD.md.
`--experiments-only` rewrites only the card's table of experiments (a round whose rule
kept the shipped model adds rows, and scores nothing); with `--rescore` it also scores the
same weights on SIRST test again, for a round that changed the post-processing protocol.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import torch

from lwirst.bench import detect_cpu
from lwirst.checkpoint import load_model
from lwirst.complexity import count_complexity
from lwirst.datasets import open_dataset
from lwirst.evaluate import evaluate
from lwirst.export import export_onnx
from lwirst.inference import MODELS_DIR, Segmenter
from lwirst.postprocess import GROW_TO, describe_growth

NAME = "lwirst-sirst"
REPORTED = ("precision", "recall", "f1", "miou", "niou", "pd", "fa", "auc")
PROTOCOLS = ("auto", "resize", "native")
TEST_PROTOCOL = (f"SIRST idx_427 test (86 images), threshold 0 (probability 0.5), {describe_growth(GROW_TO)}, "
                 "scored at each image's own resolution; auto (the default) = resize up to 2 x 256^2 pixels, "
                 "native above (2 of the 86 test images run natively); resize = 256x256 network input; "
                 "native = padded full resolution")


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


def score(model_path: Path, data_dir: str, protocol: str) -> dict[str, float]:
    segmenter = Segmenter(model_path, backend="torch", protocol=protocol)
    dataset = open_dataset(data_dir, "sirst", "test")
    result = evaluate(segmenter, dataset, use_cache=False, keep_saliency=False)
    return {k: float(f"{result.metrics[k]:.6g}") for k in REPORTED}  # significant digits: Fa is ~1e-5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path)
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
                                    for p in PROTOCOLS}
            card["test_protocol"] = TEST_PROTOCOL
            card["card_commit"] = _commit()
            print(json.dumps(card["test_metrics"], indent=2))
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        log = pd.read_csv(MODELS_DIR / f"{NAME}.train_log.csv")
        (MODELS_DIR / "MODEL_CARD.md").write_text(render_card(card, log))
        return
    if args.run_dir is None or args.data_dir is None:
        parser.error("--run-dir and --data-dir are required (or --experiments-only)")
    torch.set_num_threads(2)

    run = json.loads((args.run_dir / "run.json").read_text())
    log = pd.read_csv(args.run_dir / "metrics.csv")
    state = torch.load(args.run_dir / "state.pt", map_location="cpu", weights_only=True)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    weights = MODELS_DIR / f"{NAME}.safetensors"
    shutil.copyfile(args.run_dir / "last.safetensors", weights)
    model, _ = load_model(weights)
    export_onnx(model, MODELS_DIR / f"{NAME}.onnx")
    log.to_csv(MODELS_DIR / f"{NAME}.train_log.csv", index=False)
    complexity = count_complexity(model)

    metrics = {protocol: score(weights, args.data_dir, protocol) for protocol in PROTOCOLS}
    commit = _commit()
    card = {
        "name": NAME,
        "params": complexity.params,
        "flops": complexity.flops,
        "config": run["config"],
        "recipe": run["recipe"],
        "data": run["data"],
        "epochs": int(state["epoch"]),
        "wall_time_s": round(float(state["wall_seconds"]), 1),
        "hardware": f"{detect_cpu().model}, shared 2-core VM, CPU only (threads: see the command)",
        "chosen_by": args.chosen_by or (
            "the final weights (EMA of the last epochs) of a fixed schedule, with a recipe chosen on the "
            "validation split (see Experiments); no checkpoint or setting was chosen on the test split, "
            "which was scored once for this card"),
        "test_metrics": metrics,
        "test_protocol": TEST_PROTOCOL,
        "command": args.command,
        "card_commit": commit,
        "experiments": json.loads(args.experiments.read_text()) if args.experiments else [],
    }
    if args.comparison:
        card["comparison"] = json.loads(args.comparison.read_text())
    (MODELS_DIR / f"{NAME}.json").write_text(json.dumps(card, indent=2) + "\n")
    (MODELS_DIR / "MODEL_CARD.md").write_text(render_card(card, log))
    print(json.dumps(metrics, indent=2))


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


def render_comparison(comparison: dict | None) -> str:
    """Markdown tables of a compare_models.py run: SIRST test, the suite and the samples, one row per model."""
    if not comparison:
        return ""
    models = comparison["models"]
    out = [f"## Beside other models, one run (`{comparison['command']}`, commit {comparison['commit']}, "
           f"{comparison['host']}; {comparison['protocol']})", ""]
    if any("sirst_test" in m for m in models.values()):
        out += ["SIRST test:", "", "| model | P | R | F1 | mIoU | nIoU | Pd | Fa | false blobs/frame |",
                "|---|---|---|---|---|---|---|---|---|"]
        for name, m in models.items():
            t = m["sirst_test"]
            out.append(f"| {name} | " + " | ".join(f"{t[k]:.4f}" for k in ("precision", "recall", "f1", "miou",
                                                                             "niou", "pd"))
                       + f" | {t['fa'] * 1e6:.1f}e-6 | {t['blobs_per_frame']:.3f} |")
        out.append("")
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


def render_card(card: dict, log: pd.DataFrame) -> str:
    rows = "\n".join(
        f"| {p} | " + " | ".join(f"{m[k] * 1e6:.1f}e-6" if k == "fa" else f"{m[k]:.4f}" for k in REPORTED) + " |"
        for p, m in card["test_metrics"].items()
    )
    experiments = "\n".join(
        f"| {e['name']} | {e['recipe']} | {e['epochs']} | {e['result']} |" for e in card["experiments"]
    ) or "| (none) | | | |"
    return f"""# Model card: {card['name']}

LW-IRSTNet ({card['params'] / 1e6:.4f} M parameters, {card['flops'] / 1e6:.2f} M FLOPs at 256x256,
THOP convention) trained by this project's own pipeline on SIRST.

* **Data:** `{json.dumps(card['data'])}` ({data_note(card['data'])})
* **Recipe:** `{json.dumps(card['recipe'])}`
* **Config:** `{json.dumps(card['config'])}`
* **Epochs / wall time:** {card['epochs']} epochs, {card['wall_time_s'] / 60:.1f} min on {card['hardware']}
* **How the shipped weights were chosen:** {card['chosen_by']}.
* **Command:** `{card['command']}`, then `python scripts/ship_model.py --run-dir RUN --data-dir ../shared/data`
* **Card written at commit:** {card['card_commit']}

## Test metrics ({card['test_protocol']})

| protocol | P | R | F1 | mIoU | nIoU | Pd | Fa | AUC |
|---|---|---|---|---|---|---|---|---|
{rows}

{render_comparison(card.get("comparison"))}
## Experiments tried

| name | recipe | epochs | result |
|---|---|---|---|
{experiments}

## Per-epoch log

`{card['name']}.train_log.csv`: epoch, lr, train loss, validation IoU (resize protocol), seconds.
Final epoch: {log.iloc[-1].to_dict()}
"""


if __name__ == "__main__":
    main()
