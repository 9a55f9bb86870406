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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lwirst.inference import Segmenter
from lwirst.pipeline import FramePipeline
from lwirst.synth import SceneConfig, write_sequence
from lwirst.tracking import Tracker
from lwirst.video import process_video

FRAMES = 64
MATCH_PX = 3.0
FOUND_SHARE = 0.85  # two crossing targets merge into one blob for a few frames: one of them goes unfound there
FALSE_PER_FRAME = 0.1


@dataclass(frozen=True)
class SequenceScore:
    """Per-target detection shares and false alarms of one sequence."""

    seed: int
    found: list[float]
    false_alarms: int
    frames: int

    @property
    def met(self) -> bool:
        return min(self.found) >= FOUND_SHARE and self.false_alarms <= FALSE_PER_FRAME * self.frames


def score(truth: pd.DataFrame, found: pd.DataFrame, seed: int, frames: int) -> SequenceScore:
    """Match each visible target to the detections of its frame (centroid within MATCH_PX)."""
    visible = truth[truth["visible"] == 1]
    hits = {int(i): 0 for i in visible["id"].unique()}
    matched = 0
    for frame, targets in visible.groupby("frame"):
        boxes = found[found["frame"] == frame][["x", "y"]].to_numpy()
        used = np.zeros(len(boxes), bool)
        for _, target in targets.iterrows():
            if not len(boxes):
                break
            distance = np.hypot(boxes[:, 0] - target["x"], boxes[:, 1] - target["y"])
            distance[used] = np.inf
            best = int(np.argmin(distance))
            if distance[best] < MATCH_PX:
                used[best] = True
                hits[int(target["id"])] += 1
        matched += int(used.sum())
    counts = visible.groupby("id").size()
    shares = [hits[i] / int(counts[i]) for i in sorted(hits)]
    return SequenceScore(seed, shares, len(found) - matched, frames)


def probe(segmenter: Segmenter, seed: int, folder: Path) -> SequenceScore:
    config = SceneConfig.preset("sirst").replace(crossing=True)
    video = folder / f"seed{seed}.mp4"
    write_sequence(config, FRAMES, seed, video=video)
    out = folder / f"seed{seed}_annotated.mp4"
    process_video(video, out, out.with_suffix(".csv"), FramePipeline(segmenter, 0.0, None, Tracker()))
    truth = pd.read_csv(video.with_name(video.stem + "_tracks.csv"))
    return score(truth, pd.read_csv(out.with_suffix(".csv")), seed, FRAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    segmenter = Segmenter(args.model, protocol="auto", threads=args.threads)
    scores = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            result = probe(segmenter, seed, Path(folder))
            scores.append(result)
            shares = " / ".join(f"{share:.2f}" for share in result.found)
            print(f"seed {seed:2d}: targets found on {shares} of their frames, {result.false_alarms} false alarms "
                  f"in {result.frames} frames{'  (meets the rule)' if result.met else ''}", flush=True)
    first = next((s.seed for s in scores if s.met), None)
    print(f"first seed that meets the rule: {first}")
    command = shlex.join(["python", *sys.argv])
    args.out.write_text(json.dumps({"command": command, "first": first,
                                    "scores": [asdict(s) for s in scores]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
