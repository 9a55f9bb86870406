"""Dataset readers: every layout on tiny fixtures, every validation error, merged sets, real SIRST."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from lwirst.datasets import (
    detect_layout,
    find_datasets,
    frames_without_layout,
    in_test_split,
    list_splits,
    listing_stamp,
    merge_datasets,
    open_dataset,
    open_folder,
)
from lwirst.drawing import pad_to
from lwirst.errors import LwirstError
from lwirst.imageio import flat_pairs, require_image_files
from lwirst.streams import SplitFrames
from lwirst.validate import check_outputs, dataset_root


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def _image(seed: int, shape: tuple[int, int] = (8, 10)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _mask(shape: tuple[int, int] = (8, 10)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[2:4, 3:5] = 255
    return mask


def _lines(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{n}\n" for n in names))


def make_sirst(root: Path, n: int = 4) -> Path:
    names = [f"Misc_{i}" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        _png(root / "images" / f"{name}.png", _image(i))
        _png(root / "masks" / f"{name}_pixels0.png", _mask())
    _lines(root / "idx_427" / "trainval.txt", names[:-1])
    _lines(root / "idx_427" / "test.txt", names[-1:])
    return root


def make_basic(root: Path, n: int = 4, tag: str | None = "NUDT-SIRST") -> Path:
    names = [f"{i:06d}" for i in range(n)]
    for i, name in enumerate(names):
        _png(root / "images" / f"{name}.png", _image(10 + i))
        _png(root / "masks" / f"{name}.png", _mask())
    if tag:
        _lines(root / "img_idx" / f"train_{tag}.txt", names[:-1])
        _lines(root / "img_idx" / f"test_{tag}.txt", names[-1:])
    else:
        _lines(root / "50_50" / "train.txt", names[:-1])
        _lines(root / "50_50" / "test.txt", names[-1:])
    return root


def make_mdfa(root: Path) -> Path:
    for i in range(3):
        _png(root / "training" / f"{i:06d}_1.png", _image(20 + i))
        _png(root / "training" / f"{i:06d}_2.png", _mask())
    for i in range(2):
        _png(root / "test_org" / f"{i:05d}.png", _image(30 + i))
        _png(root / "test_gt" / f"{i:05d}.png", _mask())
    return root


def make_sirst_aug(root: Path) -> Path:
    for sub, n in (("trainval", 3), ("test", 2)):
        for i in range(n):
            _png(root / sub / "images" / f"{i:06d}.png", _image(40 + i))
            _png(root / sub / "masks" / f"{i:06d}.png", _mask())
    return root


def make_folder(root: Path, splits: bool = True) -> Path:
    names = ["a", "b", "c"]
    for i, name in enumerate(names):
        _png(root / "images" / f"{name}.png", _image(50 + i))
        _png(root / "masks" / f"{name}_mask.png", _mask())
    if splits:
        _lines(root / "train.txt", names[:2])
        _lines(root / "test.txt", names[2:])
    return root


# ---------------------------------------------------------------- layouts


def test_sirst_layout(tmp_path: Path) -> None:
    root = make_sirst(tmp_path / "sirst")
    ds = open_dataset(tmp_path, "sirst", "trainval")
    assert ds.names == ["Misc_1", "Misc_2", "Misc_3"]
    sample = ds.load(0)
    assert sample.image.shape == (8, 10) and sample.mask.dtype == bool and sample.mask.sum() == 4
    assert len(open_dataset(root, "sirst", "test")) == 1
    assert len(open_dataset(root, "sirst", "all")) == 4
    assert list_splits(tmp_path, "sirst") == ["test", "train", "trainval", "all"]


@pytest.mark.parametrize("tag, name, sub", [("NUDT-SIRST", "nudt", "NUDT-SIRST"), ("IRSTD-1k", "irstd1k", "IRSTD-1k"),
                                            (None, "basic", "any")])
def test_basic_layout(tmp_path: Path, tag: str | None, name: str, sub: str) -> None:
    make_basic(tmp_path / sub, tag=tag)
    data_dir = tmp_path if name != "basic" else tmp_path / sub
    train = open_dataset(data_dir, name, "train")
    assert train.names == ["000000", "000001", "000002"] and train.name == name
    assert open_dataset(data_dir, name, "trainval").names == train.names  # alias: only train exists
    assert open_dataset(data_dir, name, "test").names == ["000003"]
    assert len(open_dataset(data_dir, name, "all")) == 4
    assert list_splits(data_dir, name) == ["test", "train", "trainval", "all"]


def test_mdfa_layout_and_black_hot(tmp_path: Path) -> None:
    make_mdfa(tmp_path / "MDFA")
    train = open_dataset(tmp_path, "mdfa", "train")
    assert train.names == ["000000", "000001", "000002"]
    assert train.items[0].mask.name == "000000_2.png"
    assert open_dataset(tmp_path, "mdfa", "test").names == ["00000", "00001"]
    assert len(open_dataset(tmp_path, "mdfa", "all")) == 5
    inverted = open_dataset(tmp_path, "mdfa", "train", black_hot=True).load(1)
    plain = train.load(1)
    np.testing.assert_array_equal(inverted.image, 255 - plain.image)
    np.testing.assert_array_equal(inverted.mask, plain.mask)
    tagged = open_dataset(tmp_path, "mdfa@black", "train").load(1)
    np.testing.assert_array_equal(tagged.image, inverted.image)


def test_sirst_aug_layout(tmp_path: Path) -> None:
    make_sirst_aug(tmp_path / "sirst_aug")
    assert len(open_dataset(tmp_path, "sirst_aug", "trainval")) == 3
    assert len(open_dataset(tmp_path, "sirst_aug", "train")) == 3
    assert open_dataset(tmp_path, "sirst_aug", "test").names == ["000000", "000001"]
    every = open_dataset(tmp_path, "sirst_aug", "all")
    assert len(every) == 5 and len(set(every.names)) == 5


def test_folder_layout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_folder(tmp_path / "mine")
    assert open_dataset(root, "folder", "train").names == ["a", "b"]
    assert open_dataset(root, "folder", "test").names == ["c"]
    assert open_folder(root).names == ["a", "b", "c"]
    assert open_dataset(tmp_path, "mine", "test").names == ["c"]  # a sub-folder name, read with auto
    bare = make_folder(tmp_path / "bare", splits=False)
    with caplog.at_level("WARNING"):
        served = open_dataset(bare, "folder", "test")
    assert len(served) == 3 and served.split == "all"  # named for what it serves, as the dashboard names it
    assert "no split lists" in caplog.text


def test_a_text_file_naming_no_image_is_not_a_split(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A README.txt beside a folder dataset's images was read as split 'README' and turned the default split
    ('test') into an error on a folder that has no split list."""
    bare = make_folder(tmp_path / "bare", splits=False)
    (bare / "README.txt").write_text("captured 2024 with a FLIR Boson\nnotes: two sequences\n")
    assert list_splits(bare, "folder") == ["all"]
    with caplog.at_level("WARNING"):
        assert len(open_dataset(bare, "folder", "test")) == 3  # every image, as for any bare folder
    listed = make_folder(tmp_path / "listed")
    (listed / "notes.txt").write_text("a b c are from day 1\n")  # not one image name per line: no split
    assert list_splits(listed, "folder") == ["test", "train", "trainval", "all"]


def test_images_in_sub_folders_are_named_in_the_empty_split_error(tmp_path: Path) -> None:
    root = tmp_path / "nested"
    for sequence in ("seq1", "seq2"):
        _png(root / "images" / sequence / "a.png", _image(1))
        _png(root / "masks" / sequence / "a.png", _mask())
    with pytest.raises(LwirstError, match=r"split 'all' is empty .*its images are in sub-folders \(seq1/, seq2/\)"):
        open_dataset(root, "folder", "all")


def test_trainval_is_train_and_val_where_both_are_listed(tmp_path: Path) -> None:
    """With train.txt and val.txt but no trainval.txt, 'trainval' was train alone, labelled trainval."""
    root = make_folder(tmp_path / "mine")
    _lines(root / "val.txt", ["c", "a"])
    both = open_dataset(root, "folder", "trainval")
    assert both.names == ["a", "b", "c"]  # train's, then val's not already listed
    assert "train.txt" in both.origin and "val.txt" in both.origin
    (root / "val.txt").unlink()
    assert open_dataset(root, "folder", "trainval").names == ["a", "b"]  # only train: it stands in


def make_flat(root: Path) -> Path:
    """Frames beside their masks in one folder, as users export them; `d` has no mask yet."""
    for seed, name in enumerate("abc"):
        _png(root / f"{name}.png", _image(seed))
        _png(root / f"{name}_mask.png", _mask())
    _png(root / "d.png", _image(9))
    return root


def test_flat_folder_of_frames_beside_masks(tmp_path: Path) -> None:
    root = make_flat(tmp_path / "flat")
    assert detect_layout(root) == "folder" and find_datasets(tmp_path) == {"flat": "folder"}
    with pytest.raises(LwirstError, match=r"d_mask\.png"):  # the missing mask is named
        open_dataset(root, "auto", "all")
    (root / "d.png").unlink()
    every = open_dataset(root, "auto", "all")
    assert every.names == ["a", "b", "c"]
    sample = every.load(1)
    assert sample.mask.sum() == 4 and sample.image.shape[:2] == (8, 10)
    _lines(root / "test.txt", ["c"])
    assert open_dataset(root, "folder", "test").names == ["c"]
    assert open_dataset(root, "folder", "all").names == ["a", "b", "c"]


def test_a_segment_output_is_not_a_flat_dataset(tmp_path: Path) -> None:
    """NAME_mask.png beside NAME_overlay.png but no NAME.png: predictions, not a dataset."""
    out = tmp_path / "out"
    for suffix in ("_mask", "_overlay", "_heatmap"):
        _png(out / f"a{suffix}.png", _mask())
    with pytest.raises(LwirstError, match="unrecognised dataset layout"):
        detect_layout(out)
    assert flat_pairs(out) is None and require_image_files(out) == sorted(out.iterdir())


def test_outputs_into_a_flat_dataset_are_refused_and_its_masks_not_segmented(tmp_path: Path) -> None:
    root = make_flat(tmp_path / "flat")
    assert require_image_files(root) == [root / f"{n}.png" for n in "abcd"]
    assert dataset_root((root / "sub" / "x.png").resolve()) == root.resolve()
    with pytest.raises(LwirstError, match="inside the dataset folder"):
        check_outputs({"--out": root / "a_mask.png"}, force=True)

def test_split_lists_saved_by_windows_tools_and_upper_case_suffixes_are_read(tmp_path: Path) -> None:
    """A list saved with a byte-order mark and CRLF endings (Notepad, Excel) names its first image, and
    images and masks named f.PNG are found through a list as they are without one."""
    root = make_basic(tmp_path / "b", tag=None)
    (root / "50_50" / "test.txt").write_bytes("\ufeff000003  \r\n000002\r\n".encode())
    for folder in ("images", "masks"):
        for name, suffix in (("000002", ".PNG"), ("000003", ".Png")):
            (root / folder / f"{name}.png").rename(root / folder / f"{name}{suffix}")
    test = open_dataset(root, "basic", "test")
    assert test.names == ["000003", "000002"]
    assert test.load(0).mask.any() and test.load(1).image.shape == (8, 10)


@pytest.mark.parametrize("maker, layout", [(make_sirst, "sirst"), (make_basic, "basic"), (make_mdfa, "mdfa"),
                                           (make_sirst_aug, "sirst_aug"), (make_folder, "folder")])
def test_auto_detection(tmp_path: Path, maker, layout: str) -> None:
    root = maker(tmp_path / "data")
    assert detect_layout(root) == layout
    assert len(open_dataset(root, "auto", "test")) >= 1
    assert find_datasets(tmp_path) == {"data": layout}


def test_auto_at_a_root_of_one_dataset_reads_it_and_of_several_names_them(tmp_path: Path) -> None:
    """`--dataset auto` at ../shared/data (holding sirst/) was 'unrecognised dataset layout'."""
    make_sirst(tmp_path / "sirst")
    assert open_dataset(tmp_path, "auto", "test").names == open_dataset(tmp_path, "sirst", "test").names
    assert list_splits(tmp_path, "auto") == list_splits(tmp_path, "sirst")
    make_folder(tmp_path / "mine")
    with pytest.raises(LwirstError, match="it holds datasets mine, sirst: name one with --dataset"):
        open_dataset(tmp_path, "auto", "test")


def test_samples_open_as_folder() -> None:
    samples = Path(__file__).resolve().parents[1] / "data" / "samples"
    assert len(open_dataset(samples, "folder", "all")) == 8
    assert len(open_dataset(samples, "folder", "train")) + len(open_dataset(samples, "folder", "test")) == 8


# ---------------------------------------------------------------- merged


def test_fusion_prefixes_names_and_inverts_only_marked_members(tmp_path: Path) -> None:
    make_mdfa(tmp_path / "MDFA")
    make_sirst(tmp_path / "sirst")
    ds = open_dataset(tmp_path, "fusion:mdfa@black+sirst", "test")
    assert ds.names == ["mdfa-00000", "mdfa-00001", "sirst-Misc_4"]
    assert [item.source for item in ds.items] == ["mdfa", "mdfa", "sirst"]
    assert [item.black_hot for item in ds.items] == [True, True, False]
    plain = open_dataset(tmp_path, "mdfa", "test").load(0).image
    np.testing.assert_array_equal(ds.load(0).image, 255 - plain)
    as_list = open_dataset(tmp_path, ["mdfa@black", "sirst"], "test")
    assert as_list.names == ds.names
    assert list_splits(tmp_path, "fusion:mdfa+sirst") == ["test", "train", "trainval", "all"]


def test_paper_fusion(tmp_path: Path) -> None:
    make_mdfa(tmp_path / "MDFA")
    make_sirst(tmp_path / "sirst")
    make_sirst_aug(tmp_path / "SIRST-Aug")
    make_basic(tmp_path / "NUDT-SIRST")
    train = open_dataset(tmp_path, "fusion", "trainval")
    assert len(train) == 3 + 3 + 3 + 3
    assert {item.source for item in train.items} == {"mdfa", "sirst", "sirst_aug", "nudt"}
    assert all(item.black_hot == (item.source == "mdfa") for item in train.items)
    assert len(open_dataset(tmp_path, "fusion", "test")) == 2 + 1 + 2 + 1


def test_merge_rejects_repeated_member(tmp_path: Path) -> None:
    make_sirst(tmp_path / "sirst")
    with pytest.raises(LwirstError, match="more than once"):
        open_dataset(tmp_path, "fusion:sirst+sirst", "test")
    with pytest.raises(LwirstError, match="at least one"):
        merge_datasets([])


# ---------------------------------------------------------------- validation errors


def test_a_set_opened_without_validation_names_a_missing_mask_as_such(tmp_path: Path) -> None:
    """The dashboard opens sets unvalidated; a missing mask read "masks/c.png: no such file"."""
    root = make_folder(tmp_path / "mine")
    (root / "masks" / "c_mask.png").unlink()
    ds = open_dataset(root, "folder", "test", validate=False)
    with pytest.raises(LwirstError, match=r"^c: missing mask .*c\.png$"):
        ds.load(0)


def test_missing_masks_are_listed_in_one_error(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "f", splits=False)
    (root / "masks" / "a_mask.png").unlink()
    (root / "masks" / "c_mask.png").unlink()
    with pytest.raises(LwirstError) as err:
        open_dataset(root, "folder", "all")
    message = str(err.value)
    assert "2 problem(s)" in message and "a: missing mask" in message and "c: missing mask" in message


def test_size_mismatch(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "f", splits=False)
    _png(root / "masks" / "b_mask.png", _mask((12, 9)))
    with pytest.raises(LwirstError, match="b: image 10x8 but mask 9x12"):
        open_dataset(root, "folder", "all")


def test_same_aspect_mask_is_resized(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "f", splits=False)
    big = np.zeros((16, 20), np.uint8)
    big[4:8, 6:10] = 255
    _png(root / "masks" / "b_mask.png", big)
    sample = open_dataset(root, "folder", "all").load(1)
    assert sample.mask.shape == (8, 10)
    assert sample.mask[2:4, 3:5].all() and sample.mask.sum() == 4


def test_non_binary_mask(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "f", splits=False)
    grey = _mask()
    grey[0, 0] = 128
    _png(root / "masks" / "a_mask.png", grey)
    with pytest.raises(LwirstError, match="not binary"):
        open_dataset(root, "folder", "all")


def test_unreadable_file(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "f", splits=False)
    (root / "images" / "b.png").write_bytes(b"not a png at all")
    (root / "masks" / "c_mask.png").write_bytes(b"")
    with pytest.raises(LwirstError) as err:
        open_dataset(root, "folder", "all")
    assert "not a readable image" in str(err.value) and "empty" in str(err.value)


def test_empty_split(tmp_path: Path) -> None:
    root = make_sirst(tmp_path / "sirst")
    _lines(root / "idx_427" / "val.txt", [])
    with pytest.raises(LwirstError, match="split 'val' is empty"):
        open_dataset(root, "sirst", "val")
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "masks").mkdir()
    with pytest.raises(LwirstError, match="is empty"):
        open_dataset(empty, "folder", "all")


def test_split_naming_missing_files(tmp_path: Path) -> None:
    root = make_sirst(tmp_path / "sirst")
    _lines(root / "idx_427" / "test.txt", ["Misc_4", "Misc_99", "Misc_100"])
    with pytest.raises(LwirstError) as err:
        open_dataset(root, "sirst", "test")
    message = str(err.value)
    assert "idx_427/test.txt" in message and "Misc_99: missing image" in message and "Misc_100" in message


def test_unknown_split_names_the_available_ones(tmp_path: Path) -> None:
    root = make_sirst(tmp_path / "sirst")
    with pytest.raises(LwirstError, match="available: test, trainval"):
        open_dataset(root, "sirst", "holdout")


def test_nonexistent_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LwirstError, match="does not exist"):
        open_dataset(tmp_path / "nope", "sirst", "test")
    monkeypatch.delenv("LWIRST_DATA_DIR", raising=False)
    with pytest.raises(LwirstError, match="no data directory"):
        open_dataset("", "sirst", "test")


def test_wrong_layout(tmp_path: Path) -> None:
    make_sirst(tmp_path / "sirst")
    with pytest.raises(LwirstError, match="is not a mdfa dataset: it has the sirst layout; pass --dataset sirst "):
        open_dataset(tmp_path / "sirst", "mdfa", "test")
    plain = tmp_path.parent / f"{tmp_path.name}-plain"
    for sub in ("images", "masks"):
        (plain / sub).mkdir(parents=True)
    with pytest.raises(LwirstError, match="it has the folder layout; pass --dataset folder "):
        open_dataset(plain, "sirst", "test")  # the auditor's case: the message names the option to pass
    (tmp_path / "junk" / "stuff").mkdir(parents=True)
    with pytest.raises(LwirstError, match="unrecognised dataset layout"):
        open_dataset(tmp_path / "junk", "auto", "test")
    assert open_dataset(tmp_path, "auto", "test").name == "sirst"  # the one dataset there (junk/ is none)
    with pytest.raises(LwirstError, match="unknown dataset 'cifar'"):
        open_dataset(tmp_path, "cifar", "test")


def test_frames_without_masks_are_named_with_what_to_do(tmp_path: Path) -> None:
    """A folder of frames with labels/ beside them read 'not a folder layout (no masks/)', no next step."""
    frames = tmp_path / "mine"
    for sub in ("images", "labels"):
        (frames / sub).mkdir(parents=True)
        assert cv2.imwrite(str(frames / sub / "a.png"), np.zeros((8, 8), np.uint8))
    advice = (f"; if labels/ holds binary masks named as the frames, rename it masks/; without masks, `lwirst segment "
              f"{frames / 'images'}` finds the targets of every frame")
    for dataset in ("folder", "auto"):
        with pytest.raises(LwirstError) as refused:
            open_dataset(frames, dataset, "test")
        assert advice in str(refused.value), refused.value
    shutil.rmtree(frames / "labels")
    with pytest.raises(LwirstError) as refused:
        open_dataset(frames, "folder", "test")
    assert "rename" not in str(refused.value) and "without masks, `lwirst segment" in str(refused.value)
    make_sirst(tmp_path / "sirst")
    (tmp_path / "empty").mkdir()
    assert list(find_datasets(tmp_path)) == ["sirst"] and frames_without_layout(tmp_path) == ["mine"]
    assert frames_without_layout(tmp_path / "sirst") == []  # a dataset's own images/ and masks/ are its parts


# ---------------------------------------------------------------- real data


@pytest.mark.data
def test_real_sirst(data_root: Path, sirst_root: Path) -> None:
    assert len(open_dataset(data_root, "sirst", "all")) == 427
    assert len(open_dataset(data_root, "sirst", "trainval", validate=False)) == 341
    test = open_dataset(sirst_root, "auto", "test", validate=False)
    assert len(test) == 86
    sample = test.load(test.names.index("Misc_111"))  # its mask is stored at 592x400
    assert sample.mask.shape == sample.image.shape[:2] and sample.mask.any()


def test_a_split_plays_as_frames_of_their_own_size_in_a_video_of_the_largest(sirst_root: Path) -> None:
    test = open_dataset(sirst_root, "auto", "test", validate=False)
    frames = SplitFrames(test, "SIRST test", 5, 4.0)
    images = list(frames)
    assert frames.total == len(images) == 5 and len({image.shape for image in images}) > 1  # SIRST's sizes differ
    width, height = frames.size
    assert width % 2 == 0 and height % 2 == 0
    assert width - max(i.shape[1] for i in images) in (0, 1) and height - max(i.shape[0] for i in images) in (0, 1)
    assert all(np.array_equal(image, test.load(index).image) for index, image in enumerate(images))  # not resized


def test_padding_is_the_image_median_right_and_below() -> None:
    image = np.array([[0, 1, 2, 9], [3, 4, 9, 9]], np.uint8)  # median 3.5
    padded = pad_to(image, 6, 4)
    assert padded.shape == (4, 6) and np.array_equal(padded[:2, :4], image)  # pixels keep their coordinates
    assert (padded[2:] == 3).all() and (padded[:, 4:] == 3).all()
    assert pad_to(image, 4, 2) is image
    with pytest.raises(LwirstError, match="4x2 frame does not fit a 3x2 video"):
        pad_to(image, 3, 2)


def test_the_listing_stamp_changes_with_what_a_dataset_lists(tmp_path: Path) -> None:
    """A running server compares it to reopen a dataset that gained, lost or re-split images."""
    root = make_folder(tmp_path / "mine")
    first = listing_stamp(tmp_path, "mine")
    assert listing_stamp(tmp_path, "mine") == first
    time.sleep(0.01)
    _lines(root / "test.txt", ["b", "c"])
    resplit = listing_stamp(tmp_path, "mine")
    time.sleep(0.01)
    _png(root / "images" / "d.png", _image(9))
    assert len({first, resplit, listing_stamp(tmp_path, "mine")}) == 3
    assert listing_stamp(root, "auto") == listing_stamp(root, "folder")


def test_masks_named_after_no_image_are_pointed_out(tmp_path: Path) -> None:
    """Masks saved as NAME_label.png gave one 'missing mask' line per image and no word of the files beside them."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "images" / f"f{i}.png"), np.full((16, 16), 50, np.uint8))
        cv2.imwrite(str(tmp_path / "masks" / f"f{i}_label.png"), np.zeros((16, 16), np.uint8))
    with pytest.raises(LwirstError) as refused:
        open_dataset(tmp_path, "folder", "all")
    said = str(refused.value)
    assert "f0: missing mask" in said
    assert "masks/ holds 3 mask file(s) named after no image (e.g. f0_label.png)" in said
    cv2.imwrite(str(tmp_path / "masks" / "f0.png"), np.zeros((16, 16), np.uint8))  # one found: its own file is no stray
    with pytest.raises(LwirstError, match="holds 3 mask file"):
        open_dataset(tmp_path, "folder", "all")


def test_test_images_are_counted_per_member_and_only_where_a_test_list_names_them(tmp_path: Path) -> None:
    """A merged set with one member lacking a test list counted none of the others' test images, and a folder
    without split lists must count none (its "test" is every image, which would refuse all validation)."""
    from lwirst.synth import SceneConfig, write_dataset

    for name, seed in (("a", 1), ("b", 2)):
        write_dataset(tmp_path / name, 8, SceneConfig(size=(32, 32)), seed=seed)
    (tmp_path / "b" / "test.txt").unlink()
    tested = len((tmp_path / "a" / "test.txt").read_text().split())
    assert tested and in_test_split(tmp_path, "a", open_dataset(tmp_path, "a", "all")) == tested
    assert in_test_split(tmp_path, "fusion:a+b", open_dataset(tmp_path, "fusion:a+b", "all")) == tested
    assert in_test_split(tmp_path, "fusion:a+b", open_dataset(tmp_path, "fusion:a+b", "train")) == 0
    assert in_test_split(tmp_path, "b", open_dataset(tmp_path, "b", "all")) == 0


def test_images_of_the_split_a_model_trained_on_are_counted_by_file(synth_dir: Path, tmp_path: Path) -> None:
    """SIRST val lies inside trainval, the shipped model's training split: its scores there are in-sample, which
    `lwirst evaluate` says. A record of the split's images decides frame by frame: a copy of a training frame is
    one, wherever it lies and under whatever name; an edited one is not."""
    from lwirst.datasets import TrainedOn, files_record, in_sample_note, in_training

    train, test = (open_dataset(synth_dir, "folder", split) for split in ("train", "test"))
    card = TrainedOn("folder", "train", files_record(train))
    assert in_training(synth_dir, train, card) == (len(train), "folder train")
    assert in_training(synth_dir, test, card) == (0, "folder train")
    assert in_training(synth_dir, train, TrainedOn("", "")) == (0, "")  # no record: nothing said
    assert in_sample_note(synth_dir, train, card, "m.safetensors", "mine (train)") == (
        f"{len(train)} of the {len(train)} images of mine (train) are in folder train, the split m.safetensors "
        "trained on (its card's record): their scores are in-sample, not a measure of how it generalises.")
    assert in_sample_note(synth_dir, test, card, "m.safetensors", "mine (test)") == ""
    flat = tmp_path / "flat"  # training frames renamed and mixed with others, no split lists, another folder
    flat.mkdir()
    for i, item in enumerate([*train.items[:3], *test.items[:2]]):
        shutil.copy(item.image, flat / f"f{i}{item.image.suffix}")
        shutil.copy(item.mask, flat / f"f{i}_mask{item.mask.suffix}")
    assert in_training(tmp_path / "elsewhere", open_dataset(flat, "folder", "all"), card) == (3, "folder train")
    frame = flat / f"f0{train.items[0].image.suffix}"  # re-saved with other bytes: another file now
    cv2.imwrite(str(frame), cv2.imread(str(frame), cv2.IMREAD_UNCHANGED), [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert in_training(flat, open_dataset(flat, "folder", "all"), card) == (2, "folder train")


def test_a_folder_record_without_its_images_opens_only_where_it_lay(synth_dir: Path, tmp_path: Path) -> None:
    """"folder" names a layout, not data: a record of "folder train" without its images' identities (one written
    before records kept them) flagged frames of any folder evaluated that had a train.txt. It is opened only where
    the record says the folder lay; a dataset's own name ("sirst") is opened under the data root as before."""
    from lwirst.datasets import TrainedOn, in_training
    from lwirst.synth import SceneConfig, write_dataset

    old = TrainedOn("folder", "train")
    other = tmp_path / "other"
    write_dataset(other, 6, SceneConfig(size=(64, 64)), seed=123)
    assert in_training(other, open_dataset(other, "folder", "train"), old) == (0, "")
    train = open_dataset(synth_dir, "folder", "train")
    assert in_training(tmp_path, train, old, [synth_dir]) == (len(train), "folder train")
    digest = TrainedOn("folder", "train", "e3be7541c799ef34f13a")  # a split's one digest, as records held briefly
    assert not digest.identities and in_training(tmp_path, train, digest, [synth_dir]) == (len(train), "folder train")
    root = tmp_path / "root"
    shutil.copytree(synth_dir, root / "mine")
    named = TrainedOn("mine", "train")  # a dataset's own name identifies it under a root
    chosen = open_dataset(root, "mine", "train")
    assert in_training(root, chosen, named) == (len(chosen), "mine train")
    assert in_training(tmp_path, chosen, named) == (0, "")  # the recorded split is not under this root


def test_a_fine_tune_is_in_sample_where_the_weights_it_started_from_trained(synth_dir: Path, tmp_path: Path,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A fine-tune of a model trained on "folder train" (its --init weights, still there with the content its record
    hashed) holds most of their weights: its scores on that split are in-sample too, which was said of the first
    model only. A start whose file changed since, or a record of no start, says nothing."""
    from lwirst.checkpoint import file_hash, save_checkpoint
    from lwirst.datasets import files_record
    from lwirst.model import LWIRSTNet
    from lwirst.modelcard import lineage, lineage_in_sample_note

    net = LWIRSTNet()
    first, tuned = tmp_path / "first.safetensors", tmp_path / "tuned.safetensors"
    train, test = (open_dataset(synth_dir, "folder", split) for split in ("train", "test"))
    save_checkpoint(first, net, net.config,
                    {"data": {"dataset": "folder", "train_split": "train", "train_files": files_record(train)}})
    start = {"init": {"file": first.name, "sha256": file_hash(first)}, "init_path": str(first)}
    save_checkpoint(tuned, net, net.config, {"data": {"dataset": "other", "train_split": "train", **start}})
    assert [card.name for card in lineage(tuned)] == ["tuned.safetensors", "first.safetensors"]
    with caplog.at_level("WARNING"):
        note = lineage_in_sample_note(synth_dir, train, tuned, "mine (train)", lambda record: [])
    assert note == (f"{len(train)} of the {len(train)} images of mine (train) are in folder train, the split "
                    "first.safetensors, which tuned.safetensors was fine-tuned from, trained on (its card's record): "
                    "their scores are in-sample, not a measure of how it generalises.")
    assert lineage_in_sample_note(synth_dir, test, tuned, "mine (test)", lambda record: []) == ""
    assert lineage_in_sample_note(synth_dir, train, tuned, "mine (train)", lambda record: None) == ""  # guarded
    assert not caplog.records  # opening the records' splits warned of nothing the user asked for
    save_checkpoint(first, net, net.config, {"data": {"dataset": "folder"}})  # another record: another hash
    assert [card.name for card in lineage(tuned)] == ["tuned.safetensors"]  # its start is not that file any more


def test_another_splits_masks_are_no_strays_and_two_files_of_one_name_are_named(tmp_path: Path) -> None:
    """A test image's missing mask made the train images' masks read 'named after no image; rename them', and
    x.png beside x.jpg (no list) read 'x: listed 2 times'."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(4):
        cv2.imwrite(str(tmp_path / "images" / f"f{i}.png"), np.full((16, 16), 50, np.uint8))
        if i != 3:
            cv2.imwrite(str(tmp_path / "masks" / f"f{i}.png"), np.zeros((16, 16), np.uint8))
    (tmp_path / "test.txt").write_text("f3\n")
    (tmp_path / "train.txt").write_text("f0\nf1\nf2\n")
    with pytest.raises(LwirstError) as refused:
        open_dataset(tmp_path, "folder", "test")
    assert "f3: missing mask" in str(refused.value) and "named after no image" not in str(refused.value)
    # most frames of a recording hold no target: the message says their masks are needed too
    assert str(refused.value).endswith("\n  a frame without targets needs a mask too, all zero (black) at its "
                                       "size; or leave the frame out of the split (a <split>.txt list names the "
                                       "frames a split holds)")
    twin = tmp_path / "twin"
    (twin / "images").mkdir(parents=True)
    (twin / "masks").mkdir()
    cv2.imwrite(str(twin / "images" / "c.png"), np.full((16, 16), 50, np.uint8))
    cv2.imwrite(str(twin / "images" / "c.jpg"), np.full((16, 16), 50, np.uint8))
    cv2.imwrite(str(twin / "masks" / "c.png"), np.zeros((16, 16), np.uint8))
    with pytest.raises(LwirstError, match=r"c: c\.jpg and c\.png share one name, hence one mask; keep one of them"):
        open_dataset(twin, "folder", "all")
