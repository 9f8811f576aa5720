"""myfs block mode (kmod/block.c) on each test kernel, asserted check by check.

One guest boot per kernel runs tests/guest/block_checks.py with a virtio-blk drive
attached (a sparse host file): mkfs.myfs and every byte read back on null_blk, brd and
virtio-blk, the seed session on a formatted device, the predicted bios and disk requests
of a cold read, O_DIRECT, the bio submission and completion stacks, corrupt images,
every distinct stack per hook, and load/mount cycles. Each check is one test here, named
for it; run the script yourself to see what a check recorded (its docstring shows how).
"""


import pytest

from conftest import REPO, add_check_tests, check_results, vm
from readpath_lib import paths
from readpath_lib.errors import RunError, UsageError

import block_checks

SCRIPT = REPO / "tests" / "guest" / "block_checks.py"
# About 4 minutes under TCG on an idle host (the leak cycles are most of it).
TIMEOUT = 1500
DRIVE_BYTES = 64 << 20


def _mkfs():
    return paths.build_dir() / "tools" / "mkfs.myfs"


@pytest.fixture(scope="module")
def block_results(kernel, run_vm, tmp_path_factory):
    """The checks' JSON for `kernel` (one boot per kernel), or the reason there is none."""
    if not _mkfs().is_file():
        return {"error": f"{_mkfs()} is not built (cmake --build build --target mkfs_myfs)"}
    out = tmp_path_factory.mktemp(f"block-{kernel.release}")
    drive = tmp_path_factory.mktemp(f"drive-{kernel.release}") / "virtio.img"
    with open(drive, "wb") as f:
        f.truncate(DRIVE_BYTES)  # sparse; the guest formats it
    try:
        ko = vm.build_myfs(kernel)
        argv = ["/usr/bin/python3", str(SCRIPT), "--ko", str(ko), "--mkfs", str(_mkfs())]
        try:
            result = run_vm(kernel, argv, out=out, timeout=TIMEOUT, drives=[drive])
        except UsageError as err:  # a filesystem without O_DIRECT for the drive: no virtio
            result = run_vm(kernel, argv + ["--no-virtio-reason", str(err)], out=out,
                            timeout=TIMEOUT)
    except RunError as err:
        return {"error": f"the guest run failed: {err}"}
    finally:
        drive.unlink(missing_ok=True)
    return check_results(out, "block_checks.json", result)


add_check_tests(globals(), block_checks.CHECKS, "block_results")
