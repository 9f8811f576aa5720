"""run_in_vm boots once more when the guest kernel crashed while it booted (before myfs
loaded and the command started: nothing under test ran), never when it crashed later, and
a second crash while booting fails the run. The boot itself is replaced here; the guest tests boot for real."""

from pathlib import Path

import pytest

from readpath_lib.errors import RunError
from readpath_lib.vm import guest, initramfs, kernels, qemu

KERNEL = kernels.Kernel(release="6.12.0-test", image=Path("/nonexistent/vmlinuz"),
                        headers=Path("/nonexistent"), modules=Path("/nonexistent"), debian=True)
OK = guest.VmResult(returncode=0, output="", accel="tcg", kernel_release=KERNEL.release,
                    boot_seconds=1.0, command_seconds=1.0, console="")


@pytest.fixture
def boots(monkeypatch):
    """The outcomes the next boots have, in order (an exception is raised, a result
    returned); after the call, the number of boots made."""
    outcomes, made = [], []

    def boot_and_run(boot, say):
        made.append(boot)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(guest, "_boot_and_run", boot_and_run)
    monkeypatch.setattr(guest.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(initramfs, "initramfs_for", lambda kernel: Path("/nonexistent/initrd"))
    monkeypatch.setattr(qemu, "choose_accel", lambda accel, kernel, initrd, log: "tcg")
    return outcomes, made


def crash(while_booting):
    kind = guest.BootTrouble if while_booting else RunError
    return kind(f"guest kernel {KERNEL.release} reported trouble: Oops: int3: 0000 [#1] "
                "PREEMPT SMP NOPTI (full log: /x.log). Kernel log from there:\n...")


def test_a_crash_while_booting_is_booted_once_more_and_said(boots, capsys):
    outcomes, made = boots
    outcomes += [crash(while_booting=True), OK]
    assert guest.run_in_vm(KERNEL, ["true"]) is OK
    assert len(made) == 2
    err = capsys.readouterr().err
    assert "reported trouble: Oops: int3" in err and "booting it once more" in err


def test_a_second_crash_while_booting_fails_the_run(boots):
    outcomes, made = boots
    outcomes += [crash(while_booting=True), crash(while_booting=True), OK]
    with pytest.raises(RunError, match="Oops: int3"):
        guest.run_in_vm(KERNEL, ["true"], echo=False)
    assert len(made) == 2


def test_a_crash_once_myfs_or_the_command_ran_is_not_retried(boots):
    outcomes, made = boots
    outcomes += [crash(while_booting=False), OK]
    with pytest.raises(RunError, match="Oops: int3"):
        guest.run_in_vm(KERNEL, ["true"], echo=False)
    assert len(made) == 1


def test_trouble_while_booting_is_told_apart_from_the_runs(tmp_path, monkeypatch):
    """_command_status, on the console log of a boot that crashed at 1.9 s."""
    monkeypatch.setattr(guest, "_keep_log", lambda release, console: tmp_path / "kept.log")
    log = ("[    1.9] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n"
           "[    1.9] RIP: 0010:sched_clock_cpu+0x5/0x1f0\n")
    with pytest.raises(guest.BootTrouble, match="while it booted"):
        guest._command_status(KERNEL, log, tmp_path, tmp_path / "qemu.err", 0, guest_ready=False)
    with pytest.raises(RunError) as err:
        guest._command_status(KERNEL, log, tmp_path, tmp_path / "qemu.err", 0, guest_ready=True)
    assert not isinstance(err.value, guest.BootTrouble)
