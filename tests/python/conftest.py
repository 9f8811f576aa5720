"""Shared helpers for the script tests: run `scripts/readpath` as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
READPATH = REPO / "scripts" / "readpath"
sys.path.insert(0, str(REPO / "scripts"))


def readpath(*args, timeout=600, env=None, **kwargs):
    """Run `/usr/bin/python3 scripts/readpath ARGS`; returns the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(["/usr/bin/python3", str(READPATH), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full_env, **kwargs)


def bench_binary():
    from readpath_lib import build
    return build.bench_binary()


def _bench_built():
    return os.access(bench_binary(), os.X_OK)


needs_bench = pytest.mark.skipif(
    not _bench_built(), reason="build/bench/readpath_bench is not built "
                               "(scripts/readpath test builds it first)")


@pytest.fixture
def fixtures():
    return FIXTURES


@pytest.fixture
def run_folder(tmp_path):
    """A run folder as `readpath run` leaves it, holding the base fixture as raw JSON."""
    folder = tmp_path / "2026-11-21-6.1.0-56-amd64-box"
    (folder / "raw").mkdir(parents=True)
    (folder / "raw" / "base.json").write_text((FIXTURES / "base.json").read_text())
    return folder
