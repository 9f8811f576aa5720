"""Stopping a child process for good: the one way every command stops QEMU, lava-run or
readpath_bench when it times out or is interrupted."""

import os
import signal
import subprocess


def stop(proc, grace=10, group=False):
    """Ask `proc` to end (SIGTERM, to its whole process group with `group`: a child started
    in a session of its own, with children of its own), give it `grace` seconds, then
    SIGKILL. Always reaped; a child that has ended already is only reaped."""
    if proc.poll() is None:
        _send(proc, signal.SIGTERM, group)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _send(proc, signal.SIGKILL, group)
    proc.wait()


def _send(proc, sig, group):
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:   # it ended meanwhile
        pass
