"""Why "auto" runs small frames at their own size: crops of SIRST val around each target (and as many target-free
crops of its inpainted backgrounds), run by the shipped model resized to the model's size and natively.

    python scripts/small_frame_probe.py --data-dir ../shared/data --threads 1

SIRST val is in-sample for the shipped model (it trained on trainval): the probe compares two ways of feeding one
model the same crops, not the model's accuracy. Prints, per crop side, targets found and false-alarm blobs.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from lwirst.consensus import DEFAULT_SCALE
from lwirst.datasets import open_dataset
from lwirst.imageio import to_bgr
from lwirst.implant import grey, remove_targets
from lwirst.inference import Segmenter
from lwirst.metrics import image_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--data-dir", required=True, help="the data root holding sirst/")
    parser.add_argument("--side", type=int, action="append", help="crop sides (default 48 64 96 128 160)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7, help="crop offsets and target-free crop positions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    val = open_dataset(args.data_dir, "sirst", "val")
    segmenters = {protocol: Segmenter(backend="torch", threads=args.threads, confirm=DEFAULT_SCALE, size=None,
                                      protocol=protocol) for protocol in ("resize", "native")}
    rng = np.random.default_rng(args.seed)
    print("side  protocol  found/targets  false blobs (target crops)  false blobs (target-free crops)")
    for side in args.side or (48, 64, 96, 128, 160):
        tally = {protocol: [0, 0, 0, 0] for protocol in segmenters}
        for index in range(len(val)):
            sample = val.load(index)
            image, mask = to_bgr(sample.image), sample.mask.astype(bool)
            h, w = mask.shape
            if min(h, w) < side:
                continue
            background = np.clip(np.rint(grey(remove_targets(image, mask))), 0, 255).astype(np.uint8)
            count, _, _, centres = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
            for cx, cy in centres[1:count]:
                x = int(np.clip(cx - side / 2 + rng.integers(-side // 4, side // 4 + 1), 0, w - side))
                y = int(np.clip(cy - side / 2 + rng.integers(-side // 4, side // 4 + 1), 0, h - side))
                ex, ey = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
                empty = background[ey:ey + side, ex:ex + side]
                for protocol, segmenter in segmenters.items():
                    found = image_record(segmenter.predict(image[y:y + side, x:x + side]).logits,
                                         mask[y:y + side, x:x + side])
                    alone = image_record(segmenter.predict(empty).logits, np.zeros((side, side), bool))
                    for i, value in enumerate((found.detected, found.targets, found.false_alarms,
                                               alone.false_alarms)):
                        tally[protocol][i] += value
        for protocol, (found, targets, false, alone) in tally.items():
            print(f"{side:>4}  {protocol:<8}  {found:>4}/{targets:<8}  {false:>26}  {alone:>31}")


if __name__ == "__main__":
    main()
