"""Rounds 16, 17 and 22's judge (data/models/PREREGISTRATION.md): does growing each detected target's mask
into neighbouring lower-confidence pixels (hysteresis) bring masks closer to the truth on the suite
(16), does growth that never joins two targets keep that (17), and does a bound on each target's peak
probability cut false alarms on empty frames without losing targets (22)?

    python scripts/growth_probe.py --round 17 --model data/models/lwirst-sirst.safetensors \\
        --data-dir ../shared/data --out /work/runs/growth17.json

One inference per frame; every candidate is scored from the same logits: detection threshold
probability 0.5 kept, mask grown by up to r 8-connected steps through pixels above probability p.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from lwirst.datasets import open_dataset
from lwirst.inference import Segmenter
from lwirst.metrics import FrameAlarms, PdFa, PixelMetrics, image_record
from lwirst.paths import SAMPLES_DIR
from lwirst.postprocess import detect, grow_mask, threshold_from_probability
from lwirst.suite import build_suite

NONE = "none"
SAMPLE_FRAMES = 8
ROUND16 = (NONE, *(f"p{p:g}-r{r}" for p in (0.4, 0.3, 0.2, 0.1) for r in (1, 2, 4)))
SEPARATE = "separate-"
ROUND17 = (NONE, "p0.2-r1", SEPARATE + "p0.2-r1")
PEAK = "peak"
ROUND22 = tuple(f"{PEAK}{q:g}" for q in (0.5, 0.6, 0.7, 0.8, 0.9))


def merging_growth(logits: np.ndarray, seeds: np.ndarray, grow_to: float, radius: int) -> np.ndarray:
    """Round 16's growth, kept here to reproduce it: `seeds` dilated `radius` times within the pixels
    above `grow_to`, which can join two targets (round 17 replaced it by `grow_mask`)."""
    allowed = (logits > np.float32(grow_to)).view(np.uint8)
    region = seeds.view(np.uint8)
    for _ in range(radius):
        region = cv2.dilate(region, np.ones((3, 3), np.uint8)) & allowed
    return region.view(bool)


def predicted(logits: np.ndarray, candidate: str) -> np.ndarray:
    """The detected mask (threshold probability 0.5) grown as `candidate` says: "pP-rR" is round 16's
    growth to probability P by R steps, "separate-pP-rR" round 17's (`grow_mask`, never joining targets)."""
    seeds = logits > 0.0
    if candidate.startswith(PEAK):
        return peak_bounded(logits, float(candidate.removeprefix(PEAK)))
    if candidate == NONE:
        return seeds
    separate = candidate.startswith(SEPARATE)
    p, r = candidate.removeprefix(SEPARATE)[1:].split("-r")
    grow = grow_mask if separate else merging_growth
    return grow(logits, seeds, threshold_from_probability(float(p)), int(r))


def peak_bounded(logits: np.ndarray, q: float) -> np.ndarray:
    """Round 22: the shipped detection (`detect`'s grown mask) without the targets whose peak probability is below q."""
    found = detect(logits)
    weak = found.ids[found.column("peak_prob") < q]
    return found.mask & ~np.isin(found.labels, weak)


class Scores:
    """Pixel, target and alarm metrics of one candidate over one part."""

    def __init__(self) -> None:
        self.pixel, self.pdfa, self.alarms = PixelMetrics(), PdFa(), FrameAlarms()

    def update(self, pred: np.ndarray, mask: np.ndarray) -> None:
        self.pixel.update(pred, mask)
        self.pdfa.update(pred, mask)
        record = image_record(pred, mask)
        self.alarms.add_frame(record.false_alarms, record.targets)

    def row(self) -> dict[str, float]:
        px, tg, al = self.pixel.compute(), self.pdfa.compute(), self.alarms.compute()
        return {"miou": px.iou, "niou": px.niou, "precision": px.precision, "recall": px.recall,
                "targets": tg.targets, "detected": tg.detected, "false_alarms": tg.false_alarms,
                "frames": self.alarms.frames, "empty_frames": self.alarms.empty_frames,
                "empty_blobs": self.alarms.empty_blobs, "alarmed_empty": self.alarms.alarmed_empty,
                "blobs_per_frame": al.blobs_per_frame}


def score_part(segmenter: Segmenter, dataset, candidates: tuple[str, ...]) -> dict[str, dict[str, float]]:
    scores = {c: Scores() for c in candidates}
    for index in range(len(dataset)):
        sample = dataset.load(index)
        logits = segmenter.predict(sample.image).logits
        for candidate, score in scores.items():
            score.update(predicted(logits, candidate), sample.mask)
    return {c: s.row() for c, s in scores.items()}


def decide16(summary: dict[str, dict[str, float]]) -> str:
    """Round 16's rule, as pre-registered: best mean part mIoU among candidates keeping Pd (>= none's - 0.005)
    and the demo bar; ties within 0.002 go to less growth; adopted only when >= 0.01 above none."""
    base = summary[NONE]
    order = [NONE, *sorted(ROUND16[1:], key=lambda c: (-float(c[1:].split("-r")[0]), int(c.split("-r")[1])))]
    eligible = [c for c in order if summary[c]["pooled_pd"] >= base["pooled_pd"] - 0.005
                and summary[c]["samples_found"] >= 0.9 * summary[c]["samples_targets"]
                and summary[c]["samples_false_alarms"] <= 0.1 * SAMPLE_FRAMES]
    best = max(summary[c]["score_mean_part_miou"] for c in eligible)
    chosen = next(c for c in eligible if summary[c]["score_mean_part_miou"] >= best - 0.002)
    if chosen == NONE or summary[chosen]["score_mean_part_miou"] < base["score_mean_part_miou"] + 0.01:
        return NONE
    return chosen


def decide17(summary: dict[str, dict[str, float]]) -> str:
    """Round 17's rule, as pre-registered: the separate growth replaces round 16's if it keeps mean part mIoU
    and Pd (each >= round 16's - 0.002), its false blobs per empty frame (<=) and the demo bar."""
    old, new = summary["p0.2-r1"], summary[SEPARATE + "p0.2-r1"]
    keeps = (new["score_mean_part_miou"] >= old["score_mean_part_miou"] - 0.002
             and new["pooled_pd"] >= old["pooled_pd"] - 0.002
             and new["blobs_per_empty_frame"] <= old["blobs_per_empty_frame"]
             and new["samples_found"] >= 0.9 * new["samples_targets"]
             and new["samples_false_alarms"] <= 0.1 * SAMPLE_FRAMES)
    return SEPARATE + "p0.2-r1" if keeps else "p0.2-r1"


def decide22(summary: dict[str, dict[str, float]]) -> str:
    """Round 22's rule, as pre-registered: the largest bound q keeping xdomain pooled Pd and mean part nIoU
    (each >= no bound's - 0.005), colour pooled Pd (>= - 0.01) and the demo bar; adopted only when its false
    blobs per empty frame are at most 0.8 x no bound's."""
    base = summary[ROUND22[0]]
    eligible = [c for c in ROUND22 if summary[c]["pooled_pd"] >= base["pooled_pd"] - 0.005
                and summary[c]["mean_part_niou"] >= base["mean_part_niou"] - 0.005
                and summary[c]["colour_pooled_pd"] >= base["colour_pooled_pd"] - 0.01
                and summary[c]["samples_found"] >= 0.9 * summary[c]["samples_targets"]
                and summary[c]["samples_false_alarms"] <= 0.1 * SAMPLE_FRAMES]
    chosen = max(eligible, key=lambda c: float(c.removeprefix(PEAK)), default=ROUND22[0])
    if summary[chosen]["blobs_per_empty_frame"] > 0.8 * base["blobs_per_empty_frame"]:
        return ROUND22[0]
    return chosen


ROUNDS = {16: (ROUND16, decide16), 17: (ROUND17, decide17), 22: (ROUND22, decide22)}
COLOUR = "colour:"


def pooled_pd(rows: list[dict[str, float]]) -> float:
    with_targets = [r for r in rows if r["targets"]]
    return sum(r["detected"] for r in with_targets) / sum(r["targets"] for r in with_targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--round", type=int, choices=sorted(ROUNDS), default=17)
    args = parser.parse_args()
    candidates, decide = ROUNDS[args.round]
    torch.set_num_threads(1)
    segmenter = Segmenter(args.model, backend="torch", margin=0)  # as rounds 16, 17 and 22 ran (before round 51)
    parts = {part.name: part for part in build_suite("xdomain", args.data_dir)}
    if args.round == 22:
        parts |= {COLOUR + part.name: part for part in build_suite("colour", args.data_dir)}
    parts["samples"] = open_dataset(SAMPLES_DIR, "folder", "all")
    report = {"command": "python scripts/growth_probe.py " + shlex.join(sys.argv[1:]), "parts": {}}
    for name, part in parts.items():
        report["parts"][name] = score_part(segmenter, part, candidates)
        print(name, {p: round(r["miou"], 4) for p, r in report["parts"][name].items()}, flush=True)
    summary = {}
    for p in candidates:
        rows = [r[p] for n, r in report["parts"].items() if n != "samples" and not n.startswith(COLOUR)]
        target_rows = [r for r in rows if r["targets"]]
        empty = sum(r["empty_frames"] for r in rows)
        summary[p] = {
            "score_mean_part_miou": float(np.mean([r["miou"] for r in target_rows])),
            "mean_part_niou": float(np.mean([r["niou"] for r in target_rows])),
            "pooled_pd": pooled_pd(rows),
            "blobs_per_empty_frame": sum(r["empty_blobs"] for r in rows) / empty,
            "samples_found": report["parts"]["samples"][p]["detected"],
            "samples_targets": report["parts"]["samples"][p]["targets"],
            "samples_false_alarms": report["parts"]["samples"][p]["false_alarms"],
        }
        colour = [r[p] for n, r in report["parts"].items() if n.startswith(COLOUR)]
        if colour:
            summary[p]["colour_pooled_pd"] = pooled_pd(colour)
        print(p, json.dumps({k: round(v, 4) for k, v in summary[p].items()}), flush=True)
    report["summary"] = summary
    report["decision"] = decide(summary)
    print("decision:", report["decision"], flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
