"""myfs (kmod/) on each test kernel, asserted check by check.

One guest boot per kernel runs tests/guest/myfs_checks.py, which performs every check
(the seed session, namespace operations, synthetic files, the path switches and the
counters that prove them, traces, bad options, concurrency, load/mount cycles) and
writes its results as JSON; each check is one test here, named for it. To see the
numbers a check recorded, run the script yourself (its docstring shows how).
"""


import pytest

from conftest import REPO, add_check_tests, check_results, vm
from readpath_lib import paths
from readpath_lib.errors import RunError

import myfs_checks

SCRIPT = REPO / "tests" / "guest" / "myfs_checks.py"
# The checks take about 90 s under TCG on an idle host; leave room for a loaded one.
TIMEOUT = 900


def _mmap_test():
    return str(paths.build_dir() / "tools" / "mmap_test")


@pytest.fixture(scope="module")
def myfs_results(kernel, run_vm, tmp_path_factory):
    """The checks' JSON for `kernel` (one boot per kernel), or the reason there is none."""
    out = tmp_path_factory.mktemp(f"myfs-{kernel.release}")
    try:
        ko = vm.build_myfs(kernel)
        argv = ["/usr/bin/python3", str(SCRIPT), "--ko", str(ko), "--mmap-test", _mmap_test()]
        result = run_vm(kernel, argv, out=out, timeout=TIMEOUT)
    except RunError as err:
        return {"error": f"the guest run failed: {err}"}
    return check_results(out, "myfs_checks.json", result)


add_check_tests(globals(), myfs_checks.CHECKS, "myfs_results")
