"""Command-line pieces several subcommands share: argument types that check their value once,
where it is parsed, and the conventions for result arguments and output folders."""

import argparse
import os
from pathlib import Path

from . import paths, results
from .errors import UsageError


def directory(text):
    """argparse type: an existing, writable directory (benchmark files are created in it)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory; create it or pick another")
    if not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not writable by this user")
    return text


def size(text):
    """argparse type: a size such as 64M or 1G, in bytes."""
    try:
        return results.parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err))


def percentage(text):
    """argparse type: a percentage ≥ 0 such as 5 or 2.5."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"takes a percentage ≥ 0 such as 5, not {text!r}")
    return value


def positive_int(text):
    """argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number ≥ 1, not {text!r}")
    return value


def add_runs_argument(parser, several):
    """The positional RESULT... of compare, plot and report."""
    parser.add_argument("runs", nargs="+", metavar="RESULT",
                        help="result JSON files or run folders; " + several)


def output_folder(runs, out, what):
    """Where a command that reads results writes `what`: --out, else the first RESULT when
    it is a run folder. Created if missing."""
    if out:
        path = Path(out)
    elif Path(runs[0]).is_dir():
        path = Path(runs[0])
    else:
        raise UsageError(f"{runs[0]} is a file, so say where {what} go: --out DIR")
    return paths.make_folder(path)


def plural(n, noun):
    """`1 round`, `12 rounds`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
