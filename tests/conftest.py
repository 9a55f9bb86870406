"""Shared fixtures. Real-data tests use `sirst_root`: they skip when SIRST is absent,
but fail when LWIRST_REQUIRE_DATA=1 (as in CI) so a missing dataset is never silent."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from lwirst.eval_protocol import AppliedProtocol, EvalProtocol

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ("tests.dashboard_pages",)  # the dashboard tests' `network_calls` fixture

if os.environ.get("PYTEST_XDIST_WORKER"):
    # The suite runs on two pytest-xdist workers (pyproject's addopts), one per core of the CI machine: a
    # worker's own forward passes take one thread, so the two never oversubscribe the cores.
    torch.set_num_threads(1)


def applied_of(record: dict) -> AppliedProtocol | None:
    """How a stored protocol record (a metrics.json's "protocol") says its frames ran."""
    return EvalProtocol.from_json(record).applied


def soften_one_mask(root: Path) -> Path:
    """Blur the first mask of a dataset folder, as JPEG or interpolation leaves one (values between 0 and 255): a
    mask only `--mask-threshold` reads. Returns its path."""
    import cv2

    path = sorted((root / "masks").glob("*.png"))[0]
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    mask[:4, :4] = 255  # a target to blur, whatever the scene held there
    cv2.imwrite(str(path), cv2.GaussianBlur(mask, (5, 5), 1.5))
    return path


_OWN_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Every test's evaluations and uploads land in one folder of this run, never in the user's
    ~/.cache/lwirst (or a cache the environment names): the suite neither reads results another run
    left there nor leaves its own. Set in the controlling process, before pytest-xdist starts its
    workers, so the two workers share it (and its stored evaluations) as they shared the default."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    _OWN_CACHE.append(tempfile.mkdtemp(prefix="lwirst-test-cache-"))
    os.environ["LWIRST_CACHE_DIR"] = _OWN_CACHE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _OWN_CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tours (`e2e`) and Ray sweeps (`slow`) run one after another on one worker: two Streamlit
    servers with two Chromiums, or two Ray clusters, at once would starve each other on two cores."""
    for item in items:
        if item.get_closest_marker("e2e") or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("heavy"))


def _data_root() -> Path | None:
    env = os.environ.get("LWIRST_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for root in candidates:
        if (root / "sirst" / "images").is_dir():
            return root
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        if os.environ.get("LWIRST_REQUIRE_DATA") == "1":
            pytest.fail("LWIRST_REQUIRE_DATA=1 but SIRST was not found under LWIRST_DATA_DIR")
        pytest.skip("SIRST not found; set LWIRST_DATA_DIR")
    return root


@pytest.fixture(scope="session")
def sirst_root(data_root: Path) -> Path:
    return data_root / "sirst"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 synthetic 64x64 scenes with exact masks (seed 3; a quarter in the test split): a small real
    dataset folder for training and checkpoint tests. Read-only: tests write elsewhere."""
    from lwirst.synth import SceneConfig, write_dataset

    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 16, SceneConfig(size=(64, 64)), seed=3, test_fraction=0.25)
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """Batch-1 forward passes: on 2 shared cores thread sync costs far more than the compute."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained LW-IRSTNet (torch seed 0) saved as a safetensors checkpoint: a real model file
    for command-line tests that check plumbing, not accuracy."""
    from lwirst.checkpoint import save_checkpoint
    from lwirst.models import build_model

    torch.manual_seed(0)
    net = build_model().eval()
    path = tmp_path_factory.mktemp("model") / "net.safetensors"
    save_checkpoint(path, net, net.config)
    return path
