"""Configure and build the C++ tree with CMake; returns where the binaries are."""

import os
import subprocess
from pathlib import Path

from . import packages, paths
from .errors import RunError, UsageError


def build(werror=None, quiet=False) -> Path:
    """Build everything (Release); warnings are errors when werror, which defaults to on
    under CI and otherwise to what the tree was configured with (off in a new tree): a
    flipped setting reconfigures and so recompiles everything, which a guest of CI's tests
    that runs `readpath run` without $CI paid for with 6 minutes under TCG."""
    packages.ensure(packages.BUILD, "building readpath")
    if werror is None and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        werror = True
    tree = paths.build_dir()
    configure = ["cmake", "-S", str(paths.REPO), "-B", str(tree), "-DCMAKE_BUILD_TYPE=Release"]
    if werror is not None:
        configure.append(f"-DREADPATH_WERROR={'ON' if werror else 'OFF'}")
    out = subprocess.DEVNULL if quiet else None
    if subprocess.run(configure, stdout=out).returncode != 0:
        raise RunError(f"cmake configure failed in {tree}; run `{' '.join(configure)}` to see why")
    jobs = str(os.cpu_count() or 2)
    if subprocess.run(["cmake", "--build", str(tree), "-j", jobs], stdout=out).returncode != 0:
        raise RunError(f"build failed in {tree}; run `cmake --build {tree}` to see the errors")
    return tree


def bench_binary() -> Path:
    return paths.build_dir() / "bench" / "readpath_bench"


def bench(no_build=False) -> Path:
    """readpath_bench, built first unless `no_build`, when it must be there already."""
    if not no_build:
        build(quiet=True)
    binary = bench_binary()
    if not os.access(binary, os.X_OK):
        raise UsageError(f"{binary} is not built; run without --no-build")
    return binary
