"""readpath_bench seen from the scripts: list a suite's cells, its method table, and the
filter that selects exact cells. The engine owns these facts; this module only asks."""

import json
import os
import re
import shlex
import subprocess

from .cli import plural
from .errors import RunError, UsageError


def last_line(text):
    """The last non-empty line of a program's output, for one-line error messages."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def list_cells(bench, args, accel=None):
    """The cell names `readpath_bench ARGS --benchmark_list_tests` prints, one per cell;
    with accel ("tcg"), those a guest under that accelerator would run."""
    cmd = [str(bench), *args, "--benchmark_list_tests"]
    env = None if accel is None else dict(os.environ, READPATH_ACCEL=accel)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode == 2:
        raise UsageError(f"readpath_bench refused the options: {last_line(proc.stderr)}")
    if proc.returncode != 0:
        raise RunError(f"`{shlex.join(cmd)}` failed: {last_line(proc.stderr)}")
    cells = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if not cells:
        raise RunError(f"readpath_bench lists no cells for `{shlex.join(cmd[:-1])}`")
    return cells


def _json_of(bench, args, refused=None):
    """The JSON readpath_bench prints when run with args; exit 2 is a UsageError saying
    `readpath_bench refused <refused>` when refused names what was given."""
    what = " ".join(a for a in args if a.startswith("--list") or a == "--show-dir")
    proc = subprocess.run([str(bench), *args], capture_output=True, text=True)
    if proc.returncode == 2 and refused:
        raise UsageError(f"readpath_bench refused {refused}: {last_line(proc.stderr)}")
    if proc.returncode != 0:
        raise RunError(f"readpath_bench {what} failed: {last_line(proc.stderr)}")
    try:
        return json.loads(proc.stdout)
    except ValueError as err:
        raise RunError(f"readpath_bench {what} printed no JSON ({err})") from None


def _listing(bench, flag):
    """The JSON readpath_bench prints for `flag` (--list-methods, --list-profiles)."""
    return _json_of(bench, [flag])


def scratch_dir(bench, dir_args=()):
    """Where readpath_bench with these --dir arguments puts its files (`--show-dir`): a dict
    with dir, fs (its filesystem type), fresh (a fresh directory is made under dir) and note
    (why the default is not /dev/shm on tmpfs; "" when it is, or when --dir was given)."""
    return _json_of(bench, [*dir_args, "--show-dir"], refused="the directory")


def list_methods(bench):
    """The engine's method table (`readpath_bench --list-methods`): a list of dicts."""
    return _listing(bench, "--list-methods")


def list_profiles(bench):
    """The engine's profiles (`readpath_bench --list-profiles`), {name: profile} in its
    order: cells, rounds, repetitions per round, minimum time, sizes, how long a run takes,
    and the smaller variant a TCG guest runs (under "tcg")."""
    return {p["name"]: p for p in _listing(bench, "--list-profiles")["profiles"]}


def profile(bench, name, profiles=None):
    """The engine's profile `name` (an entry of list_profiles, which `profiles` may hold
    already); a UsageError naming the profiles there are when there is none by that name."""
    profiles = list_profiles(bench) if profiles is None else profiles
    if name not in profiles:
        raise UsageError(f"no profile {name!r}; readpath_bench has {', '.join(profiles)}")
    return profiles[name]


def design(profile, rounds=None, repetitions=None):
    """(rounds, repetitions per round) of a run of `profile`: what was asked, else the
    profile's own."""
    return rounds or profile["rounds"], repetitions or profile["repetitions"]


def add_profile_arguments(parser, default, bench, guest=False, full=False):
    """The options that choose what a command runs of the suite: --quick, --full (with
    full), --profile NAME, --no-build. The profile lands in args.profile, `default` when
    none is given; with guest, --profile's help names the profiles' TCG cell counts."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="the quick profile")
    if full:
        size.add_argument("--full", dest="profile", action="store_const", const="full",
                          help="the whole matrix: every method, size, depth and thread count")
    size.add_argument("--profile", dest="profile", metavar="NAME",
                      help=f"a profile by name (default: {default}); "
                           + profiles_help(bench, guest=guest))
    # Set on the parser: the actions share the destination, and the first one's default
    # (--quick's None) would win over a default given to --profile.
    parser.set_defaults(profile=default)
    parser.add_argument("--no-build", action="store_true",
                        help="use the readpath_bench already built instead of building first")


def profiles_help(bench, guest=False):
    """The profiles for --help, generated from the engine's table: the built
    readpath_bench's, or where to find them when it is not built yet."""
    try:
        profiles = list_profiles(bench)
    except (OSError, RunError):
        return "readpath_bench --list-profiles describes them once it is built"
    if guest:
        return "; ".join(f"{name}: {p['tcg']['cells']} cells under TCG" for name, p in profiles.items())
    return "; ".join(f"{name}: {p['cells']} cells, {plural(p['rounds'], 'round')} of "
                     f"{plural(p['repetitions'], 'repetition')}, {p['duration']}"
                     for name, p in profiles.items())


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
