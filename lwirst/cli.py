"""The `lwirst` command. Each subcommand lives in `lwirst/commands/<name>.py` and
exposes `HELP`, `add_arguments(parser)` and `run(args) -> int`; they are imported
lazily so `lwirst --help` stays fast and one broken optional backend cannot break
the others."""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import logging
import os
import signal
import sys
import threading
from typing import NoReturn

from lwirst.errors import LwirstError, OptionsConflict
from lwirst.limits import cap_decoder
from lwirst.stderr_capture import TerminalHandler

COMMANDS: dict[str, str] = {
    "demo": "Run the shipped model on the embedded sample scenes and print the targets",
    "complexity": "Parameters and FLOPs (paper convention) of presets, paper vs measured",
    "export": "Export a checkpoint to ONNX (BN folded, dynamic batch and size; Table IX's CPM: fixed size)",
    "synth": "Generate a synthetic IR dataset or video (deterministic by seed)",
    "train": "Train a network (LW-IRSTNet unless --arch) on a dataset, resumably",
    "average": "Average several fine-tuned checkpoints into one (a weight soup; BatchNorm refit)",
    "masks": "Make ground-truth masks from box or point labels (CSV, YOLO, COCO, VOC) so evaluate scores the frames",
    "evaluate": "Score a model on a dataset split (pixel, target and curve metrics)",
    "segment": "Segment images: mask, overlay, heatmap and a targets table per image",
    "video": "Segment and track a video or a folder of frames into an annotated MP4 + CSV",
    "bench": "Side-by-side throughput benchmark of every backend and optimisation",
    "sweep": "Ablation sweeps of the paper's Tables III-IX on Ray Tune",
    "dashboard": "Start the Streamlit dashboard",
}


_UNKNOWN = "unrecognized arguments: "


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2, argparse's convention), no usage dump. An unknown option gets
    a hint: what this command takes instead where its module names the option in `MISTAKEN` (one that another
    command takes: `train --model`), else the closest option it has (`--treshold`: `--threshold`)."""

    def __init__(self, *args: object, mistaken: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.mistaken = mistaken or {}

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message}{self._hint(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    def _hint(self, message: str) -> str:
        if not message.startswith(_UNKNOWN):
            return ""
        known = [option for action in self._actions for option in action.option_strings if option.startswith("--")]
        hints = []
        for option in dict.fromkeys(w.split("=")[0] for w in message[len(_UNKNOWN):].split() if w.startswith("--")):
            if option in self.mistaken:
                hints.append(f"{option}: {self.mistaken[option]}")
            elif close := difflib.get_close_matches(option, known, n=1, cutoff=0.75):
                hints.append(f"did you mean {close[0]}?")
        return "".join(f"; {hint}" for hint in hints)


def terminate_as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops a command the way Ctrl-C does, so its outputs are closed properly."""
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwirst",
        description="LW-IRSTNet infrared small-target segmentation: train, measure, deploy, show.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


# A file the machine refused (a full or read-only disk, no permission): one line naming it, not a traceback.
STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 0 if not rest else 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", handlers=[TerminalHandler()])
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, terminate_as_interrupt)
    try:  # from the command's import on (torch takes seconds): Ctrl-C there is "interrupted" too
        cap_decoder()  # before the command loads OpenCV, which reads the cap once
        module = importlib.import_module(f"lwirst.commands.{args.command}")
        sub = _OneLineParser(prog=f"lwirst {args.command}", description=COMMANDS[args.command],
                             mistaken=getattr(module, "MISTAKEN", None))
        module.add_arguments(sub)
        sub_args = sub.parse_args(rest)
        code = int(module.run(sub_args) or 0)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler below, not at the interpreter's exit
        return code
    except OptionsConflict as exc:
        print(f"error: lwirst {args.command}: {exc} (see lwirst {args.command} --help)", file=sys.stderr)
        return 2
    except LwirstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout stopped (`lwirst segment ... | head`): stop quietly, as tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush fails no more
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the broken pipe stopped
    except OSError as exc:  # after BrokenPipeError, an OSError too
        if exc.errno not in STORAGE_ERRORS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
