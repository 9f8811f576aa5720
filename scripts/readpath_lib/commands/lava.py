"""readpath as LAVA jobs: write job definitions for a matrix of kernels x myfs options x
profiles, run one here with Debian's lava-run, and bring finished jobs home as ordinary
result folders that compare, plot and report read unchanged.

Examples:
  readpath lava jobs --kernel 6.1 --kernel 6.12 --options default --options read=read \\
                     --profile tiny --out lava/
      lava/jobs/*.yaml (checked with LAVA's own schema), lava/artifacts/ (the busybox
      ramdisk, the readpath overlay, per kernel its image and myfs in modules.tar.xz),
      lava/device/ (the QEMU device: a lab's device dictionary and lava-run's configuration).
      --matrix FILE takes the same as YAML (keys below); --artifacts-url says where the lab
      serves lava/artifacts/.
  readpath lava run lava/jobs/JOB.yaml --out lava/out/JOB     (as root)
      runs the job with lava-run on the QEMU device, its log kept as output.yaml.
  readpath lava import lava/out/JOB [...] [--out results/]
  readpath lava import 1234 1235 --server https://lava.example.org/RPC2 (or --identity ID)
      one result folder per job, like `readpath run` writes; a job that failed on the
      device comes back as a failed folder with the device's last lines, exit 1.

On the device each job reports every cell's median over its rounds and the ends of that
median's interval as `lava-test-case CELL[.ciNN_low|.ciNN_high] --measurement NS --units ns`
(NN the coverage its rounds give: 75 from 3, 96 from 6), and prints the
raw Google Benchmark JSON, latency histograms, console logs and myfs call paths into the
log (gzip + base64, with sha256), so nothing measured is lost. docs/lava.md says what a lab
needs and how to submit with lavacli.
"""

import sys
from pathlib import Path

from .. import build, engine, packages, paths
from ..errors import UsageError


def add_arguments(parser):
    sub = parser.add_subparsers(dest="lava_command", metavar="ACTION", parser_class=type(parser))
    jobs = sub.add_parser("jobs", help="write job definitions, artifacts and the device",
                          description="Write one LAVA job per kernel x myfs options x "
                                      "profile, the artifacts they deploy and the QEMU device "
                                      "configuration. Matrix file keys: "
                                      + "; ".join(f"{k}: {v}" for k, v in _matrix_keys().items()))
    jobs.add_argument("--matrix", metavar="FILE", help="the matrix as YAML (keys above); "
                      "options given on the command line replace its keys")
    jobs.add_argument("--kernel", dest="kernels", action="append", metavar="K",
                      help="a kernel (6.1, 6.12, a newer series such as 7.3, a Debian release, or a "
                           "bzImage path); repeat")
    jobs.add_argument("--options", action="append", metavar="OPTS",
                      help="myfs mount options for a job (default: myfs's defaults); repeat")
    jobs.add_argument("--profile", dest="profiles", action="append", metavar="P",
                      help="readpath_bench profile (default tiny); repeat")
    jobs.add_argument("--device-type", metavar="T",
                      help="LAVA device type (default qemu; the known ones are in --help)")
    jobs.add_argument("--rounds", type=int, metavar="N", help="rounds (default: the profile's)")
    jobs.add_argument("--repetitions", type=int, metavar="N",
                      help="repetitions per round (default: the profile's)")
    jobs.add_argument("--artifacts-url", metavar="URL",
                      help="where the lab serves OUT/artifacts (default: file:// here)")
    jobs.add_argument("--rootfs-url", metavar="URL",
                      help="another ramdisk (cpio.newc, gzip) with a POSIX shell")
    jobs.add_argument("--accel", metavar="A", help="auto (default), host, kvm or tcg")
    jobs.add_argument("--timeout-minutes", type=int, metavar="M",
                      help="the test action's timeout (default 60)")
    jobs.add_argument("--memory", type=int, metavar="MIB", help="QEMU device memory (default 1024)")
    jobs.add_argument("--kvm", action="store_true",
                      help="the QEMU device configuration uses KVM (default TCG)")
    jobs.add_argument("--out", metavar="DIR", required=True, help="where to write")
    jobs.add_argument("--no-build", action="store_true",
                      help="use the readpath_bench already built instead of building first")

    run = sub.add_parser("run", help="run a job here with Debian's lava-run (root)",
                         description="Run a job `readpath lava jobs` wrote with lava-run on the "
                                     "QEMU device it described; OUT gets output.yaml (the job's "
                                     "log) for `readpath lava import`.")
    run.add_argument("job", metavar="JOB.yaml")
    run.add_argument("--device", metavar="DEVICE.yaml",
                     help="lava-run's device configuration (default: the one beside the jobs)")
    run.add_argument("--out", metavar="DIR", required=True, help="lava-run's output directory")
    run.add_argument("--timeout", type=float, default=3600, metavar="S",
                     help="stop lava-run after S seconds (default 3600)")
    run.add_argument("--import", dest="import_to", metavar="PARENT",
                     help="then import the job into a result folder under PARENT")

    imp = sub.add_parser("import", help="turn finished jobs into result folders",
                         description="One readpath result folder per job: from lava-run output "
                                     "directories (holding output.yaml) or job ids on a server "
                                     "(lavacli). A job that failed comes back as a failed "
                                     "folder with the device's last lines, and exit status 1.")
    imp.add_argument("sources", nargs="+", metavar="DIR|JOB_ID")
    who = imp.add_mutually_exclusive_group()
    who.add_argument("--server", metavar="URI", help="the server's RPC2 URI, for job ids")
    who.add_argument("--identity", metavar="ID", help="a lavacli identity, for job ids")
    imp.add_argument("--out", metavar="PARENT", help="where the folders go (default results/)")


def _matrix_keys():
    from ..lava import jobs
    return jobs.MATRIX_KEYS


def run(args):
    if args.lava_command in ("jobs", "run", "import"):
        # jobs, matrices and LAVA's logs are YAML (a minimal Debian has no python3-yaml)
        packages.ensure(["python3-yaml"], f"readpath lava {args.lava_command}")
    if args.lava_command == "jobs":
        return _jobs(args)
    if args.lava_command == "run":
        return _run(args)
    if args.lava_command == "import":
        return _import(args)
    raise UsageError("say what to do: readpath lava jobs|run|import (see readpath lava --help)")


def _matrix(args):
    from ..lava import jobs
    data = {}
    if args.matrix:
        data = jobs.load_matrix(args.matrix)
        if not isinstance(data, dict):
            jobs.check_matrix(data, args.matrix)
    given = {"kernels": args.kernels, "options": args.options, "profiles": args.profiles,
             "device_type": args.device_type, "rounds": args.rounds,
             "repetitions": args.repetitions, "artifacts_url": args.artifacts_url,
             "rootfs_url": args.rootfs_url, "accel": args.accel,
             "timeout_minutes": args.timeout_minutes, "memory": args.memory}
    data.update({k: v for k, v in given.items() if v is not None})
    return jobs.check_matrix(data, args.matrix or "")


def _jobs(args):
    import yaml
    from .. import vm
    from ..lava import artifacts, jobs
    matrix = _matrix(args)   # a malformed matrix fails before anything is built
    out = Path(args.out).resolve()
    kernels = [vm.resolve_kernel(spec) for spec in matrix.kernels]
    bench = build.bench(no_build=args.no_build)
    profiles = engine.list_profiles(bench)
    chosen = {name: engine.profile(bench, name, profiles) for name in matrix.profiles}
    artifacts.ensure_tools()
    art = out / "artifacts"
    for where in (art, out / "jobs", out / "device"):
        paths.make_folder(where)
    base = matrix.artifacts_url or art.as_uri()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"readpath lava jobs: {len(matrix.cells())} jobs for {matrix.device_type}; artifacts "
        f"in {art}")
    artifacts.rootfs(art)
    artifacts.payload(art, bench)
    urls = {"rootfs": matrix.rootfs_url or f"{base}/rootfs.cpio.gz",
            "readpath": f"{base}/readpath.tar.xz"}
    written = []
    for kernel in kernels:
        artifacts.kernel_files(art, kernel, matrix.device_type, log)
        for options in matrix.options:
            for profile in matrix.profiles:
                rounds, repetitions = engine.design(chosen[profile], matrix.rounds,
                                                    matrix.repetitions)
                definition = jobs.job(matrix, kernel.release, options, profile, rounds,
                                      repetitions,
                                      dict(urls, kernel=f"{base}/{kernel.release}/vmlinuz",
                                           modules=f"{base}/{kernel.release}/modules.tar.xz"))
                jobs.validate(definition)
                path = out / "jobs" / f"{jobs.slug(f'{kernel.release}-{options}-{profile}')}.yaml"
                path.write_text(yaml.safe_dump(definition, sort_keys=False, width=100))
                written.append(str(path))
    kvm = args.kvm
    device = jobs.device_config("qemu-readpath", memory=matrix.memory, kvm=kvm)
    try:
        from lava_common.schemas import device as device_schema
        device_schema.validate(device)
    except ImportError:
        pass   # jobs.validate already required lava-common
    (out / "device" / "qemu-readpath.yaml").write_text(yaml.safe_dump(device, sort_keys=False))
    (out / "device" / "qemu-readpath.jinja2").write_text(
        jobs.device_dictionary(memory=matrix.memory, kvm=kvm))
    jobs.write_json(out / "matrix.json", {"matrix": vars(matrix), "jobs": written})
    for path in written:
        print(path)
    log(f"readpath lava jobs: {len(written)} jobs in {out / 'jobs'}, each validated by LAVA's "
        f"schema; device in {out / 'device'}")
    return 0


def _run(args):
    from ..lava import importer, local
    job = Path(args.job)
    device = Path(args.device) if args.device else job.resolve().parent.parent / "device" / \
        "qemu-readpath.yaml"
    if args.timeout <= 0:
        raise UsageError("--timeout takes a positive number of seconds")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    verdict, seconds = local.run_job(job, device, args.out, timeout=args.timeout, log=log)
    log(f"readpath lava run: the job {'passed' if verdict == 'pass' else 'failed'} in "
        f"{seconds:.0f} s; log in {Path(args.out) / 'output.yaml'}")
    if args.import_to:
        folders, failures = importer.import_jobs([args.out], args.import_to,
                                                 command=_command(), log=log)
        for folder in folders:
            print(folder)
        if failures:
            raise failures[0]
    return 0 if verdict == "pass" else 1


def _command():
    import shlex
    return shlex.join(["readpath", *sys.argv[1:]])


def _import(args):
    from ..lava import importer
    identity = (["--uri", args.server] if args.server else
                ["--identity", args.identity] if args.identity else None)
    parent = paths.make_folder(args.out or paths.results_dir())
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    folders, failures = importer.import_jobs(args.sources, parent, identity, _command(), log)
    for folder in folders:
        print(folder)
    for failure in failures[1:]:
        print(f"readpath lava: {failure}", file=sys.stderr)
    if failures:
        raise failures[0]
    return 0
