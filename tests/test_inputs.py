"""Bad input gets one readable error naming the problem: images, checkpoints, CLI."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from safetensors.torch import save_file

from lwirst.checkpoint import load_checkpoint, load_model, save_checkpoint
from lwirst.cli import COMMANDS, main
from lwirst.config import NetConfig
from lwirst.errors import LwirstError
from lwirst.imageio import decode_image, header_size, read_image, read_mask, to_bgr
from lwirst.inference import Segmenter
from lwirst.model import LWIRSTNet
from lwirst.paths import SAMPLES_DIR


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    torch.manual_seed(0)
    save_checkpoint(path, LWIRSTNet(), NetConfig(), {"note": "test"})
    return path


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"this is a text file, not a picture", "not a readable image: it holds text \\('this is a text file"),
    (_png(np.full((32, 32), 128, np.uint8))[:40], "not a readable image: a PNG file that is cut short or corrupt"),
    (bytes(range(7, 47)), "not a readable image: its data is not PNG/JPG/BMP/TIFF"),
    (b"frame,x,y\r\n1,2,3\n<!DOCTYPE html>\n\t404 Not Found", "not a readable image: it holds text \\('frame,x,y"),
])
def test_undecodable_bytes_are_named(data: bytes, message: str) -> None:
    with pytest.raises(LwirstError, match=message):
        decode_image(data, "upload.png")


@pytest.mark.parametrize("kind, dtype", [("JPEG", np.uint8), ("PNG", np.uint8), ("PNG", np.uint16),
                                         ("TIFF", np.uint8), ("TIFF", np.uint16)])
@pytest.mark.parametrize("turn", range(1, 9))
def test_a_frame_stored_on_its_side_reads_upright_as_viewers_show_it(kind: str, dtype: type, turn: int) -> None:
    """A camera's JPEG stored 512x640 with EXIF orientation 6 had its targets reported sideways and its upright
    mask refused. Every orientation, in every format that carries one, reads as Pillow's `exif_transpose` turns
    it (the independent implementation), and the header's size, read before decoding, agrees."""
    stored = np.random.default_rng(turn).integers(0, 200, (6, 9)).astype(dtype)
    stored[0, 8] = 255  # one corner stands out, so no turn is mistaken for another
    exif = Image.Exif()
    exif[0x0112] = turn
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, kind, exif=exif, **({"quality": 100} if kind == "JPEG" else {}))
    data = buffer.getvalue()
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    image = decode_image(data, f"frame.{kind.lower()}")
    assert image.shape == expected.shape and header_size(data) == (expected.shape[1], expected.shape[0])
    tolerance = 4 if kind == "JPEG" else 0  # lossy: the two decoders may round apart
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= tolerance
    assert np.unravel_index(np.argmax(image), image.shape) == np.unravel_index(np.argmax(expected), expected.shape)


def test_a_signed_16_bit_frame_reads_as_its_counts(tmp_path: Path) -> None:
    """A camera's signed 16-bit TIFF was refused with "use 8- or 16-bit integers", which it is. Its counts read as
    the same counts offset into unsigned ones would (the stretch does not depend on the offset); a type still
    refused says which are read."""
    counts = np.random.default_rng(0).integers(-300, 300, (40, 56)).astype(np.int16)
    counts[20, 30] = 2000  # a target
    path = tmp_path / "signed.tif"
    assert cv2.imwrite(str(path), counts)
    image = read_image(path)
    assert image.dtype == np.int16 and np.array_equal(image, counts)  # as stored: the pages name its type
    np.testing.assert_array_equal(to_bgr(image), to_bgr((counts.astype(np.int32) + 32768).astype(np.uint16)))
    with pytest.raises(LwirstError, match="unsigned 8- or 16-bit integers, signed 16-bit ones"):
        to_bgr(counts.astype(np.int32))


def test_missing_path_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(LwirstError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(LwirstError, match="is a directory"):
        read_image(tmp_path)


def test_zero_size_and_odd_channel_arrays_are_rejected() -> None:
    with pytest.raises(LwirstError, match="zero size"):
        to_bgr(np.zeros((0, 5), np.uint8))
    with pytest.raises(LwirstError, match="channels"):
        to_bgr(np.zeros((4, 4, 2), np.uint8))


def test_non_binary_mask_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), np.arange(64, dtype=np.uint8).reshape(8, 8))
    with pytest.raises(LwirstError, match="not binary"):
        read_mask(path)


def test_an_empty_mask_a_jpeg_lifted_off_zero_is_no_frame_filling_target(tmp_path: Path) -> None:
    """A JPEG of an all-black mask decodes to 1 everywhere: read as binary, every pixel was a target (34 empty
    frames of an audit's set). Without a threshold it is refused, naming --mask-threshold; with one it is empty;
    a mask that is full scale everywhere stays a frame-filling target, and 0 everywhere stays empty."""
    jpeg = tmp_path / "empty.jpg"
    cv2.imwrite(str(jpeg), np.zeros((32, 32), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE).min() > 0  # what the codec did
    with pytest.raises(LwirstError, match="mask-threshold"):
        read_mask(jpeg)
    assert not read_mask(jpeg, threshold=0.5).any()
    for value, target in ((255, True), (0, False)):
        cv2.imwrite(str(tmp_path / "flat.png"), np.full((8, 8), value, np.uint8))
        assert read_mask(tmp_path / "flat.png").all() == target and read_mask(tmp_path / "flat.png").any() == target


@pytest.mark.parametrize("image", [
    np.random.default_rng(0).integers(0, 65535, (40, 56), dtype=np.uint16),   # 16-bit grey
    np.random.default_rng(1).integers(0, 255, (40, 56, 4), dtype=np.uint8),   # RGBA
    np.random.default_rng(2).integers(0, 255, (1, 1), dtype=np.uint8),        # 1x1
    np.random.default_rng(3).integers(0, 255, (37, 53, 3), dtype=np.uint8),   # odd size colour
])
@pytest.mark.parametrize("protocol", ["resize", "native"])
def test_any_supported_image_gives_logits_at_its_own_size(tiny_checkpoint: Path, image: np.ndarray,
                                                          protocol: str) -> None:
    saliency = Segmenter(tiny_checkpoint, backend="torch", protocol=protocol).predict(image)
    assert saliency.logits.shape == image.shape[:2]
    assert saliency.protocol == protocol and np.isfinite(saliency.logits).all()


def test_checkpoint_round_trip_carries_config_and_meta(tiny_checkpoint: Path) -> None:
    config, _, meta = load_checkpoint(tiny_checkpoint)
    assert config == NetConfig() and meta == {"note": "test"}
    model, _ = load_model(tiny_checkpoint)
    x = torch.randn(1, 3, 32, 32)
    torch.manual_seed(0)
    reference = LWIRSTNet().eval()
    torch.testing.assert_close(model(x), reference(x))


def test_checkpoint_whose_tensors_do_not_fit_its_config(tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in LWIRSTNet().state_dict().items()}
    header = {"lwirst_config": NetConfig(channels=(8, 16, 32)).to_json(), "lwirst_meta": "{}"}
    path = tmp_path / "mismatch.safetensors"
    save_file(state, str(path), metadata=header)
    with pytest.raises(LwirstError, match="do not fit its config"):
        load_checkpoint(path)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\x00\x01 garbage that is not safetensors", "not a readable safetensors"),
])
def test_corrupt_checkpoints_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(LwirstError, match=message):
        load_checkpoint(path)


def test_safetensors_without_lwirst_config(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(LwirstError, match="no lwirst config"):
        load_checkpoint(path)


def test_pickled_checkpoints_are_never_unpickled(tmp_path: Path) -> None:
    """A .pt holding an arbitrary object must be refused by weights_only loading."""
    path = tmp_path / "evil.pt"
    torch.save({"config": {}, "state_dict": {}, "obj": argparse.Namespace(run="rm -rf /")}, path)
    with pytest.raises(LwirstError, match="cannot be loaded safely"):
        load_checkpoint(path)


def test_unsafe_pt_message_recommends_a_way_that_loads_it(tmp_path: Path) -> None:
    """Issue #21 item 16: the advice once named `lwirst export --checkpoint`, which refuses the same
    file; the advice now given (load in Python, re-save with save_checkpoint) is followed here."""
    path = tmp_path / "old.pt"
    torch.manual_seed(0)
    net = LWIRSTNet().eval()
    torch.save({"config": net.config.to_dict(), "state_dict": net.state_dict(), "obj": argparse.Namespace()}, path)
    with pytest.raises(LwirstError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "lwirst export" not in message and "lwirst.checkpoint.save_checkpoint" in message
    payload = torch.load(path, weights_only=False)  # the user trusts the file
    again = LWIRSTNet(NetConfig.from_dict(payload["config"]))
    again.load_state_dict(payload["state_dict"])
    save_checkpoint(tmp_path / "new.safetensors", again, again.config)
    config, state, _ = load_checkpoint(tmp_path / "new.safetensors")
    assert config == net.config and torch.equal(state[next(iter(state))], net.state_dict()[next(iter(state))])


def test_torch_checkpoint_with_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"config": NetConfig().to_dict(), "state_dict": LWIRSTNet().state_dict()}, path)
    config, _, _ = load_checkpoint(path)
    assert config == NetConfig()


def test_help_lists_every_subcommand_and_each_has_its_own_help(capsys) -> None:
    # the real entry point once; each subcommand's help in-process (one interpreter each cost ~20 s)
    out = subprocess.run([sys.executable, "-m", "lwirst.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for name in COMMANDS:
        assert name in out
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        printed = capsys.readouterr()
        assert exit_info.value.code in (0, None), (name, printed.err)
        assert f"lwirst {name}" in printed.out


@pytest.mark.parametrize("argv, message", [
    (["segment", "/no/such/image.png", "--out", "OUT"], "no such file"),
    (["evaluate", "--data-dir", "/no/such/dir"], "does not exist"),
    (["evaluate", "--model", "/no/such/model.safetensors", "--data-dir", "."], ""),
    (["complexity", "--preset", "lw_irstnett"], "unknown preset"),
])
def test_cli_bad_input_exits_1_with_one_line(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err
    assert "Traceback" not in err


def test_saved_meta_is_json(tiny_checkpoint: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(tiny_checkpoint), framework="pt") as handle:
        header = handle.metadata()
    assert json.loads(header["lwirst_config"])["channels"] == [8, 32, 64]


def test_demo_runs_on_the_embedded_samples(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "synth_00000.png" in out and "truth" in out
    assert len(list(tmp_path.glob("*_overlay.png"))) == 8 and len(list(tmp_path.glob("*_heatmap.png"))) == 8


def test_demo_takes_a_dataset_folder_as_evaluate_does(tmp_path: Path, capsys) -> None:
    """A folder holding images/ and masks/ said it held no images, where `evaluate --data-dir` takes it."""
    root = tmp_path / "mine"
    shutil.copytree(SAMPLES_DIR / "images", root / "images")
    shutil.copytree(SAMPLES_DIR / "masks", root / "masks")
    assert main(["demo", "--images", str(root), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"images from {root / 'images'}/" in out and "in 8 frames" in out  # scored with masks/ beside
    # the folder named is an input whole: an output inside it, beside images/ (the default from within it), is not
    assert main(["demo", "--images", str(root), "--out", str(root / "lwirst-demo")]) == 1
    assert "lies inside the input folder" in capsys.readouterr().err and not (root / "lwirst-demo").exists()


def test_demo_says_when_no_frame_has_ground_truth(tmp_path: Path, capsys) -> None:
    """Frames without masks printed 'truth -  found -' and no word of why; with masks it says nothing of it."""
    frames = tmp_path / "mine"
    frames.mkdir()
    shutil.copyfile(SAMPLES_DIR / "images" / "synth_00000.png", frames / "synth_00000.png")
    assert main(["demo", "--images", str(frames), "--out", str(tmp_path / "out")]) == 0
    assert "no ground truth found (masks/NAME.png beside the images' folder, or NAME_mask.png beside each image)" \
        in capsys.readouterr().out
    assert main(["demo", "--out", str(tmp_path / "samples")]) == 0
    assert "no ground truth found" not in capsys.readouterr().out


def test_demo_scores_a_flat_folder_of_frames_beside_their_masks(tmp_path: Path, capsys) -> None:
    """The user's own export (NAME.png beside NAME_mask.png): the masks are truth, not frames to segment,
    and the protocol each frame ran with is stated."""
    frames = tmp_path / "mine"
    frames.mkdir()
    samples = SAMPLES_DIR / "images"
    for name in ("synth_00000", "synth_00001"):
        shutil.copyfile(samples / f"{name}.png", frames / f"{name}.png")
        shutil.copyfile(SAMPLES_DIR / "masks" / f"{name}.png", frames / f"{name}_mask.png")
    assert main(["demo", "--images", str(frames), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "synth_00000_mask.png" not in out and "in 2 frames" in out
    assert "protocol as applied: auto: all 2 images at the model size 256×256, as they are" in out


def test_demo_reads_the_users_masks_as_evaluate_does_and_goes_on_past_a_bad_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """A mask annotated at half size crashed `demo` with a traceback, a grey-level mask pointed at a
    --mask-threshold demo did not have, and one empty image stopped the whole folder. An unusable mask leaves
    its image segmented, unscored, as a dataset's frame with one is."""
    frames = tmp_path / "mine"
    frames.mkdir()
    samples = SAMPLES_DIR / "images"
    names = ("synth_00000", "synth_00001", "synth_00002")
    for name in names:
        shutil.copyfile(samples / f"{name}.png", frames / f"{name}.png")
    truth = cv2.imread(str(SAMPLES_DIR / "masks" / f"{names[0]}.png"), cv2.IMREAD_GRAYSCALE)
    half = cv2.resize(truth, (truth.shape[1] // 2, truth.shape[0] // 2), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(frames / f"{names[0]}_mask.png"), half)  # annotated on a half-size copy
    grey = cv2.imread(str(SAMPLES_DIR / "masks" / f"{names[1]}.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(frames / f"{names[1]}_mask.png"), np.where(grey > 0, 200, 3).astype(np.uint8))  # not binary
    (frames / "broken.png").write_bytes(b"")
    argv = ["demo", "--images", str(frames), "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "broken.png: the file is empty" in captured.err
    assert "1 of 4 images failed" in captured.err and "warning: " in captured.err and "--mask-threshold" in \
        captured.err  # the grey mask: warned
    assert "in 1 frames" in captured.out and "synth_00002.png" in captured.out  # the others went on
    assert "1 image(s) segmented unscored: their masks could not be used" in captured.out
    assert "1 image(s) segmented unscored: no mask of their name" in captured.out  # synth_00002's
    assert len(list((tmp_path / "out").glob("*_overlay.png"))) == 3
    # the image is named, not its mask file
    assert "synth_00000.png: mask 128x128 resized to its 256x256 image" in caplog.text
    assert main([*argv, "--mask-threshold", "0.5", "--force"]) == 1  # binarised on request; the empty file fails
    captured = capsys.readouterr()
    assert "1 of 4 images failed" in captured.err and "in 2 frames" in captured.out
    assert "could not be used" not in captured.out and "no mask of their name" in captured.out
    (frames / "synth_00000.png").write_bytes(b"")  # nothing left that reads: nothing said to be written
    for name in names[1:]:
        (frames / f"{name}.png").write_bytes(b"")
    assert main([*argv, "--force"]) == 1
    captured = capsys.readouterr()
    assert "4 of 4 images failed" in captured.err and "written to" not in captured.out
    # the earlier run's pictures of the frames that now fail are gone, not left to pass for this run's
    assert "earlier outputs" in captured.err and not list((tmp_path / "out").glob("*.png"))


def test_a_frame_too_small_to_segment_and_a_format_not_read_are_said_by_evaluate_and_demo(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """`segment` and the uploads refused a 300x1 frame, while `evaluate` and `demo` scored it as a target-free frame
    (it lifted nIoU); and `evaluate` left a WebP frame out of its score without a word, where `segment` and `demo`
    name it as skipped."""
    root = tmp_path / "mine"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for folder in ("images", "masks"):
        shutil.copyfile(SAMPLES_DIR / folder / "synth_00000.png", root / folder / "synth_00000.png")
    cv2.imwrite(str(root / "images" / "sliver.png"), np.full((1, 300), 90, np.uint8))
    cv2.imwrite(str(root / "masks" / "sliver.png"), np.zeros((1, 300), np.uint8))
    (root / "images" / "frame.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert main(["evaluate", "--data-dir", str(root), "--dataset", "folder", "--split", "all", "--no-cache"]) == 1
    assert "sliver: 300x1 is too small to segment" in capsys.readouterr().err
    assert "skipped 1 file(s)" in caplog.text and "frame.webp" in caplog.text
    caplog.clear()
    assert main(["demo", "--images", str(root), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "sliver.png: 300x1 is too small to segment" in captured.err and "1 of 2 images failed" in captured.err
    assert "in 1 frames" in captured.out and "frame.webp" in caplog.text


def test_demo_says_which_frames_it_decoded_from_a_palette_and_held_to_a_peak_margin(tmp_path: Path, capsys) -> None:
    """`demo` said only the input protocol, where `evaluate` on the same frames names the palettes decoded and
    the frames held to the peak margin."""
    frames = tmp_path / "mine"
    frames.mkdir()
    grey = cv2.imread(str(SAMPLES_DIR / "images" / "synth_00000.png"), cv2.IMREAD_GRAYSCALE)
    large = np.tile(grey, (3, 3))  # 768x768: over twice the model's area, run as a pyramid and held to a margin
    cv2.imwrite(str(frames / "large.png"), large)
    cv2.imwrite(str(frames / "large_jet.png"), cv2.applyColorMap(large, cv2.COLORMAP_JET))
    assert main(["demo", "--images", str(frames), "--out", str(tmp_path / "out"), "--confirm", "off"]) == 0
    out = capsys.readouterr().out
    assert "protocol as applied: auto: all 2 images as a pyramid" in out
    assert "; 1 frame decoded from the pseudo-colour palette jet" in out
    assert "peak clears the threshold by 1 logit per doubling of the area (`lwirst.prominence`) (2 frames)" in out


def test_signed_counts_have_their_stuck_pixels_repaired_as_unsigned_ones_do() -> None:
    """int16 frames (a camera's signed counts) are stretched as float32, which lost the rule for stuck values: a
    hot pixel at 16383 set the range and was reported as a target, where the same counts as uint16 were repaired."""
    from lwirst.imageio import stretch

    counts = (1330 + np.random.default_rng(0).normal(0, 30, (128, 128))).astype(np.uint16)
    counts[40, 60] = counts[100, 20:22] = 16383
    unsigned, signed = stretch(counts), stretch(counts.astype(np.int16))
    assert unsigned.repaired_spots() == signed.repaired_spots() == [(60, 40), (20, 100)]
    assert unsigned.span == signed.span and np.array_equal(unsigned.pixels, signed.pixels)
