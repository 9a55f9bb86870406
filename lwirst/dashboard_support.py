"""The computation behind the dashboard pages, kept free of Streamlit.

Pages hold layout only; what they show is computed here: which models a server
offers and their cards, validation of uploaded images against the server's limits,
the pictures and table of one segmented frame, and the per-frame counts and
trajectories of a processed video.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from lwirst.checkpoint import load_checkpoint
from lwirst.complexity import config_complexity, onnx_complexity
from lwirst.config import NetConfig
from lwirst.drawing import Match, evaluation_overlay, heatmap, overlay
from lwirst.errors import LwirstError
from lwirst.imageio import decode_image, to_bgr
from lwirst.metrics import image_record
from lwirst.model import LWIRSTNet
from lwirst.pipeline import FramePipeline, FrameResult
from lwirst.postprocess import TargetFilter
from lwirst.video import Progress, VideoResult, process_video

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".pt", ".pth", ".onnx")
TRAINER_STATE = "state.pt"  # a run directory's resume file (optimizer state), not a model
DEMO_MODEL = "untrained demo network (random init, seed 0)"
TABLE_COLUMNS = ("id", "x", "y", "box_x", "box_y", "box_w", "box_h", "size", "ratio", "peak", "peak_prob")


def demo_network() -> LWIRSTNet:
    """LW-IRSTNet with seed-0 random weights: lets every page work before a trained model exists."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return LWIRSTNet(NetConfig()).eval()


def find_models(roots: Iterable[Path], preferred: Path | None = None) -> list[Path]:
    """Model files directly in each root or one folder below, `preferred` first when present."""
    found: list[Path] = []
    for root in roots:
        for pattern in ("*", "*/*"):
            found += sorted(p for p in root.glob(pattern) if p.suffix.lower() in MODEL_SUFFIXES
                            and p.name != TRAINER_STATE and p.is_file())
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if preferred is not None and preferred.resolve() in unique:
        unique.remove(preferred.resolve())
        unique.insert(0, preferred.resolve())
    return unique


# Card JSON / checkpoint metadata fields that say how a model was trained, in display order.
TRAINING_KEYS = ("data", "recipe", "epochs", "epoch", "val_iou", "wall_time_s", "hardware", "chosen_by",
                 "command", "commit_trained_with")


@dataclass
class ModelCard:
    """What is known about a model: size, cost, how it was trained and how it scored.

    params/flops are counted on the network a checkpoint describes (256 x 256 input,
    the paper's THOP convention); for an ONNX file they come from its card, else are
    counted on the graph (`onnx_complexity`: BatchNorm folded into convolutions is
    free there); None when the graph cannot be run. test_metrics (flat, or one dict
    per input protocol), test_protocol and training come from the card JSON beside the
    model (same stem), else from the checkpoint's metadata; empty when neither has them. markdown: the long card
    (``<stem>.md``, or a ``MODEL_CARD.md`` beside it titled with the stem).
    """

    name: str
    params: int | None = None
    flops: float | None = None
    test_metrics: dict[str, Any] = field(default_factory=dict)
    test_protocol: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""


def _read_card(path: Path) -> dict[str, Any]:
    card_path = path.with_suffix(".json")
    if not card_path.is_file():
        return {}
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LwirstError(f"model card {card_path.name} is not readable JSON ({exc})") from exc
    return card if isinstance(card, dict) else {}


def _read_markdown(path: Path) -> str:
    own, shared = path.with_suffix(".md"), path.with_name("MODEL_CARD.md")
    if own.is_file():
        return own.read_text(encoding="utf-8")
    if shared.is_file():
        text = shared.read_text(encoding="utf-8")
        first = text.lstrip().partition("\n")[0]
        return text if first.startswith("#") and path.stem in first else ""
    return ""


def model_card(path: Path | None) -> ModelCard:
    """The card of a model file, or of the untrained demo network when `path` is None."""
    if path is None:
        cost = config_complexity(NetConfig())
        return ModelCard(DEMO_MODEL, cost.params, cost.flops,
                         training={"weights": "random (seed 0); detections are meaningless"})
    card = _read_card(path)
    meta: dict[str, Any] = {}
    params, flops = card.get("params"), card.get("flops")
    if path.suffix.lower() != ".onnx":
        config, _, meta = load_checkpoint(path)
        cost = config_complexity(config)
        params, flops = cost.params, cost.flops
    elif params is None or flops is None:
        try:
            cost = onnx_complexity(path.read_bytes())
            params, flops = cost.params, cost.flops
        except LwirstError as exc:
            log.warning("%s: FLOPs unknown: %s", path.name, exc)
    metrics = card.get("test_metrics") or meta.get("test_metrics") or {}
    source = card if any(k in card for k in TRAINING_KEYS) else meta
    training = {k: source[k] for k in TRAINING_KEYS if k in source}
    return ModelCard(path.name, params, flops, dict(metrics), str(card.get("test_protocol", "")), training,
                     _read_markdown(path))


# Metric cards: metrics key -> (label, help). Fa is printed in units of 1e-6, as the literature does.
CARDS = {
    "precision": ("P", "pixel precision"),
    "recall": ("R", "pixel recall"),
    "f1": ("F1", "pixel F1"),
    "miou": ("mIoU", "dataset IoU (the paper's mIoU)"),
    "niou": ("nIoU", "mean of per-image IoU"),
    "pd": ("Pd", "detected / ground-truth targets (centroid distance < 3 px)"),
    "fa": ("Fa (×1e-6)", "false-alarm pixels / all pixels"),
    "auc": ("AUC", "area under the pixel ROC curve"),
}


def format_metric(name: str, value: float | None) -> str:
    """A metric as the cards print it: four decimals, Fa in units of 1e-6, NaN as "n/a"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if name == "fa":
        return f"{value * 1e6:.2f}"
    return f"{value:.4f}"


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """A card's test metrics as the metric cards print them: one column per input protocol."""
    columns = metrics if metrics and all(isinstance(v, dict) for v in metrics.values()) else {"value": metrics}
    keys = list(dict.fromkeys(k for values in columns.values() for k in values))
    return pd.DataFrame({"metric": [CARDS.get(k, (k,))[0] for k in keys],
                         **{name: [format_metric(k, values[k]) if isinstance(values.get(k), (int, float))
                                   else str(values.get(k, "")) for k in keys]
                            for name, values in columns.items()}})


def card_table(values: dict[str, Any], prefix: str = "") -> pd.DataFrame:
    """A nested card dict as a two-column table (dotted keys), for display."""
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += card_table(value, f"{name}.").itertuples(index=False, name=None)
        else:
            rows.append((name, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return pd.DataFrame(rows, columns=["field", "value"])


def image_key(image: np.ndarray) -> str:
    """Content hash of an image array (shape and type included), to key cached results."""
    digest = hashlib.sha1(np.ascontiguousarray(image).tobytes(), usedforsecurity=False)
    digest.update(f"{image.shape}{image.dtype}".encode())
    return digest.hexdigest()


def check_upload_size(size: int, name: str, max_bytes: int) -> None:
    """Refuse an upload over the server's limit, saying both sizes."""
    if size > max_bytes:
        raise LwirstError(f"{name}: {size / 2**20:.1f} MB is over this server's upload limit of "
                          f"{max_bytes / 2**20:.0f} MB")


def decode_upload(data: bytes, name: str, max_bytes: int, max_pixels: int, min_side: int) -> np.ndarray:
    """An uploaded image decoded as stored (8/16-bit, grey/colour/alpha), within the server's limits."""
    check_upload_size(len(data), name, max_bytes)
    image = decode_image(data, name)
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise LwirstError(f"{name}: {w}x{h} is too small to segment; use an image at least "
                          f"{min_side}x{min_side} pixels")
    if h * w > max_pixels:
        side = math.isqrt(max_pixels)
        raise LwirstError(f"{name}: {w}x{h} is larger than this dashboard accepts ({side}x{side} pixels); "
                          "downscale it or use `lwirst segment` on the command line")
    return image


def filter_from_ranges(size: tuple[float, float], ratio: tuple[float, float], size_cap: float,
                       ratio_cap: float) -> TargetFilter:
    """Eq. 4 bounds from two range sliders: a bound at the slider's end (0 or the cap) is off."""
    return TargetFilter(min_size=size[0] or None, max_size=None if size[1] >= size_cap else size[1],
                        min_ratio=ratio[0] or None, max_ratio=None if ratio[1] >= ratio_cap else ratio[1])


@dataclass
class FrameReport:
    """The pictures (8-bit BGR) and numbers one page shows for one segmented frame.

    found: targets above the threshold; kept: after the Eq. 4 filter. With ground
    truth, truth is the Fig. 5 picture (red correct, green missed, blue false alarm)
    and metrics the per-image scores.
    """

    input: np.ndarray
    heatmap: np.ndarray
    overlay: np.ndarray
    found: int
    kept: int
    targets: pd.DataFrame
    truth: np.ndarray | None = None
    match: Match | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def csv(self) -> bytes:
        """The target table as CSV."""
        return self.targets.to_csv(index=False).encode()


def frame_report(image: np.ndarray, result: FrameResult, scale: str = "probability",
                 mask: np.ndarray | None = None) -> FrameReport:
    """Input, heatmap (with colour bar), overlay of kept targets, target table and, with a mask, scores."""
    table = result.kept.to_frame().loc[:, list(TABLE_COLUMNS)]
    report = FrameReport(to_bgr(image), heatmap(result.saliency, scale), overlay(image, result.kept),
                         len(result.detections), len(result.kept), table)
    if mask is not None:
        report.truth, report.match = evaluation_overlay(image, result.kept, mask)
        record = image_record(result.kept.mask, mask)
        report.metrics = {"IoU": record.iou, "Pd": record.detected / record.targets if record.targets else 1.0,
                          "targets": record.targets, "detected": record.detected,
                          "false alarms": record.false_alarms, "false-alarm pixels": record.fa_pixels}
    return report


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm")


BROWSER_CODECS = ("avc1", "h264 (ffmpeg)")


@dataclass
class VideoOutput:
    """A processed video, held in memory: the annotated MP4, a copy browsers play (the MP4 itself
    when it is H.264, else VP8 WebM), the targets CSV and what the charts plot."""

    video: bytes
    web_video: bytes
    web_format: str
    csv: bytes
    per_frame: pd.DataFrame
    trajectories: pd.DataFrame
    result: VideoResult


def to_webm(source: Path, target: Path, fps: float) -> None:
    """Re-encode a video as VP8 WebM, which every browser plays (OpenCV builds without H.264 have VP8)."""
    capture = cv2.VideoCapture(str(source))
    writer: cv2.VideoWriter | None = None
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"VP80"), fps, size)
                if not writer.isOpened():
                    raise LwirstError("this OpenCV build can encode neither H.264 nor VP8: download the "
                                      "video to watch it")
            writer.write(frame)
    finally:
        capture.release()
        if writer is not None:
            writer.release()


def segment_video(source: bytes | Path, name: str, pipeline: FramePipeline,
                  progress: Progress | None = None) -> VideoOutput:
    """`lwirst.video.process_video` on an uploaded (bytes) or server-side video, in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="lwirst-video-") as tmp:
        folder = Path(tmp)
        if isinstance(source, bytes):
            suffix = Path(name).suffix.lower()
            path = folder / f"upload{suffix if suffix in VIDEO_SUFFIXES else '.mp4'}"
            path.write_bytes(source)
        else:
            path = source
        out, table, web = folder / "annotated.mp4", folder / "targets.csv", folder / "annotated.webm"
        try:
            result = process_video(path, out, table, pipeline, progress)
        except LwirstError as exc:
            # Name the video as the visitor knows it, not by the server's scratch paths.
            raise LwirstError(str(exc).replace(str(path), name).replace(f"{folder}/", "")) from exc
        if result.codec in BROWSER_CODECS:
            web, web_format = out, "video/mp4"
        else:
            to_webm(out, web, result.fps)
            web_format = "video/webm"
        per_frame, trajectories = video_tables(table, result.frames_done)
        return VideoOutput(out.read_bytes(), web.read_bytes(), web_format, table.read_bytes(), per_frame,
                           trajectories, result)


def video_tables(csv_path: Path, frames: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From a `process_video` CSV: targets per frame (every frame, zeros included) and the
    trajectories of confirmed tracks (track_id, frame, x, y)."""
    rows = pd.read_csv(csv_path)
    counts = rows.groupby("frame").size().reindex(range(frames), fill_value=0)
    per_frame = pd.DataFrame({"frame": counts.index, "targets": counts.to_numpy()})
    tracked = rows.dropna(subset=["track_id"]).astype({"track_id": int})
    return per_frame, tracked.loc[:, ["track_id", "frame", "x", "y"]].reset_index(drop=True)
