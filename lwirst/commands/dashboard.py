"""`lwirst dashboard`: start the Streamlit dashboard (`streamlit run dashboard/app.py`)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

from lwirst.errors import LwirstError
from lwirst.paths import (
    ABLATION_ROOTS_ENV,
    CACHE_ENV,
    DASHBOARD_APP,
    DATA_DIR_ENV,
    DATA_ROOTS_ENV,
    MODEL_ROOTS_ENV,
    STREAMLIT_ROOT,
)
from lwirst.validate import number

HELP = "Start the Streamlit dashboard"
SERVED_ENV = "LWIRST_SERVED"  # set for the Streamlit process when it listens beyond loopback
CAMERAS_ENV = "LWIRST_SERVER_CAMERAS"  # "1": offer the server's local cameras even when served
APP = DASHBOARD_APP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Models offered: data/models and every model file in, or one folder below, the folders of "
                     "$LWIRST_DASHBOARD_MODEL_ROOTS (e.g. your `lwirst train` run directories' parent). Data: "
                     "$LWIRST_DATA_DIR and the roots of $LWIRST_DASHBOARD_DATA_ROOTS (separated by ':'). Sweep "
                     "results: data/ablations and the folders of $LWIRST_DASHBOARD_ABLATION_ROOTS (a sweep's "
                     "--run-dir, a folder of them, or a folder of --csv files).")
    parser.add_argument("--port", type=number(int, lo=1, hi=65535), default=8501,
                        help="port to serve on (default 8501)")
    parser.add_argument("--address", default="localhost",
                        help="address to bind (default localhost; 0.0.0.0 serves other machines: "
                             "see the warning it prints)")
    parser.add_argument("--allow-cameras", action="store_true",
                        help="offer the server's local cameras to visitors of a served (non-loopback) "
                             "dashboard; off by default there")


def _check_limits() -> None:
    """Refuse to serve with a limit the operator set but wrote wrong: the server would run on a default, not on
    the limit meant (an upload cap of "5MB" served 200 MB)."""
    from dashboard.config import upload_limit_problem
    from lwirst.limits import DEFAULTS, limit

    if problem := upload_limit_problem():
        raise LwirstError(problem)
    for name in DEFAULTS:
        limit(name)  # a bad value is its one-line error


def command(port: int, address: str) -> list[str]:
    """The `streamlit run` command line; server settings come from .streamlit/config.toml in `STREAMLIT_ROOT`
    (the checkout's root, or its copy inside an installed wheel)."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address]


def is_loopback(address: str) -> bool:
    if address.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def served_warning(address: str, cameras: bool = False) -> str:
    """What a dashboard bound to `address` exposes and how to protect it; '' for loopback."""
    if is_loopback(address):
        return ""
    camera_line = ("the server's local cameras are offered to every visitor (--allow-cameras)" if cameras
                   else "the server's local cameras are disabled (pass --allow-cameras to offer them)")
    return (f"warning: serving on {address} exposes the dashboard to the network with no login: every "
            "visitor can run models, upload images, videos and ONNX files (within the limits in README) and "
            f"read the configured datasets; {camera_line}. Protect it with Streamlit's authentication "
            "(st.login, [auth] in .streamlit/secrets.toml) or a reverse proxy with authentication and TLS "
            "(nginx, Caddy) and bind to localhost behind it.")


def absolute_roots(env: dict[str, str]) -> dict[str, str]:
    """`env` with each folder of the dashboard's root variables made absolute against this command's working
    folder: Streamlit runs in STREAMLIT_ROOT (site-packages when installed), where a relative
    LWIRST_DASHBOARD_ABLATION_ROOTS=runs/sweep named a folder that was not there."""
    for name in (DATA_DIR_ENV, DATA_ROOTS_ENV, MODEL_ROOTS_ENV, ABLATION_ROOTS_ENV, CACHE_ENV):
        if env.get(name, "").strip():
            env[name] = os.pathsep.join(str(Path(part).expanduser().absolute()) if part.strip() else part
                                        for part in env[name].split(os.pathsep))
    return env


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise LwirstError(f"port {args.port} is not between 1 and 65535")
    if not APP.is_file():
        raise LwirstError(f"{APP} is missing: this lwirst installation is incomplete; reinstall it")
    _check_limits()
    env = absolute_roots(dict(os.environ))
    warning = served_warning(args.address, args.allow_cameras)
    if warning:
        print(warning, file=sys.stderr)
        env[SERVED_ENV] = "1"
        env[CAMERAS_ENV] = "1" if args.allow_cameras else "0"
    print(f"dashboard: http://{args.address}:{args.port}  (Ctrl-C stops it)")
    # STREAMLIT_ROOT is the working directory so Streamlit reads its .streamlit/config.toml.
    return subprocess.run(command(args.port, args.address), cwd=STREAMLIT_ROOT, env=env, check=False).returncode
