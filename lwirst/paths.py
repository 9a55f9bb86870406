"""Where lwirst's own files live, computed once for the whole package.

In a source checkout they sit beside the package (``data/``, ``pages/``,
``.streamlit/``); an installed wheel carries the same tree as package data under
``lwirst/_app`` (see pyproject.toml), so the shipped model, samples, paper tables and
the dashboard are found either way. The `dashboard` package itself is installed
beside `lwirst` in both cases.

Imports nothing heavy (no torch, ONNX or OpenCV), so light modules and the dashboard's
settings can name the shipped model, samples and tables without loading a runtime.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE_DIR.parent
# A checkout has its data and pages beside the package; an installed wheel has them in lwirst/_app.
IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "data").is_dir()
# The folder laid out like the checkout's root: data/, pages/, .streamlit/.
REPO_ROOT = _CHECKOUT if IN_CHECKOUT else PACKAGE_DIR / "_app"
DATA_DIR = REPO_ROOT / "data"
MODELS_DIR = DATA_DIR / "models"
DEFAULT_MODEL = MODELS_DIR / "lwirst-sirst.safetensors"
SAMPLES_DIR = DATA_DIR / "samples"
PAPER_DIR = DATA_DIR / "paper"
ABLATIONS_DIR = DATA_DIR / "ablations"
PAGES_DIR = REPO_ROOT / "pages"
DATA_DIR_ENV = "LWIRST_DATA_DIR"  # the default dataset root of every command and the dashboard
CACHE_ENV = "LWIRST_CACHE_DIR"  # where evaluations are cached (default ~/.cache/lwirst)
# The dashboard's folders a server operator names in the environment (`dashboard.config`): further data roots,
# model folders and folders of sweep results, each a list separated by os.pathsep.
DATA_ROOTS_ENV = "LWIRST_DASHBOARD_DATA_ROOTS"
MODEL_ROOTS_ENV = "LWIRST_DASHBOARD_MODEL_ROOTS"
ABLATION_ROOTS_ENV = "LWIRST_DASHBOARD_ABLATION_ROOTS"
# The folder whose `.streamlit/config.toml` holds the dashboard's server settings (its working directory).
STREAMLIT_ROOT = REPO_ROOT
# The dashboard package sits beside lwirst (the checkout, or site-packages).
DASHBOARD_APP = _CHECKOUT / "dashboard" / "app.py"


def checkout_commit() -> str:
    """Short commit of the lwirst checkout, with "-dirty" when its package differs from it (an edited, new or
    deleted file under lwirst/: a record written from uncommitted code says so); "unknown" outside a git
    checkout. Records (sweep results, the model card) carry it."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(_CHECKOUT), *args], capture_output=True, text=True, check=False)

    try:
        head = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--", "lwirst") if head.returncode == 0 else None
    except OSError:
        return "unknown"
    if changes is None or changes.returncode:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if changes.stdout.strip() else "")
