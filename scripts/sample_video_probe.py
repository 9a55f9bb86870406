"""How the embedded sample video's scene looks through a model, seed by seed: the `sirst` preset with two
crossing targets (as `data/samples/sequence.mp4` is drawn), written as the MP4 the Video page plays and run
through `lwirst video`'s pipeline; each target scored on the frames where it is visible (a detection whose
centroid lies within 3 px of it, as Pd is scored everywhere), every other detection a false alarm.

    python scripts/sample_video_probe.py --model data/models/lwirst-sirst.safetensors --seeds 24 \\
        --out /work/runs/sample_video.json

It prints one line per seed and the first seed that meets the rule the samples' README states (each target
found on at least 85 % of its visible frames, at most 0.1 false alarms per frame).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from lwirst.commands.segment import add_confirm_argument, confirmation
from lwirst.inference import Segmenter
from lwirst.pipeline import FramePipeline
from lwirst.sequence_truth import TruthScore, read_truth, score_detections, truth_path
from lwirst.synth import SceneConfig, write_sequence
from lwirst.tracking import Tracker
from lwirst.video import process_video

FRAMES = 64
FOUND_SHARE = 0.85  # two crossing targets merge into one blob for a few frames: one of them goes unfound there
FALSE_PER_FRAME = 0.1


def meets_rule(score: TruthScore) -> bool:
    return min(t.share for t in score.targets) >= FOUND_SHARE and score.false_alarms <= FALSE_PER_FRAME * score.frames


def probe(segmenter: Segmenter, seed: int, folder: Path) -> TruthScore:
    config = SceneConfig.preset("sirst").replace(crossing=True)
    video = folder / f"seed{seed}.mp4"
    write_sequence(config, FRAMES, seed, video=video)
    out = folder / f"seed{seed}_annotated.mp4"
    process_video(video, out, out.with_suffix(".csv"), FramePipeline(segmenter, 0.0, None, Tracker()))
    return score_detections(read_truth(truth_path(video)), pd.read_csv(out.with_suffix(".csv")), FRAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    add_confirm_argument(parser)  # as the Video and Live pages run it by default
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    segmenter = Segmenter(args.model, protocol="auto", threads=args.threads, **confirmation(args))
    scores: dict[int, TruthScore] = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            result = scores[seed] = probe(segmenter, seed, Path(folder))
            shares = " / ".join(f"{t.found}/{t.visible}" for t in result.targets)
            print(f"seed {seed:2d}: targets found on {shares} of their frames, {result.false_alarms} false alarms "
                  f"in {result.frames} frames{'  (meets the rule)' if meets_rule(result) else ''}", flush=True)
    first = next((seed for seed, result in scores.items() if meets_rule(result)), None)
    print(f"first seed that meets the rule: {first}")
    command = shlex.join(["python", *sys.argv])
    args.out.write_text(json.dumps({"command": command, "first": first,
                                    "scores": {seed: asdict(s) for seed, s in scores.items()}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
