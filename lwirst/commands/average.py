"""`lwirst average`: one checkpoint from the mean of several fine-tunes (a weight soup)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lwirst.commands.segment import add_mask_threshold_argument
from lwirst.errors import LwirstError
from lwirst.validate import THREADS, check_outputs, number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", type=Path,
                        help="two or more checkpoints of one network, e.g. fine-tunes from one start")
    parser.add_argument("--out", type=Path, required=True, help="the averaged checkpoint to write (.safetensors)")
    parser.add_argument("--weights", nargs="+", type=number(float, lo=0.0, hi=1e6), metavar="W",
                        help="one weight per checkpoint (normalised to sum 1; default: all equal)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--data-dir", help="dataset root for the BatchNorm refit (default: $LWIRST_DATA_DIR)")
    parser.add_argument("--dataset", default="sirst",
                        help="layout of --data-dir for the BatchNorm refit frames (default sirst; folder or auto "
                             "for your own data)")
    parser.add_argument("--split", default="trainval",
                        help="training split of the refit frames (default trainval); never test")
    add_mask_threshold_argument(parser)
    parser.add_argument("--bn-batches", type=number(int, lo=1, hi=10_000), default=32,
                        help="augmented batches the BatchNorm statistics are re-estimated on")
    parser.add_argument("--batch-size", type=number(int, lo=1, hi=256), default=4)
    parser.add_argument("--seed", type=number(int, lo=0, hi=2**32 - 1), default=0)
    parser.add_argument("--threads", type=THREADS, default=os.cpu_count(), help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    import torch

    from lwirst.checkpoint import save_checkpoint
    from lwirst.datasets import in_test_split, names_digest, open_dataset, resolve_data_dir
    from lwirst.soup import BatchNormRefit, make_soup, normalise_weights

    if args.split == "test":
        raise LwirstError("--split test: BatchNorm statistics are part of the model; refit them on a "
                          "training split, never on test")
    normalise_weights(args.weights, len(args.checkpoints))  # a bad --weights list fails before any work
    if args.out.suffix.lower() != ".safetensors":
        raise LwirstError(f"--out {args.out}: give a .safetensors file name")
    check_outputs({"--out": args.out}, [*args.checkpoints, args.data_dir], force=args.force)
    torch.set_num_threads(args.threads)
    dataset = open_dataset(args.data_dir, args.dataset, args.split, mask_threshold=args.mask_threshold)
    if tested := in_test_split(args.data_dir, args.dataset, dataset):
        raise LwirstError(f"--split {args.split}: {tested} of its {len(dataset)} images are in the test split; "
                          "BatchNorm statistics are part of the model: refit them on a split without them")
    refit = BatchNormRefit(batches=args.bn_batches, batch_size=args.batch_size, seed=args.seed)
    soup = make_soup(args.checkpoints, dataset, refit, weights=args.weights)
    data = {"dataset": args.dataset, "split": args.split, "images": len(dataset),
            "names": names_digest(dataset), "data_dir": str(resolve_data_dir(args.data_dir).resolve()),
            "train_split": soup.trained_on(args.dataset, args.split), "mask_threshold": args.mask_threshold}
    save_checkpoint(args.out, soup.model, soup.config, soup.meta(refit, data))
    names = ", ".join(f"{item['file']} x {item['weight']:.3g}" for item in soup.ingredients)
    print(f"wrote {args.out}: weighted mean of {len(soup.ingredients)} checkpoints ({names}); BatchNorm refit on "
          f"{refit.batches} x {refit.batch_size} {args.dataset} {args.split} frames, seed {refit.seed}")
    return 0

