"""`readpath run` where modules load: a guest kernel plays the host. As root in the guest,
the README's command (with small settings) finds it can load modules and takes the host
branch: it builds myfs for the running kernel, loads it, mounts it at /mnt/readpath-myfs
and times the suite on it. The results folder it writes back must name the guest's
kernel, myfs and the accelerator, carry the hook counts, charts and report, and the run
must leave neither the module nor the mount behind. One boot per kernel.

What goes wrong on real machines (a myfs left by a crashed run, Ctrl-C and --resume, a
user who is not root, a kernel that wants signed modules) is readpath's Python meeting the
kernel's answers, the same on every kernel: one more boot, on the first kernel only.
"""

import json

import pytest

from conftest import REPO, vm
from readpath_lib import build, results

MOUNT = "/mnt/readpath-myfs"
# The README's command with small settings, then what the module list and the mount table
# say once the run is over. What the run builds (readpath_bench, myfs for the running
# kernel) lands in the guest's memory, never in the host's tree or cache.
GUEST_SCRIPT = r"""
cd {repo} || exit 10
O="$READPATH_OUT"
scripts/readpath run --profile tiny --rounds 2 --repetitions 1 --out "$O/run"
rc=$?
cat /proc/modules > "$O/modules-after"
grep myfs /proc/self/mountinfo > "$O/myfs-mounts-after"
exit $rc
"""
# What goes wrong on real machines; after each: what is loaded and mounted.
CASES_SCRIPT = r"""
cd {repo} || exit 10
O="$READPATH_OUT"
left() {{ {{ grep '^myfs ' /proc/modules; grep ' - myfs ' /proc/self/mountinfo; }} > "$O/$1.left"; }}
small="--profile tiny --rounds 1 --repetitions 1 --no-vm --no-build"

# A crashed earlier run left myfs loaded and mounted at readpath's mount point.
ko=$(find "${{READPATH_CACHE_DIR:-$HOME/.cache/readpath}}/modules/$(uname -r)" -name myfs.ko | head -n 1)
insmod "$ko" && mkdir -p {mount} && mount -t myfs none {mount}
grep -c '^myfs ' /proc/modules > "$O/stale.before"
scripts/readpath run $small --out "$O/stale" 2> "$O/stale.err"; echo $? > "$O/stale.rc"; left stale

# Killed in the middle (SIGTERM, as Ctrl-C in a terminal), then resumed.
scripts/readpath run --profile tiny --rounds 3 --repetitions 1 --no-vm --no-build --out "$O/int" 2> "$O/int.err" &
pid=$!
n=0; until ls "$O"/int/raw/*.json >/dev/null 2>&1 || [ $n -ge 600 ]; do n=$((n+1)); sleep 0.2; done
kill -TERM $pid; wait $pid; echo $? > "$O/int.rc"; left int
scripts/readpath run --resume --no-build --out "$O/int" 2> "$O/resume.err"; echo $? > "$O/resume.rc"; left resume

# A user who is not root. The guest's root is a tmpfs overlay, so letting that user through
# the directories above the checkout (a clone under /root is mode 0700) changes nothing on
# the host.
d={repo}; while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups scripts/readpath run $small --out /tmp/nobody \
  2> "$O/nobody.err"; echo $? > "$O/nobody.rc"

# A kernel that loads only signed modules (as with Secure Boot); one way, so last.
echo 1 > /sys/module/module/parameters/sig_enforce
scripts/readpath run $small --out "$O/refused" 2> "$O/refused.err"; echo $? > "$O/refused.rc"; left refused
exit 0
"""
# Under TCG, on the 2-core development host: the tiny run about 100 s (the build check
# and myfs lookup 13 s, timing 4 s, charts and report 80 s), the cases about 200 s (two
# of them write charts). Compiling myfs in the guest would add 2 minutes. Room for a
# loaded host.
TIMEOUT = 1200


def _boot(kernel, run_vm, out, script, what):
    """One boot that runs `script` as root in the checkout; its VmResult."""
    if not (REPO / "kmod" / "Kbuild").is_file():
        pytest.skip("kmod/ has no myfs yet")
    # Built on the host first, so that the guest finds both up to date: compiling C++
    # under TCG takes many minutes. The guest still runs the build and the myfs lookup.
    build.build(quiet=True)
    vm.build_myfs(kernel)
    result = run_vm(kernel, ["sh", "-c", script.format(repo=REPO, mount=MOUNT)], out=out,
                    timeout=TIMEOUT)
    print(f"{kernel.release} under {result.accel}: boot {result.boot_seconds:.1f} s, "
          f"{what} {result.command_seconds:.0f} s")
    if result.returncode != 0:
        pytest.fail(f"{what} in the {kernel.release} guest exited {result.returncode}:\n"
                    + "\n".join(result.output.splitlines()[-30:]))
    return result


@pytest.fixture(scope="module")
def host_run(kernel, run_vm, tmp_path_factory):
    """(the guest's VmResult, the results folder it wrote) for `kernel`: one boot."""
    out = tmp_path_factory.mktemp(f"host-run-{kernel.release}")
    return _boot(kernel, run_vm, out, GUEST_SCRIPT, "readpath run"), out


@pytest.fixture(scope="module")
def cases(first_kernel, run_vm, tmp_path_factory):
    """The folder the failure cases wrote, on the first kernel: one boot."""
    out = tmp_path_factory.mktemp(f"host-cases-{first_kernel.release}")
    _boot(first_kernel, run_vm, out, CASES_SCRIPT, "the failure cases")
    return out


def _raw(folder):
    """The raw JSON of every chunk round."""
    files = sorted(f for f in (folder / "raw").glob("*.json") if not f.name.endswith(results.LATENCY_SIDECAR))
    assert files, f"no raw JSON in {folder / 'raw'}"
    return [json.loads(path.read_text()) for path in files]


def _file_cells(data):
    """The repetitions of cells that read the file (not the baselines, which copy memory)."""
    baselines = {m["name"] for m in json.loads(data["context"]["methods"])
                 if m["family"] == "baseline"}
    return [b for b in data["benchmarks"] if b.get("run_type") == "iteration"
            and not b.get("error_occurred") and b["name"].split("/")[0] not in baselines]


def test_the_environment_is_the_guests_and_it_can_load_modules(host_run, kernel):
    _, out = host_run
    environment = json.loads((out / "run" / "environment.json").read_text())
    assert environment["kernel"] == kernel.release
    assert environment["can_load_modules"] is True
    plan = json.loads((out / "run" / "plan.json").read_text())
    assert plan["native"]["host_myfs"] is True and plan["vm"] is None
    assert plan["status"] == "complete"


def test_the_suite_ran_on_myfs_at_the_host_mount_under_the_guests_accelerator(host_run, kernel):
    result, out = host_run
    for data in _raw(out / "run"):
        context = data["context"]
        assert context["kernel"] == kernel.release
        assert context["fs"].startswith("myfs ("), context["fs"]
        assert "synthetic" in context["fs_options"]
        assert context["dir"] == MOUNT
        assert context["accel"] == result.accel


def test_every_cell_carries_myfs_hook_counts(host_run):
    _, out = host_run
    cells = [b for data in _raw(out / "run") for b in _file_cells(data)]
    assert cells
    assert not [b["name"] for b in cells if "myfs_read_iter" not in b], "cells without hook counts"
    read = next(b for b in cells if b["name"].startswith("read/io:4096/") and "/warm:1/" in b["name"])
    file = int(read["name"].split("/file:")[1].split("/")[0])
    assert read["myfs_read_iter"] == file // 4096   # one read_iter per 4 KiB read


def test_charts_and_report_are_written_and_tcg_timings_marked_emulated(host_run):
    result, out = host_run
    charts = list((out / "run" / "charts").glob("*.png"))
    assert charts and all(path.stat().st_size > 0 for path in charts)
    report = (out / "run" / "report.md").read_text()
    assert "myfs" in report
    if result.accel == "tcg":
        assert "emulated" in report


def test_myfs_is_unloaded_and_unmounted_after_the_run(host_run):
    _, out = host_run
    modules = (out / "modules-after").read_text().splitlines()
    assert modules, "the guest saved no module list"
    assert not [line for line in modules if line.split()[0] == "myfs"]
    assert (out / "myfs-mounts-after").read_text() == ""


def _case(out, name):
    """(exit status, stderr lines, what was left loaded or mounted) of one failure case."""
    rc = int((out / f"{name}.rc").read_text())
    err = [line for line in (out / f"{name}.err").read_text().splitlines() if line.strip()
           and not line.startswith(("repetition ", "cell "))]
    left = (out / f"{name}.left").read_text() if (out / f"{name}.left").exists() else ""
    return rc, err, left


def test_a_myfs_left_by_a_crashed_run_is_removed_first(cases):
    out = cases
    assert (out / "stale.before").read_text().strip() == "1"
    rc, err, left = _case(out, "stale")
    assert rc == 0, err
    assert f"readpath run: removed the myfs an earlier run left mounted at {MOUNT}" in err
    assert left == ""


def test_a_killed_run_removes_myfs_and_resumes(cases):
    out = cases
    rc, err, left = _case(out, "int")
    assert rc == 130, err
    assert any("`readpath run --resume` continues" in line for line in err), err
    assert not any("Traceback" in line for line in err)
    assert left == ""
    rc, err, left = _case(out, "resume")
    assert rc == 0, err
    assert json.loads((out / "int" / "plan.json").read_text())["status"] == "complete"
    assert left == ""


def test_a_user_who_is_not_root_is_told_in_one_line(cases):
    out = cases
    rc, err, _ = _case(out, "nobody")
    assert rc == 2 and len(err) == 1, err
    assert "needs root" in err[0] and "--dir DIR --no-vm" in err[0]


def test_a_kernel_that_refuses_unsigned_modules_is_named_and_nothing_stays(cases):
    out = cases
    rc, err, left = _case(out, "refused")
    assert rc == 1, err
    line = next(line for line in err if "refused to load myfs" in line)
    assert "signed modules" in line and "--dir DIR" in line
    assert left == ""
