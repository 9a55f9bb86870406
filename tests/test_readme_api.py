"""The README's Python API block runs as printed and finds the sample's targets where the generator put them."""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from lwirst.paths import REPO_ROOT, SAMPLES_DIR

README = REPO_ROOT / "README.md"


def _api_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section should hold exactly one python block"
    return blocks[0]


def test_readme_python_api_block_runs_and_finds_the_sample_targets(tmp_path: Path) -> None:
    script = tmp_path / "api.py"
    script.write_text(_api_block(), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()

    found = [tuple(map(float, m.groups())) for m in
             (re.match(r"target at \((\d+), (\d+)\)", line) for line in lines) if m]
    truth = pd.read_csv(SAMPLES_DIR / "targets.csv").query("name == 'synth_00001'")
    assert len(found) == len(truth)
    for _, row in truth.iterrows():  # a printed centroid within 3 px (DNANet's rule) + 0.5 px of rounding per axis
        assert min(math.hypot(x - row.x, y - row.y) for x, y in found) <= 3 + math.sqrt(0.5)

    scores = ast.literal_eval(lines[-1])
    assert set(scores) == {"miou", "niou", "pd", "fa", "blobs_per_frame"}
    assert 0.0 <= scores["miou"] <= 1.0 and 0.0 <= scores["pd"] <= 1.0
    assert (tmp_path / "api.py").exists() and len(list(tmp_path.iterdir())) == 1  # the block writes nothing


def test_every_test_the_hardening_audit_names_exists() -> None:
    """docs/hardening_audit.md maps each finding to its test: a renamed test left the table pointing at nothing."""
    text = (REPO_ROOT / "docs" / "hardening_audit.md").read_text()
    files = {key: REPO_ROOT / path for key, path in re.findall(r"`([A-Z])` = `(tests/[\w/]+\.py)`", text)}
    named = re.findall(r"`(?:([A-Z])|(tests/[\w/]+\.py))::(test_\w+)", text)
    assert len(files) >= 6 and len(named) >= 20
    defined = {}
    for key, path, test in named:
        source = files[key] if key else REPO_ROOT / path
        defined.setdefault(source, set(re.findall(r"^def (test_\w+)", source.read_text(), re.MULTILINE)))
        assert test in defined[source], f"{source.name}::{test} is named by docs/hardening_audit.md but not defined"


def test_the_readme_describes_every_registered_page() -> None:
    """The README's table of pages was written by hand: a page added by the recipe (a file and a `PageSpec`) was
    missing from it. Each registered page has its cell ("**Title**: ...")."""
    from dashboard.common import PAGE_SPECS

    text = README.read_text(encoding="utf-8")
    missing = [spec.title for spec in PAGE_SPECS if f"| **{spec.title}**: " not in text]
    assert not missing, f"no cell in the README's table of pages for {missing}"
