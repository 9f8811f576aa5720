"""myfs (kmod/) on each test kernel, asserted check by check.

One guest boot per kernel runs tests/guest/myfs_checks.py, which performs every check
(the seed session, namespace operations, synthetic files, the path switches and the
counters that prove them, traces, bad options, concurrency, load/mount cycles) and
writes its results as JSON; each check is one test here, named for it. To see the
numbers a check recorded, run the script yourself (its docstring shows how).
"""

import json

import pytest

from conftest import REPO, vm
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
    path = out / "myfs_checks.json"
    if not path.is_file():
        tail = "\n".join(result.output.splitlines()[-30:])
        return {"error": f"myfs_checks.py wrote no results (exit {result.returncode}):\n{tail}"}
    results = json.loads(path.read_text())
    results["output"] = result.output
    return results


def _assert_check(results, name):
    if "error" in results:
        pytest.fail(results["error"], pytrace=False)
    check = results["checks"].get(name)
    if check is None:
        tail = "\n".join(results.get("output", "").splitlines()[-20:])
        pytest.fail(f"{name} did not run; the guest stopped before it:\n{tail}", pytrace=False)
    if check["status"] == "skip":
        pytest.skip(check["detail"])
    if check["status"] != "pass":
        pytest.fail(f"{name}: {check['detail']}\nrecorded: {json.dumps(check['data'])[:3000]}",
                    pytrace=False)


def _make_test(fn):
    def test(myfs_results):
        _assert_check(myfs_results, fn.__name__)
    test.__name__ = f"test_{fn.__name__}"
    test.__doc__ = fn.__doc__
    return test


# One test per check, in the order the guest runs them (test_seed_session, ...).
for _check in myfs_checks.CHECKS:
    globals()[f"test_{_check.__name__}"] = _make_test(_check)
del _check
