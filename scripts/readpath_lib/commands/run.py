"""Run the benchmark suite and write a results folder: raw JSON (never edited), an
environment file, charts (PNG and SVG) and report.md.

Where it runs: on a host that can load modules, on myfs mounted on the host. Otherwise
(this project's usual case) native timings on the host, warm cells on /dev/shm (where it is
not a tmpfs, readpath_bench's next choice, which the run names) and cold cells on a disk
filesystem whose page cache can be emptied (a fresh directory in /var/tmp or beside the
results, or --cold-dir; --dir takes both), plus myfs hook counts from the same suite in a
QEMU guest on a Debian kernel; each is labelled by its filesystem, and guest timings are
marked emulated when they came from TCG.

The suite is cut into chunks (one readpath_bench invocation per file size and, apart from
--dir, cache state) and run in
rounds: every chunk once per round, forward in odd rounds and backward in even ones, the
repetitions of all its cells in random order. A cell's repetitions are so spread over the
run: on a shared machine the same cell moves by half between one minute and the next (the
host's other tenants), and such a shift then widens every cell's spread instead of
biasing some cells against others. Each finished chunk of a round is saved as
raw/<chunk>-r<N>.json at once, so Ctrl-C keeps what finished and `--resume` runs only
what is missing.

Profiles are readpath_bench's (`readpath_bench --list-profiles`): which cells, how many
rounds and repetitions, and how long a run takes; --profile's help below lists them. The
round is the unit compare counts (each is a separate process; repetitions inside one move
together): the profiles take many rounds of one repetition each, and their reports say
the change each cell could detect.

Examples:
  readpath run --quick
  readpath run --dir /mnt/nvme/scratch --no-vm
  readpath run --resume                      # continue the newest unfinished run
"""

import json
import sys
import time

from .. import backing as backings
from .. import build, cli, engine, guest_suite, packages, paths, report, results, runner
from ..errors import RunError, UsageError
from ..progress import Progress


def add_arguments(parser):
    engine.add_profile_arguments(parser, "default", build.bench_binary(), full=True)
    parser.set_defaults(profile=None)   # --resume tells a profile given from none
    parser.add_argument("--dir", metavar="DIR", type=cli.directory,
                        help="directory under test for native timings (default: myfs where "
                             "this kernel loads modules, else a fresh directory under /dev/shm, "
                             "or the first tmpfs readpath_bench finds where that is not one)")
    parser.add_argument("--cold-dir", metavar="DIR", type=cli.directory,
                        help="where cold cells read from (default: a fresh directory in /var/tmp, "
                             "or beside the results, on a disk filesystem: ext4, xfs, btrfs)")
    parser.add_argument("--kernel", metavar="K",
                        help=f"kernel for the myfs guest run (default {guest_suite.DEFAULT_KERNEL}, "
                             "Debian's; also 6.12 or a release such as 6.12.117+deb12-amd64)")
    parser.add_argument("--no-vm", action="store_true",
                        help="skip the myfs hook counts in a guest (native timings only)")
    parser.add_argument("--out", metavar="DIR",
                        help="results folder (default: results/<date>-<kernel>-<host>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run (--out, or the newest unfinished one)")
    parser.add_argument("--repetitions", type=cli.positive_int, metavar="N",
                        help="repetitions per cell and round (default: the profile's); a round "
                             "counts once in compare, whatever its repetitions")
    parser.add_argument("--rounds", type=cli.positive_int, metavar="N",
                        help="rounds over every chunk, each a new process (default: the "
                             "profile's; compare tests a cell with 3 or more)")
    backings.add_arguments(parser)
    parser.add_argument("--format-device", action="store_true",
                        help="with --backing device:/dev/X on a host that loads modules: yes, "
                             "format that device with mkfs.myfs (it destroys what it holds)")


def _start(args, bench):
    """A new results folder with its plan: chunks, settings, where timings are taken."""
    folder = paths.new_results_folder(runner.host_kernel(), args.out)
    if (folder / "plan.json").exists():
        raise UsageError(f"{folder} already holds a run; use --resume to continue it "
                         "or --out for a new folder")
    profile = args.profile or "default"
    rounds, repetitions = engine.design(engine.profile(bench, profile), args.rounds, args.repetitions)
    settings = {"rounds": rounds, "repetitions": repetitions}
    host_myfs = args.dir is None and runner.host_loads_myfs()
    backing = _backing(args, host_myfs)
    if not (args.no_vm or host_myfs):
        from .. import vm   # an unknown or uninstallable kernel fails now, not after an hour
        packages.ensure(packages.VM, "the myfs guest run")
        vm.resolve_kernel(args.kernel or guest_suite.DEFAULT_KERNEL)
    # Warm cells in memory (tmpfs), cold ones on a disk whose page cache can be emptied;
    # --dir or myfs on the host take both.
    cold_apart = not host_myfs and args.dir is None
    cold, said = runner.cold_dir(args.cold_dir, folder) if cold_apart else (None, None)
    plan = {
        "profile": profile, "settings": settings,
        "native": {"dir": args.dir, "host_myfs": host_myfs, "cold_dir": cold, "cold_note": said,
                   "backing": backing.record() if host_myfs else None},
        "vm": None if (args.no_vm or host_myfs) else
              {"kernel": args.kernel or guest_suite.DEFAULT_KERNEL, "done": None,
               "backing": backing.record()},
        "chunks": [], "status": "running",
    }
    paths.make_folder(folder / "raw")
    plan["chunks"] = runner.plan_chunks(engine.list_cells(bench, ["--profile", profile,
                                                                  *runner.dir_args(plan, None)]),
                                        cold_apart)
    runner.write_json(folder / "plan.json", plan)
    runner.write_json(folder / "environment.json", runner.environment(bench))
    return folder, plan


def _backing(args, host_myfs):
    """The run's backing: in the guest (any but device:), or on a host that loads modules
    (memory, or device:/dev/X with --format-device, since mkfs.myfs destroys it)."""
    backing = backings.from_args(args)
    if args.format_device and backing.kind != "device":
        raise UsageError("--format-device confirms formatting --backing device:/dev/X; "
                         "there is no device to format here")
    if host_myfs:
        if backing.kind not in ("memory", "device"):
            raise UsageError(f"this host loads modules, so readpath run times myfs here, on "
                             f"memory or device:/dev/X; --backing {backing.spec} runs in a guest "
                             f"(readpath compare-kernels or compare-options --backing {backing.spec})")
        if backing.kind == "device" and not args.format_device:
            raise UsageError(f"--backing {backing.spec}: mkfs.myfs would destroy what "
                             f"{backing.path} holds; add --format-device to confirm")
        return backing
    if backing.kind == "device":
        raise UsageError(f"--backing {backing.spec} needs myfs on this host, which cannot load "
                         "modules (or --dir/--no-vm was given); in a guest use virtio:file=PATH")
    if backing.block and args.no_vm:
        raise UsageError(f"--backing {backing.spec} is what the myfs guest run reads from, and "
                         "--no-vm skips that run")
    return backing


def _resume(args):
    folder = runner.find_resumable(args.out)
    plan = json.loads((folder / "plan.json").read_text())
    if args.profile and args.profile != plan["profile"]:
        raise UsageError(f"{folder} was started with the {plan['profile']} profile; "
                         f"resume it without --{args.profile} or start a new run")
    print(f"readpath run: resuming {folder}", file=sys.stderr)
    if plan["native"]["host_myfs"]:
        runner.host_loads_myfs()   # still root on a kernel that loads modules
    return folder, plan


def run(args):
    if args.kernel and args.no_vm:
        raise UsageError("--kernel picks the kernel of the myfs guest; it cannot go with --no-vm")
    if not args.no_build:
        packages.ensure(packages.PYTHON, "charts and reports")
    bench = build.bench(no_build=args.no_build)
    folder, plan = _resume(args) if args.resume else _start(args, bench)
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)

    settings, profile = plan["settings"], plan["profile"]
    work = runner.work_list(plan)
    pending = [(r, c) for r, c in work if not runner.chunk_file(raw, c, r).exists()]
    reps = settings["repetitions"]
    total = reps * sum(len(c["cells"]) for _, c in work)
    done = total - reps * sum(len(c["cells"]) for _, c in pending)
    cost = lambda items: reps * sum(runner.cell_cost(n) for _, c in items for n in c["cells"])  # noqa: E731
    if plan["native"]["host_myfs"]:
        where = "myfs on the host"
    else:
        scratch = engine.scratch_dir(bench, runner.dir_args(plan, None))
        cold = plan["native"].get("cold_dir")
        where = (f"{scratch['dir']} ({scratch['fs']}, native)" if not cold else
                 f"{scratch['dir']} ({scratch['fs']}: warm) and {cold} (cold)")
        if scratch["note"]:
            print(f"readpath run: {scratch['note']}", file=sys.stderr)
        if plan["native"].get("cold_note"):
            print(f"readpath run: {plan['native']['cold_note']}", file=sys.stderr)
    print(f"readpath run: {profile} profile, {total // settings['rounds'] // reps} cells in "
          f"{len(plan['chunks'])} chunks on {where}, {cli.plural(settings['rounds'], 'round')} of "
          f"{cli.plural(settings['repetitions'], 'repetition')}; results in {folder}", file=sys.stderr)
    progress = Progress(total, done, cost_total=cost(work), cost_done=cost(work) - cost(pending),
                        unit="repetition")
    guest_error = None
    try:
        if pending:
            if plan["native"]["host_myfs"]:
                with runner.HostMyfs(backing=_plan_backing(plan["native"]),
                                     sizes=guest_suite.engine_sizes(bench, profile)["other"]) as mount:
                    for rnd, chunk in pending:
                        runner.run_chunk(bench, chunk, rnd, profile, settings, raw, progress,
                                         runner.dir_args(plan, mount))
            else:
                for rnd, chunk in pending:
                    runner.run_chunk(bench, chunk, rnd, profile, settings, raw, progress,
                                     runner.dir_args(plan, None, chunk))
            progress.finish()
        if plan["vm"] and not plan["vm"]["done"]:
            guest_error = _guest(bench, folder, plan)
    except KeyboardInterrupt:
        progress.finish()
        kept = sum(1 for r, c in work if runner.chunk_file(raw, c, r).exists())
        print(f"readpath run: interrupted; {kept} of {len(work)} chunk rounds kept in "
              f"{folder}; `readpath run --resume` continues", file=sys.stderr)
        raise

    runs = [results.load(folder, label=folder.name)]
    cells = runs[0].benchmarks.values()
    gone = [b for b in cells if b.skipped]
    if gone:
        reasons = sorted({b.skipped for b in gone}, key=lambda r: -sum(b.skipped == r for b in gone))
        others = len(reasons) - 1
        why = reasons[0] + (f" (and {others} other reason{'s' if others > 1 else ''})" if others else "")
        if len(gone) == len(cells):
            raise RunError(f"every cell was skipped, so {folder} measured nothing: {why}; "
                           "pick another --dir")
        print(f"readpath run: {len(gone)} of {len(cells)} cells skipped: {why}; report.md "
              "lists them", file=sys.stderr)
    if guest_error is None:
        plan["status"] = "complete"
        runner.write_json(folder / "plan.json", plan)
        runner.remove_cold_dir(plan)
    path = report.build(runs, folder)
    print(f"readpath run: wrote {path}", file=sys.stderr)
    print(folder)
    if guest_error is not None:
        raise RunError(f"the myfs guest run failed, so {path} has native timings only: "
                       f"{str(guest_error).splitlines()[0]}; `readpath run --resume` retries it")
    return 0


def _guest(bench, folder, plan):
    """The same profile on myfs in a guest, once, for hook counts and call paths; returns
    the error that stopped it, if any (the native results still deserve their report)."""
    packages.ensure(packages.VM, "the myfs guest run")
    kernel, profile = plan["vm"]["kernel"], plan["profile"]
    chosen = _plan_backing(plan["vm"])
    where = "" if not chosen.block else f" on {chosen.spec}"
    print(f"readpath run: myfs hook counts in a {kernel} guest{where} (the {profile} profile's "
          f"TCG variant, once)", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        release, accel = guest_suite.run_suite(
            bench, kernel, profile, folder, lambda i, release: f"myfs-{release}",
            configs=[guest_suite.Config("defaults", backing=chosen)])
    except RunError as err:
        return err
    plan["vm"].update(done=release, accel=accel)
    runner.write_json(folder / "plan.json", plan)
    print(f"readpath run: guest {release} under {accel} done in "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    return None


def _plan_backing(section):
    """The Backing a plan section recorded (memory when it predates backings)."""
    record = (section or {}).get("backing") or {}
    return backings.parse(record.get("backing"), record.get("scheduler"), record.get("read_ahead_kb"))
