"""`readpath vm`: booting each test kernel in QEMU and running commands in it.

Boots per kernel: one through the command line (uname, output, exit status, --out,
fio, the checkout's path, the writable root that leaves the host alone, the guest
environment, --topology, --append), one with --myfs, one that WARNs, one that hangs; on
the first kernel only, a failing myfs mount and Ctrl-C. The rest needs no guest:
argument checks, kernel-log patterns, the initramfs's module order.
"""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import REPO, kernel_specs, vm
from readpath_lib import paths
from readpath_lib.errors import RunError, UsageError
from readpath_lib.vm import debian, initramfs, qemu

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"

# Files the command-line boot writes in the guest, which the host must never see.
GUEST_WRITES = ["/usr/readpath-guest-write", str(REPO / "build" / "readpath-guest-write"),
                str(paths.cache_dir() / "readpath-guest-write")]

# The one command-line boot: everything a plain command needs to see, then exit 3.
# $READPATH_BUILD_DIR lies under /tmp, so the guest sees it through a share of its own.
GUEST_SCRIPT = r"""
echo "release=$(uname -r)"
echo "guest=$READPATH_GUEST accel=$READPATH_ACCEL"
echo "cpus=$(nproc) nodes=$(ls -d /sys/devices/system/node/node* | wc -l)"
echo "cmdline $(cat /proc/cmdline)"
test -x {repo}/scripts/readpath && echo "repo visible"
echo payload-from-guest > "$READPATH_OUT/guest-file.txt"
mkdir -p "$READPATH_OUT/sub" && echo nested > "$READPATH_OUT/sub/n.txt"
touch /tmp/writable && echo "tmp writable"
for f in {writes}; do mkdir -p "$(dirname "$f")" && echo guest > "$f" || exit 10; done
echo "root writable"
cat "$READPATH_BUILD_DIR/from-host" && echo guest > "$READPATH_BUILD_DIR/from-guest" \
    && echo "share writable"
fio --name=probe --filename=/tmp/fio.dat --size=1M --bs=64k --rw=read \
    --output-format=terse --terse-version=3 | cut -d';' -f1-3
echo "to stderr" >&2
exit 3
"""


def _readpath(*args, timeout=None, env=None):
    return subprocess.run([PYTHON, str(REPO / "scripts" / "readpath"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_command_output_status_out_fio_topology_and_writable_root(kernel, tmp_path):
    out, build_dir = tmp_path / "out", tmp_path / "build"
    build_dir.mkdir()
    (build_dir / "from-host").write_text("host file seen\n")
    script = GUEST_SCRIPT.format(repo=REPO, writes=" ".join(GUEST_WRITES))
    started = time.monotonic()
    done = _readpath("vm", "--kernel", kernel.release, "--out", str(out),
                     "--topology", "sockets=2,cores=1,threads=1,nodes=2", "--timeout", "300",
                     "--append", "readpath.test=1", "--append", "loglevel=4",
                     "--", "sh", "-c", script, timeout=400,
                     env={"READPATH_BUILD_DIR": str(build_dir)})
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"release={kernel.release}" in lines
    assert re.search(r"^guest=1 accel=(kvm|tcg)$", done.stdout, re.M)
    assert "cpus=2 nodes=2" in lines
    cmdline = next(line for line in lines if line.startswith("cmdline "))
    assert cmdline.endswith(" readpath.test=1 loglevel=4"), cmdline
    assert "repo visible" in lines
    assert "tmp writable" in lines
    assert "root writable" in lines
    assert "host file seen" in lines and "share writable" in lines
    assert not [f for f in GUEST_WRITES if os.path.exists(f)], "the guest wrote to the host"
    assert sorted(p.name for p in build_dir.iterdir()) == ["from-host"]
    assert "to stderr" in lines
    assert re.search(r"^3;fio-3\.\d+;probe$", done.stdout, re.M), done.stdout
    assert (out / "guest-file.txt").read_text() == "payload-from-guest\n"
    assert (out / "sub" / "n.txt").read_text() == "nested\n"
    boot = re.search(r"boot ([\d.]+) s", done.stderr)
    assert boot, done.stderr
    print(f"{kernel.release}: boot-to-command {boot.group(1)} s (whole run {elapsed:.1f} s)")


def _kmod_ready():
    return (REPO / "kmod" / "Makefile").is_file()


@pytest.mark.skipif(not _kmod_ready(), reason="kmod/ has no Makefile yet: myfs is not written")
def test_myfs_is_built_loaded_and_mounted(kernel, run_vm):
    result = run_vm(kernel, ["sh", "-c", "echo hellowrld > /mnt/myfs/f; cat /mnt/myfs/f; "
                             "grep ' /mnt/myfs ' /proc/mounts; exit 0"],
                    myfs="/mnt/myfs", cpus=1)
    assert result.returncode == 0, result.output
    assert result.output.splitlines()[0] == "hellowrld"
    assert re.search(r"^myfs /mnt/myfs myfs ", result.output, re.M)
    assert result.kernel_release == kernel.release


@pytest.mark.skipif(not _kmod_ready(), reason="kmod/ has no Makefile yet: myfs is not written")
def test_failed_myfs_mount_fails_the_run(first_kernel, run_vm):
    with pytest.raises(RunError) as err:
        run_vm(first_kernel, ["true"], myfs="/mnt/myfs", myfs_opts="no_such_option", cpus=1)
    assert "myfs-mount failed" in str(err.value)


def test_kernel_warning_fails_the_run(kernel, run_vm, guest_module):
    ko = guest_module(os.path.join(HERE, "vm_warn"), "vm_warn", kernel)
    with pytest.raises(RunError) as err:
        run_vm(kernel, ["insmod", str(ko)], cpus=1)
    message = str(err.value)
    assert "reported trouble" in message and "WARNING:" in message
    assert "vm_warn" in message  # the log tail shows where


def test_hung_guest_is_stopped_by_timeout(kernel, run_vm, monkeypatch):
    made = []
    real_mkdtemp = vm.guest.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]
    monkeypatch.setattr(vm.guest.tempfile, "mkdtemp", mkdtemp)
    started = time.monotonic()
    with pytest.raises(RunError) as err:
        run_vm(kernel, ["sleep", "600"], cpus=1, timeout=25)
    assert time.monotonic() - started < 45
    assert "timed out after 25 s" in str(err.value)
    assert made and not any(os.path.exists(d) for d in made)
    assert not _qemu_children()


def test_interrupt_stops_qemu_and_removes_temporary_files(first_kernel):
    """Ctrl-C (SIGINT) during a guest run: exit 130, QEMU gone, its directory removed."""
    proc = subprocess.Popen([PYTHON, str(REPO / "scripts" / "readpath"), "vm", "--kernel",
                             first_kernel.release, "--", "sleep", "600"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    qemu_pid, tmp_dir = None, None
    deadline = time.monotonic() + 120
    while qemu_pid is None and time.monotonic() < deadline and proc.poll() is None:
        for pid in _qemu_children(proc.pid):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found = re.search(rb"(/[^\0,]*/readpath-vm-[^/\0,]+)", f.read())
            qemu_pid, tmp_dir = pid, found and found.group(1).decode()
        time.sleep(0.5)
    if qemu_pid is None:
        proc.kill()
        pytest.fail(f"no QEMU appeared: {proc.communicate()[1].strip()}")
    time.sleep(3)  # let the guest boot a little
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert "interrupted" in proc.stderr.read()
    assert not os.path.exists(f"/proc/{qemu_pid}")
    assert tmp_dir and not os.path.exists(tmp_dir)


def _qemu_children(parent=None):
    me = str(parent or os.getpid())
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if fields[1] == me and comm.startswith("qemu"):
            found.append(pid)
    return found


# Without a guest.

def test_cli_without_command_is_usage_error():
    done = _readpath("vm", "--kernel", "6.1")
    assert done.returncode == 2
    assert "no command given" in done.stderr
    assert "Traceback" not in done.stderr


def test_appended_kernel_arguments_must_be_one_line(first_kernel):
    with pytest.raises(UsageError, match="one line"):
        vm.run_in_vm(first_kernel, ["true"], append="nokaslr\ninit=/bin/sh")


def test_unknown_kernel_is_usage_error():
    done = _readpath("vm", "--kernel", "5.99.1-nonexistent", "--", "true")
    assert done.returncode == 2
    assert "unknown kernel" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_series_is_usage_error():
    done = _readpath("vm", "--kernel", "5.99", "--", "true")
    assert done.returncode == 2, done.stderr
    assert "unknown kernel series '5.99'" in done.stderr
    assert "Traceback" not in done.stderr


def test_myfs_is_built_by_the_compiler_that_built_the_kernel():
    """Every test kernel gets myfs from the gcc it was built with (its .config's
    CONFIG_CC_VERSION_TEXT): the host's gcc-12 for Debian 12's kernels, the kernel's own in
    its suite's build root for newer ones (trixie's gcc-14 for 7.3, sid's gcc-16 for 7.2)."""
    for kernel in (vm.resolve_kernel(s) for s in kernel_specs()):
        ko = vm.build_myfs(kernel)  # installs the headers first where they are missing
        config = (kernel.headers / ".config").read_text()
        wanted = re.search(r'^CONFIG_CC_VERSION_TEXT=".*\((Debian [^)]*)\) ([\d.]+)"', config, re.M)
        assert wanted, f"{kernel.release}: no CONFIG_CC_VERSION_TEXT in {kernel.headers}/.config"
        comment = subprocess.run(["readelf", "-p", ".comment", str(ko)],
                                 capture_output=True, text=True).stdout
        built_by = set(re.findall(r"GCC: \((Debian [^)]*)\) ([\d.]+)", comment))
        assert built_by == {wanted.groups()}, (kernel.release, built_by, wanted.groups())


def test_kernel_path_must_be_a_bzimage(tmp_path):
    bogus = tmp_path / "bzImage"
    bogus.write_bytes(b"\0" * 4096)
    with pytest.raises(UsageError, match="not an x86 bzImage"):
        vm.resolve_kernel(str(bogus))


def test_series_pick_the_newest_release():
    assert vm.kernels.version_key("6.1.0-9-amd64") < vm.kernels.version_key("6.1.0-56-amd64")
    assert vm.kernels.version_key("6.12.43+deb12-amd64") < vm.kernels.version_key("6.12.117+deb12-amd64")
    key = debian._release_key
    assert key("7.2.9+deb13-amd64") < key("7.2.13+deb13-amd64") < key("7.2.13+deb14-amd64")
    assert debian._base_suite("trixie-backports") == "trixie" and debian._base_suite("sid") == "sid"


def test_modules_without_a_builtin_list_count_as_built_in(tmp_path):
    """Debian's 7.x packages ship no modules.builtin; 7.3 builds virtio_pci in."""
    (tmp_path / "modules.dep").write_text("kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz\n"
                                          "kernel/net/9p/9pnet.ko.xz:\n")
    order = initramfs.module_load_order(tmp_path, ["virtio_pci", "9p"])
    assert order == ["kernel/net/9p/9pnet.ko.xz", "kernel/fs/9p/9p.ko.xz"]
    (tmp_path / "modules.builtin").write_text("")
    with pytest.raises(RunError, match="lack virtio_pci"):
        initramfs.module_load_order(tmp_path, ["virtio_pci", "9p"])


def test_memory_sizes():
    assert qemu.parse_mem("2G") == 2048
    assert qemu.parse_mem("512M") == 512
    assert qemu.parse_mem("1536") == 1536
    for bad in ("lots", "1T", "64M"):
        with pytest.raises(UsageError):
            qemu.parse_mem(bad)


def test_topology_becomes_smp_and_numa_arguments():
    cpus, args = qemu.parse_topology("sockets=2,cores=2,threads=1,nodes=2", None, 2048)
    assert cpus == 4
    assert args[:2] == ["-smp", "4,sockets=2,cores=2,threads=1"]
    assert "node,nodeid=1,cpus=2-3,memdev=mem1" in args
    assert "memory-backend-ram,id=mem0,size=1024M" in args
    assert qemu.parse_topology(None, None, 2048) == (2, ["-smp", "2"])
    for bad, cpus in (("sockets=3,nodes=2", None), ("cores=2", 3), ("dies=2", None),
                      ("sockets=0", None)):
        with pytest.raises(UsageError):
            qemu.parse_topology(bad, cpus, 2048)


def test_initramfs_loads_9p_and_overlay_modules_after_their_dependencies(kernel):
    order = initramfs.module_load_order(kernel.modules)
    names = [os.path.basename(p).split(".ko")[0] for p in order]
    assert {"9p", "9pnet_virtio", "overlay"} <= set(names)
    deps = {path: d for path, d in initramfs._module_index(kernel.modules).values()}
    for i, path in enumerate(order):
        assert set(deps[path]) <= set(order[:i]), f"{path} loads before its dependencies"


def test_kernel_trouble_is_recognised_by_its_printed_format():
    trouble = [
        "[    9.5] WARNING: CPU: 1 PID: 166 at drivers/foo.c:12 foo_init+0x1/0x2 [foo]",
        "[    5.0] WARNING: vm_warn.c:11 at vm_warn_init+0x10/0xff0 [vm_warn], CPU#0: insmod/134",
        "[    9.5] BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "[    9.5] Oops: 0002 [#1] PREEMPT SMP NOPTI",
        "[    9.5] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP",
        "[    9.5] kernel BUG at mm/filemap.c:1234!",
        "[    9.5] Kernel panic - not syncing: Attempted to kill init!",
        "[    9.5] WARNING: possible circular locking dependency detected",
    ]
    harmless = [
        "[    0.1] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks",
        "[    5.0] traps: fio[321] general protection fault ip:7f00 sp:7ffc error:0 in libc.so.6",
        "[    0.2] pci 0000:00:01.0: [1af4:1009] type 00 class 0x000200",
        "[    1.0] DEBUG_BUGVERBOSE is set",
    ]
    for line in trouble:
        first, _ = vm.guest._trouble("[    0.0] booting\n" + line + "\n[    9.6] Call Trace:")
        assert first == line.split("] ", 1)[1]
    assert vm.guest._trouble("\n".join(harmless)) is None


def test_guest_script_is_valid_shell_for_awkward_paths_and_arguments():
    script = vm.guest._guest_script(
        nonce="abc", shares=[("rp_p0", "/tmp/it's here")], out_share=True,
        myfs="/mnt/my fs", myfs_opts="synthetic,trace=once",
        command=["sh", "-c", "echo \"$X\" 'q'"], env={"X": "a b$c"}, cwd="/tmp/x y")
    check = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr
    assert "'/tmp/it'\"'\"'s here'" in script
