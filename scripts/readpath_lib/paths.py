"""Where readpath keeps things: the checkout, its build tree, results and caches."""

import datetime
import os
import socket
from pathlib import Path

from .errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    """The CMake build tree; READPATH_BUILD_DIR moves it (e.g. to keep two apart)."""
    return Path(os.environ.get("READPATH_BUILD_DIR", REPO / "build")).resolve()


def results_dir() -> Path:
    return REPO / "results"


def new_results_folder(what, out=None) -> Path:
    """--out, else results/<date>-<what>-<host>, numbered -2, -3, ... when taken."""
    if out:
        return Path(out)
    base = f"{datetime.date.today().isoformat()}-{what}-{socket.gethostname()}"
    folder, n = results_dir() / base, 2
    while folder.exists():
        folder, n = results_dir() / f"{base}-{n}", n + 1
    return folder


def make_folder(path) -> Path:
    """Create `path` and its parents if missing, or fail with a UsageError saying why."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create {path}: {err.strerror}") from None
    return path


def cache_dir(*parts: str) -> Path:
    """Per-machine cache (module builds per kernel, the KVM verdict), created on demand."""
    if os.environ.get("READPATH_CACHE_DIR"):
        root = Path(os.environ["READPATH_CACHE_DIR"])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "readpath"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
