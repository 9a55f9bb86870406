"""`lwirst dashboard`: start the Streamlit dashboard (`streamlit run dashboard/app.py`)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from lwirst.errors import LwirstError
from lwirst.inference import REPO_ROOT
from lwirst.validate import number

HELP = "Start the Streamlit dashboard"
APP = REPO_ROOT / "dashboard" / "app.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=number(int, lo=1, hi=65535), default=8501,
                        help="port to serve on (default 8501)")
    parser.add_argument("--address", default="localhost",
                        help="address to bind (default localhost; 0.0.0.0 serves other machines)")


def command(port: int, address: str) -> list[str]:
    """The `streamlit run` command line; server settings come from the repository's .streamlit/config.toml."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address]


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise LwirstError(f"port {args.port} is not between 1 and 65535")
    if not APP.is_file():
        raise LwirstError(f"{APP} is missing: the dashboard ships with a source checkout of lwirst")
    print(f"dashboard: http://{args.address}:{args.port}  (Ctrl-C stops it)")
    # The repository root is the working directory so Streamlit reads .streamlit/config.toml.
    return subprocess.run(command(args.port, args.address), cwd=REPO_ROOT, check=False).returncode
