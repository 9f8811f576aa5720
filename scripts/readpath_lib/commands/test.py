"""`readpath test`: build, then unit tests (CTest), script tests and guest tests (pytest).

Guest tests boot each test kernel in QEMU (6.1, 6.12 and 7.3 unless --kernel says
otherwise; missing ones are installed, a kernel that cannot be is a failure, not a skip).

Examples:
  readpath test                           everything, as CI runs it
  readpath test -k "compare or stats"     only the pytest tests matching the expression
  readpath test --kernel 6.12 -k latency  one guest kernel, the latency tests
"""

import os
import subprocess
import sys

from .. import build, packages, paths
from ..errors import RunError, UsageError

DEFAULT_KERNELS = ["6.1", "6.12", "7.3"]


def add_arguments(parser):
    parser.add_argument("--no-guest", action="store_true",
                        help="skip the tests that boot kernels in QEMU")
    parser.add_argument("--kernel", action="append", metavar="K",
                        help="kernel for the guest tests (repeatable; default: 6.1, 6.12 and 7.3)")
    parser.add_argument("-k", dest="select", metavar="EXPR",
                        help="run only the pytest tests matching EXPR (pytest -k)")


def run(args):
    packages.ensure(packages.BUILD + packages.PYTHON + packages.PEERS, "readpath test")
    if not args.no_guest:
        packages.ensure(packages.VM + packages.LAVA, "the guest tests")
    tree = build.build()
    failed = []

    print("== unit tests (ctest)", flush=True)
    jobs = str(os.cpu_count() or 2)
    if subprocess.run(["ctest", "--test-dir", str(tree), "--output-on-failure", "-j", jobs]).returncode:
        failed.append("unit tests")

    kernels = args.kernel or DEFAULT_KERNELS
    if not args.no_guest:
        # Resolve (and install) the guest kernels here, in view, rather than inside pytest,
        # whose fixtures turn a kernel that cannot be had into skips that still pass.
        from .. import vm
        for spec in kernels:
            try:
                vm.resolve_kernel(spec)
            except (UsageError, RunError) as err:
                print(f"readpath test: kernel {spec} is not available, its guest tests will "
                      f"be skipped: {str(err).splitlines()[0]}", file=sys.stderr, flush=True)
                if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                    failed.append(f"kernel {spec} unavailable")

    env = dict(os.environ, READPATH_BUILD_DIR=str(tree),
               READPATH_TEST_KERNELS=",".join(kernels))
    # One pytest session per folder: each has its own conftest.py, and tests import
    # helpers from it, which one session would resolve to a single `conftest` module.
    suites = [("script tests", "python")]
    if not args.no_guest:
        suites.append(("guest tests", "guest"))
    for title, folder in suites:
        print(f"== {title} (pytest tests/{folder})", flush=True)
        # --durations: the slowest tests in every log, to keep the run within its budget.
        pytest = ["/usr/bin/python3", "-m", "pytest", "-ra", "-p", "no:cacheprovider",
                  "--durations=12", "--durations-min=5", str(paths.REPO / "tests" / folder)]
        if args.select:
            pytest += ["-k", args.select]
        status = subprocess.run(pytest, env=env).returncode
        if status not in (0, 5):  # 5: nothing collected, which -k can cause
            failed.append(title)

    if failed:
        raise RunError("failed: " + ", ".join(failed))
    print("readpath test: all passed", file=sys.stderr)
    return 0
