"""Shared helpers for the script tests: run `scripts/readpath` as a user would."""

import json
import math
import os
import random
import re
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


# ---------------------------------------------------------------- runs with rounds

MEMCPY_TRAITS = {"name": "memcpy", "family": "baseline", "uses_qd": False, "uses_io": True,
                 "delivers": "copy", "keeps_mapping": False, "maps_per_pass": False,
                 "direct": False, "ranks_with": "baseline",
                 "timed": "memcpy calls of io bytes each", "request": "none",
                 "summary": "read(2)'s copies without the kernel"}


def _context(kernel="6.1.0-56-amd64"):
    """base.json's context (tmpfs, native), its method table with memcpy added."""
    context = dict(json.loads((FIXTURES / "base.json").read_text())["context"])
    methods = context["methods"]
    methods = json.loads(methods) if isinstance(methods, str) else methods
    context["methods"] = json.dumps(methods + [MEMCPY_TRAITS])
    context["kernel"] = kernel
    return context


def _entry(name, repetitions, index, ns):
    size = int(re.search(r"/file:(\d+)", name).group(1))
    io = int(re.search(r"/io:(\d+)", name).group(1))
    return {"name": name, "run_name": name, "run_type": "iteration", "repetitions": repetitions,
            "repetition_index": index, "threads": 1, "iterations": 100, "real_time": ns,
            "cpu_time": ns, "time_unit": "ns", "bytes_per_second": size / ns * 1e9,
            "items_per_second": size / io / ns * 1e9, "minflt": 0.0, "majflt": 0.0,
            "ctxsw": 0.0, "cpu_ns": ns * 0.9}


def write_rounds(raw, stem, cells, rounds, repetitions=1, factors=None, round_sd=0.05,
                 rep_sd=0.01, seed=1, effects=None, kernel="6.1.0-56-amd64"):
    """Result files as readpath writes a run's rounds: raw/<stem>-r<N>.json, one process
    each, every cell's time = its base ns × its factor × exp(round effect + repetition
    noise): the round effect is shared by the round's repetitions (and by every cell of the
    round: the machine's state), drawn from N(0, round_sd) unless `effects` gives them (two
    configurations of one session share them). Returns the round effects used."""
    rng = random.Random(seed)
    effects = effects or [rng.gauss(0, round_sd) for _ in range(rounds)]
    raw = Path(raw)
    raw.mkdir(parents=True, exist_ok=True)
    factors = factors or {}
    for r, effect in enumerate(effects, start=1):
        entries = []
        for name, ns in cells.items():
            for k in range(repetitions):
                value = ns * factors.get(name, 1.0) * math.exp(effect + rng.gauss(0, rep_sd))
                entries.append(_entry(name, repetitions, k, value))
        data = {"context": _context(kernel), "benchmarks": entries}
        (raw / f"{stem}-r{r}.json").write_text(json.dumps(data))
    return effects


# Cells of one question (16M, warm) and a reference cell, with their base times.
CELLS = {f"{m}/io:{io}/file:16777216/warm:1": ns * (io // 4096) ** 0.5
         for m, ns in (("read", 900_000), ("pread", 850_000), ("mmap_copy", 400_000),
                       ("memcpy", 300_000)) for io in (4096, 65536, 1048576)}


def run_folder_with_rounds(folder, rounds=8, **kwargs):
    """A run folder (plan-less, as compare reads it) whose raw/ holds `rounds` rounds."""
    write_rounds(Path(folder) / "raw", "file16777216", CELLS, rounds, **kwargs)
    return Path(folder)


def in_rounds(fixture, folder):
    """A result file's repetitions as a run folder of rounds, one repetition each
    (raw/<stem>-r<N>.json), so that its planted effects can be compared round by round."""
    data = json.loads(Path(fixture).read_text())
    raw = Path(folder) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    by_round = {}
    for entry in data["benchmarks"]:
        if entry.get("run_type") == "aggregate":
            continue
        by_round.setdefault(entry.get("repetition_index", 0), []).append(
            dict(entry, repetition_index=0, repetitions=1))
    for index, entries in by_round.items():
        (raw / f"{Path(fixture).stem}-r{index + 1}.json").write_text(
            json.dumps({"context": data["context"], "benchmarks": entries}, indent=2))
    return Path(folder)
