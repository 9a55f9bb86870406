"""The light core: modules that only post-process, draw or read settings load no inference runtime."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

HEAVY = ("torch", "onnx", "onnxruntime", "openvino")
LIGHT = ("lwirst.pipeline", "lwirst.drawing", "dashboard.config", "lwirst.live", "lwirst.video",
         "lwirst.paths", "lwirst.saliency", "lwirst.scoring",
         "lwirst.commands.segment", "lwirst.commands.demo", "lwirst.commands.evaluate",  # their --help took 3-4 s
         "lwirst.commands.train", "lwirst.commands.sweep", "lwirst.commands.complexity", "lwirst.suite", "lwirst.sweep",
         "lwirst.recipes")


def test_light_modules_import_no_runtime() -> None:
    # A fresh interpreter: this test process has long imported torch through conftest.
    code = (f"import sys, json\nimport {', '.join(LIGHT)}\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_loading_a_checkpoint_imports_no_symbolic_shape_machinery() -> None:
    """Running a checkpoint's meta-device skeleton imported sympy and torch._dynamo: 1.5-2 s of every command."""
    code = ("import sys, json\nfrom lwirst.checkpoint import load_model\nfrom lwirst.paths import DEFAULT_MODEL\n"
            "load_model(DEFAULT_MODEL)\n"
            "print(json.dumps(sorted(m for m in ('sympy', 'torch._dynamo') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_old_homes_still_export_paths_and_saliency() -> None:
    from lwirst import inference, paths, saliency

    assert inference.Saliency is saliency.Saliency
    assert inference.PROTOCOLS is saliency.PROTOCOLS
    assert inference.DEFAULT_MODEL == paths.DEFAULT_MODEL
    assert inference.REPO_ROOT == paths.REPO_ROOT
    assert paths.DEFAULT_MODEL.is_file()
    assert (paths.SAMPLES_DIR / "images").is_dir()
