"""Where lwirst's own files live, computed once for the whole package.

Imports nothing heavy (no torch, ONNX or OpenCV), so light modules and the dashboard's
settings can name the shipped model, samples and tables without loading a runtime.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The folder holding the `lwirst` package: the source checkout (or site-packages once installed).
REPO_ROOT = PACKAGE_DIR.parent
DATA_DIR = REPO_ROOT / "data"
MODELS_DIR = DATA_DIR / "models"
DEFAULT_MODEL = MODELS_DIR / "lwirst-sirst.safetensors"
SAMPLES_DIR = DATA_DIR / "samples"
PAPER_DIR = DATA_DIR / "paper"
ABLATIONS_DIR = DATA_DIR / "ablations"
DASHBOARD_APP = REPO_ROOT / "dashboard" / "app.py"
PAGES_DIR = REPO_ROOT / "pages"
# The folder whose `.streamlit/config.toml` holds the dashboard's server settings.
STREAMLIT_ROOT = REPO_ROOT
