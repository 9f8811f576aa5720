"""readpath_bench seen from the scripts: list a suite's cells, its method table, and the
filter that selects exact cells. The engine owns these facts; this module only asks."""

import json
import re
import shlex
import subprocess

from .errors import RunError, UsageError


def last_line(text):
    """The last non-empty line of a program's output, for one-line error messages."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def list_cells(bench, args):
    """The cell names `readpath_bench ARGS --benchmark_list_tests` prints, one per cell."""
    cmd = [str(bench), *args, "--benchmark_list_tests"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 2:
        raise UsageError(f"readpath_bench refused the options: {last_line(proc.stderr)}")
    if proc.returncode != 0:
        raise RunError(f"`{shlex.join(cmd)}` failed: {last_line(proc.stderr)}")
    cells = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if not cells:
        raise RunError(f"readpath_bench lists no cells for `{shlex.join(cmd[:-1])}`")
    return cells


def list_methods(bench):
    """The engine's method table (`readpath_bench --list-methods`): a list of dicts."""
    proc = subprocess.run([str(bench), "--list-methods"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RunError(f"readpath_bench --list-methods failed: {last_line(proc.stderr)}")
    try:
        return json.loads(proc.stdout)
    except ValueError as err:
        raise RunError(f"readpath_bench --list-methods printed no JSON ({err})") from None


def cell_filter(cells):
    """An anchored alternation of the exact names, valid for both std::regex and POSIX ERE."""
    return "^(" + "|".join(re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\1", c) for c in cells) + ")$"


def cell_lines(text, names):
    """{name: how many result lines the console output shows for it} (one per repetition)."""
    seen = {}
    for line in text.splitlines():
        name = line.split(" ", 1)[0]
        if name in names:
            seen[name] = seen.get(name, 0) + 1
    return seen
