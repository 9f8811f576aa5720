"""Fixtures for tests that boot kernels under `readpath vm`.

- `kernel`: a readpath_lib.vm.Kernel, one per entry of READPATH_TEST_KERNELS
  (comma-separated specs, default "6.1,6.12,7.3"); the test id is the spec. A kernel that
  cannot be resolved or installed here skips its tests, saying why.
- `first_kernel`: the first of those only, for checks that need not repeat per kernel.
- `run_vm(kernel, argv, **kwargs)`: readpath_lib.vm.run_in_vm with echo off and a
  timeout fit for a loaded TCG host.
- `guest_module(src_dir, name, kernel)`: builds an out-of-tree module for the kernel and
  returns the .ko path, which guests see at the same path.
- `readpath`: the path of scripts/readpath, to run under /usr/bin/python3.
"""

import functools
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from readpath_lib import vm  # noqa: E402
from readpath_lib.errors import RunError, UsageError  # noqa: E402

DEFAULT_KERNELS = "6.1,6.12,7.3"
GUEST_TIMEOUT = 300  # a boot takes 5-15 s under TCG; generous for a busy CI host


@functools.cache
def kernel_specs():
    """The kernel specs to test, computed once: pytest 7 matches a session-scoped
    parameter by identity, so fresh strings per module would set its fixtures up again
    (and boot again) for every test module."""
    specs = os.environ.get("READPATH_TEST_KERNELS") or DEFAULT_KERNELS
    return tuple(spec.strip() for spec in specs.split(",") if spec.strip())


def pytest_generate_tests(metafunc):
    if "kernel" in metafunc.fixturenames:
        specs = kernel_specs()
        metafunc.parametrize("kernel", specs, ids=specs, indirect=True, scope="session")


_resolved = {}


def _kernel_or_skip(spec):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (readpath test installs it as root)")
    if spec not in _resolved:
        try:
            _resolved[spec] = vm.resolve_kernel(spec)
        except (UsageError, RunError) as err:
            _resolved[spec] = err
    if isinstance(_resolved[spec], Exception):
        pytest.skip(f"kernel {spec} is not available here: {_resolved[spec]}")
    return _resolved[spec]


@pytest.fixture(scope="session")
def kernel(request):
    return _kernel_or_skip(request.param)


@pytest.fixture(scope="session")
def first_kernel():
    return _kernel_or_skip(kernel_specs()[0])


@pytest.fixture(scope="session")
def run_vm():
    def run(kernel, argv, **kwargs):
        kwargs.setdefault("echo", False)
        kwargs.setdefault("timeout", GUEST_TIMEOUT)
        return vm.run_in_vm(kernel, argv, **kwargs)
    return run


@pytest.fixture(scope="session")
def guest_module():
    def build(src_dir, name, kernel):
        return vm.build_module(Path(src_dir), kernel, name)
    return build


@pytest.fixture(scope="session")
def readpath():
    return REPO / "scripts" / "readpath"


# ---- guest check scripts (myfs_checks.py, block_checks.py): one test per check ----

def check_results(out, name, result):
    """The JSON a check script wrote to out/name, with the guest's output, or the reason
    there is none (an "error" key)."""
    path = Path(out) / name
    if not path.is_file():
        tail = "\n".join(result.output.splitlines()[-30:])
        return {"error": f"{Path(name).stem}.py wrote no results (exit {result.returncode}):\n{tail}"}
    results = json.loads(path.read_text())
    results["output"] = result.output
    return results


def assert_check(results, name):
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


def add_check_tests(namespace, checks, fixture):
    """Puts test_<check> into namespace (a test module's globals()) for each check, in the
    order the guest runs them, each asserting that check in the results of `fixture`."""
    for fn in checks:
        def test(request, name=fn.__name__):
            assert_check(request.getfixturevalue(fixture), name)
        test.__name__ = f"test_{fn.__name__}"
        test.__doc__ = fn.__doc__
        # usefixtures puts the fixture (and so `kernel`, which parametrizes) in the
        # test's closure; getfixturevalue then hands back its one per-kernel value.
        namespace[test.__name__] = pytest.mark.usefixtures(fixture)(test)
