"""Why ignore zones exist: SIRST val with a camera's on-screen display drawn in, run by the shipped model with its
defaults, as drawn and with the display's own pixels as ignore zones (`lwirst.zones`).

    python scripts/osd_probe.py --data-dir ../shared/data --threads 1

SIRST val is in-sample for the shipped model (it trained on trainval): the probe compares a frame with its display
and without it (the clean row), not the model's accuracy. Prints, per display, targets found and false-alarm blobs
per frame.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from lwirst.datasets import open_dataset
from lwirst.imageio import to_gray
from lwirst.inference import Segmenter
from lwirst.metrics import image_record
from lwirst.zones import NO_ZONES, Zones

ARM, GAP = 10, 3  # a crosshair's arms and the gap they leave around its centre, in pixels


def crosshair(frame: np.ndarray, centre: tuple[int, int]) -> None:
    """Four 1-px white arms around a gap, drawn in place."""
    x, y = centre
    for a, b in (((x - GAP - ARM, y), (x - GAP, y)), ((x + GAP, y), (x + GAP + ARM, y)),
                 ((x, y - GAP - ARM), (x, y - GAP)), ((x, y + GAP), (x, y + GAP + ARM))):
        cv2.line(frame, a, b, 255, 1, cv2.LINE_8)


def displays(frame: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The frame with each display drawn in: a crosshair at the centre, one on the first target (the operator aims
    at it), a logo block in a corner, a timestamp line, and all of them but the aimed crosshair."""
    h, w = frame.shape
    count, _, _, centres = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    drawn = {name: frame.copy() for name in ("clean", "crosshair", "crosshair on target", "logo", "text", "all")}
    crosshair(drawn["crosshair"], (w // 2, h // 2))
    aim = (round(centres[1][0]), round(centres[1][1])) if count > 1 else (w // 2, h // 2)
    crosshair(drawn["crosshair on target"], aim)
    drawn["logo"][h - 20:h - 6, w - 30:w - 6] = 255
    cv2.putText(drawn["text"], "2026-12-06 15:42:07", (4, 14), cv2.FONT_HERSHEY_PLAIN, 0.8, 255, 1, cv2.LINE_AA)
    drawn["all"] = drawn["text"].copy()
    crosshair(drawn["all"], (w // 2, h // 2))
    drawn["all"][h - 20:h - 6, w - 30:w - 6] = 255
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--data-dir", required=True, help="the data root holding sirst/")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    val = open_dataset(args.data_dir, "sirst", "val")
    segmenter = Segmenter(threads=args.threads)
    tally: dict[tuple[str, bool], list[int]] = {}
    for index in range(len(val)):
        sample = val.load(index)
        frame = to_gray(sample.image)
        for name, drawn in displays(frame, sample.mask).items():
            shown = drawn != frame  # nothing where the display fell on pixels already white: no zone there
            for zoned in (False, True) if name != "clean" else (False,):
                segmenter.ignore = Zones(mask=shown) if zoned and shown.any() else NO_ZONES
                record = image_record(segmenter.predict(drawn).logits, sample.mask)
                counts = tally.setdefault((name, zoned), [0, 0, 0, 0])
                for i, value in enumerate((record.detected, record.targets, record.false_alarms, 1)):
                    counts[i] += value
    print("display               zones  found/targets  false blobs per frame")
    for (name, zoned), (found, targets, alarms, frames) in tally.items():
        print(f"{name:<21} {'yes' if zoned else 'no':<6} {found:>5}/{targets:<7}  {alarms / frames:.3f}")


if __name__ == "__main__":
    main()
