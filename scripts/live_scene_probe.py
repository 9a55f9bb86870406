"""How the Live page's synthetic sensor looks through a model: each preset streamed as the page streams
it (a fresh tracker per 250-frame sequence, seeds 0..N-1), scored against the generator's masks.

    python scripts/live_scene_probe.py --model data/models/lwirst-sirst.safetensors --seeds 24 \\
        --preset sirst --preset live-before --out /work/runs/live_scene.json

`live-before` is the scene the sensor streamed until this probe (the `sky` preset, targets of SCR 8-15).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from lwirst.commands.segment import add_confirm_argument, confirmation
from lwirst.inference import Segmenter
from lwirst.live import SceneCoverage, scene_coverage
from lwirst.synth import PRESETS, SceneConfig

SCENES: dict[str, SceneConfig] = {**PRESETS, "live-before": PRESETS["sky"].replace(scr=(8.0, 15.0))}


def summary(name: str, runs: list[SceneCoverage]) -> str:
    """Pooled Pd, false blobs per frame and untracked frames, and the three sequences with the lowest Pd."""
    targets, detected = sum(r.targets for r in runs), sum(r.detected for r in runs)
    frames, blobs = sum(r.frames for r in runs), sum(r.false_blobs for r in runs)
    worst = ", ".join(f"seed {r.seed} Pd {r.pd:.2f}" for r in sorted(runs, key=lambda r: r.pd)[:3])
    return (f"{name}: Pd {detected / targets:.3f} ({detected}/{targets} target-frames), "
            f"{blobs / frames:.3f} false blobs per frame, {sum(r.untracked_frames for r in runs)} of {frames} "
            f"frames with no confirmed track; lowest: {worst}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--preset", action="append", choices=sorted(SCENES), required=True)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    add_confirm_argument(parser)  # as the Video and Live pages run it by default
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    segmenter = Segmenter(args.model, protocol="auto", threads=args.threads, **confirmation(args))
    results = {}
    for name in args.preset:
        runs = [scene_coverage(segmenter, SCENES[name], seed) for seed in range(args.seeds)]
        print(summary(name, runs), flush=True)
        results[name] = [dataclasses.asdict(r) for r in runs]
    command = shlex.join(["python", *sys.argv])
    args.out.write_text(json.dumps({"command": command, "scenes": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
