"""build.build: the CMake configure line. A tree configured under CI (warnings as errors)
must not be reconfigured the other way by a later `readpath run` without $CI (a guest of
the CI tests does exactly that): a flipped option recompiles everything."""

import subprocess

import pytest

from readpath_lib import build, packages


@pytest.fixture
def commands(monkeypatch):
    seen = []

    def fake_run(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(build.subprocess, "run", fake_run)
    monkeypatch.setattr(packages, "ensure", lambda *a, **k: None)
    return seen


def _werror(commands):
    configure = next(c for c in commands if "-S" in c)
    return [a for a in configure if a.startswith("-DREADPATH_WERROR")]


@pytest.mark.parametrize("ci, werror, want", [
    ("true", None, ["-DREADPATH_WERROR=ON"]),
    ("", None, []),                   # keep what the tree has
    ("", False, ["-DREADPATH_WERROR=OFF"]),
    ("true", False, ["-DREADPATH_WERROR=OFF"]),
    ("", True, ["-DREADPATH_WERROR=ON"]),
])
def test_warnings_as_errors_only_when_asked_or_under_ci(commands, monkeypatch, ci, werror, want):
    monkeypatch.setenv("CI", ci)
    build.build(werror=werror, quiet=True)
    assert _werror(commands) == want
    assert commands[-1][:2] == ["cmake", "--build"]
