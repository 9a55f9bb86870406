"""Score several models in one run, one protocol, on the same data: the figures the model card,
the README and the dashboard compare.

    python scripts/compare_models.py --data-dir ../shared/data --out data/models/comparison.json \\
        --model shipped=data/models/lwirst-sirst.safetensors --model published=/path/LW_IRST.onnx \\
        --split test --suite xdomain --samples

Each model runs through `lwirst evaluate`'s code path (protocol auto, threshold 0, torch for
checkpoints and onnxruntime for ONNX files) on the SIRST splits named, the cross-domain suite
and the embedded samples; the JSON keeps the command, host and commit beside the figures.
The published ONNX may be measured locally; it is never committed or needed by CI.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from lwirst import jsonio
from lwirst.bench import detect_cpu
from lwirst.checkpoint import file_hash
from lwirst.commands.segment import margin_value
from lwirst.datasets import open_dataset
from lwirst.evaluate import evaluate
from lwirst.inference import PROTOCOLS, Segmenter
from lwirst.paths import REPO_ROOT, SAMPLES_DIR
from lwirst.postprocess import GROW_TO, describe_growth
from lwirst.scoring import metric_specs
from lwirst.suite import PROBES, SUITES, build_suite, evaluate_suite
from lwirst.validate import number

SAMPLES = SAMPLES_DIR


def _figures(metrics: dict[str, float]) -> dict[str, float]:
    """Every figure of the metric table (`lwirst.scoring`, a plugin's too) but the machine's speed, to 6 digits."""
    return {spec.key: float(f"{metrics[spec.key]:.6g}") for spec in metric_specs()
            if spec.key in metrics and spec.key != "fps"}


def _segmenter(path: str, palettes: bool, confirm: float | None, protocol: str, mirror: bool,
               margin: float) -> Segmenter:
    backend = "onnxruntime" if path.lower().endswith(".onnx") else "torch"
    return Segmenter(path, backend=backend, palettes=palettes, confirm=confirm, protocol=protocol, mirror=mirror,
                     margin=margin)


def _named(parser: argparse.ArgumentParser, option: str, specs: list[str], models: dict[str, str],
           values: bool = True) -> dict[str, str]:
    """An option's NAME=VALUE entries (or bare NAMEs, `values` False), each of which must name a --model."""
    if values and (bad := [spec for spec in specs if "=" not in spec]):
        parser.error(f"{option} {bad[0]}: give NAME=VALUE")
    named = dict(spec.split("=", 1) if values else (spec, "") for spec in specs)
    if models and set(named) - set(models):
        parser.error(f"{option} names no --model: {', '.join(sorted(set(named) - set(models)))}")
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--model", action="append", required=True, metavar="NAME=PATH",
                        help="a checkpoint or ONNX file to score, named NAME in the output (repeat for each model)")
    parser.add_argument("--data-dir", required=True,
                        help="the data root holding sirst/ (for --split, --suite and --probe)")
    parser.add_argument("--split", action="append", default=[], help="SIRST splits to score (val, test)")
    sets = parser.add_mutually_exclusive_group()
    sets.add_argument("--suite", choices=SUITES)
    sets.add_argument("--probe", choices=PROBES, help="a probe's frames (`lwirst.suite.PROBES`) scored as a suite")
    parser.add_argument("--samples", action="store_true", help="also score the embedded samples (data/samples)")
    parser.add_argument("--palettes-off", action="append", default=[], metavar="NAME",
                        help="run model NAME with palette decoding off (colour frames as BGR)")
    parser.add_argument("--confirm", action="append", default=[], metavar="NAME=SCALE",
                        help="run model NAME with scale consensus at SCALE (`lwirst.consensus`). Off by default "
                             "here, unlike every lwirst command (1.5): pass NAME=1.5 to score a model as the "
                             "product runs it")
    parser.add_argument("--mirror", action="append", default=[], metavar="NAME",
                        help="run model NAME with large frames also confirmed mirrored (`lwirst.consensus`; off, "
                             "the default here)")
    parser.add_argument("--margin", action="append", default=[], metavar="NAME=K",
                        help="run model NAME with a peak margin of K logits per doubling of a large frame's area "
                             "(`lwirst.prominence`). Off by default here, unlike every lwirst command (1): pass "
                             "NAME=1 to score a model as the product runs it")
    parser.add_argument("--protocol", action="append", default=[], metavar="NAME=PROTOCOL",
                        help=f"run model NAME with PROTOCOL ({', '.join(PROTOCOLS)}; default auto)")
    parser.add_argument("--threads", type=number(int, lo=1, hi=256), default=2, help="CPU threads (default 2)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON written (after each model)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = _named(parser, "--model", args.model, {})
    _named(parser, "--palettes-off", args.palettes_off, models, values=False)
    confirm = {name: float(scale) for name, scale in _named(parser, "--confirm", args.confirm, models).items()
               if scale != "off"}
    mirrored = _named(parser, "--mirror", args.mirror, models, values=False)
    margins = {name: margin_value(k) for name, k in _named(parser, "--margin", args.margin, models).items()}
    protocols = _named(parser, "--protocol", args.protocol, models)
    if bad := {p for p in protocols.values() if p not in PROTOCOLS}:
        parser.error(f"--protocol {', '.join(sorted(bad))}: choose {', '.join(PROTOCOLS)}")
    parts = (build_suite(args.suite, args.data_dir) if args.suite
             else PROBES[args.probe](args.data_dir) if args.probe else [])
    report: dict[str, object] = {
        "command": "python scripts/compare_models.py " + shlex.join(sys.argv[1:]),
        "host": detect_cpu().model,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=REPO_ROOT).stdout.strip(),
        "protocol": "auto (resize to 256x256 up to 2x its area; above, a pyramid: natively and at half size, "
                    "maps united; fixed-size ONNX graphs: resize), "
                    f"threshold 0 (probability 0.5), {describe_growth(GROW_TO)}, scored at each image's own "
                    "resolution" + (f"; scale consensus at {', '.join(f'{s:g}x for {n}' for n, s in confirm.items())}"
                                    if confirm else "")
                    + (f"; large frames also confirmed mirrored for {', '.join(mirrored)}" if mirrored else "")
                    + (f"; peak margin on large frames (logits per doubling of the area) "
                       f"{', '.join(f'{k:g} for {n}' for n, k in margins.items())}" if margins else "")
                    + (f"; protocol {', '.join(f'{p} for {n}' for n, p in protocols.items())}" if protocols else ""),
        "models": {},
    }
    for name, path in models.items():
        start = time.perf_counter()
        segmenter = _segmenter(path, name not in args.palettes_off, confirm.get(name), protocols.get(name, "auto"),
                               name in mirrored, margins.get(name, 0.0))
        entry: dict[str, object] = {"path": Path(path).name, "hash": file_hash(path),
                                    "backend": segmenter.backend_name, "palettes": segmenter.palettes,
                                    "confirm": segmenter.confirm, "mirror": segmenter.mirror,
                                    "margin": segmenter.margin, "protocol": segmenter.protocol}
        for split in args.split:
            result = evaluate(segmenter, open_dataset(args.data_dir, "sirst", split), use_cache=False,
                              keep_saliency=False)
            entry[f"sirst_{split}"] = _figures(result.metrics)
        if args.samples:
            result = evaluate(segmenter, open_dataset(SAMPLES, "folder", "all"), use_cache=False,
                              keep_saliency=False)
            entry["samples"] = _figures(result.metrics)
        if parts:
            suite = evaluate_suite(segmenter, parts)
            entry["suite"] = {"pooled": {"pd": suite.pd, "blobs_per_empty_frame": suite.blobs_per_empty_frame,
                                         "empty_alarm_rate": suite.empty_alarm_rate},
                              "parts": suite.rows()}
        entry["seconds"] = round(time.perf_counter() - start, 1)
        report["models"][name] = entry  # type: ignore[index]
        print(name, jsonio.dumps({k: v for k, v in entry.items() if k != "suite"}), flush=True)
        if parts:
            print(name, "suite", jsonio.dumps(entry["suite"]["pooled"]), flush=True)  # type: ignore[index]
        args.out.write_text(jsonio.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
