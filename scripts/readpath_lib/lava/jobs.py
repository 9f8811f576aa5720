"""LAVA job definitions for a matrix of kernels x myfs options x profiles, and the QEMU
device they run on.

One job per cell of the matrix: deploy the kernel, the busybox ramdisk and, as overlays of
that ramdisk, LAVA's test overlay, the readpath overlay and the myfs module built for the
kernel (artifacts.py); boot it; run the inline readpath test definition (Lava-Test Test
Definition 1.0), whose one step is device.sh. Every job is checked with LAVA's own schema
(lava_common.schemas) before it is written. Device types are a table (DEVICE_TYPES): each
says how its jobs deploy and boot; an unknown one is refused.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from . import artifacts

# Device types readpath writes jobs for: LAVA's device type, and how its jobs deploy and boot.
DEVICE_TYPES = {
    "qemu": "LAVA's qemu device type: kernel and ramdisk booted by QEMU on the worker "
            "(deploy to tmpfs, boot method qemu); KVM where the device has it, else TCG",
}
# Keys a matrix file may have, each with what it holds (the command line's options alike).
MATRIX_KEYS = {
    "device_type": "a LAVA device type readpath knows: " + ", ".join(DEVICE_TYPES),
    "kernels": "kernels as readpath vm takes them (6.1, 6.12, a Debian release, an image path)",
    "options": "myfs mount option sets (`default` for myfs's defaults, e.g. read=read)",
    "profiles": "readpath_bench profiles (tiny, quick, default, full)",
    "rounds": "rounds per job (default: the profile's)",
    "repetitions": "repetitions per round (default: the profile's)",
    "artifacts_url": "where the lab finds the artifacts folder (default: file:// of it here)",
    "rootfs_url": "a ramdisk (cpio.newc, gzip) with a POSIX shell instead of readpath's",
    "accel": "what the device's timings are: auto, host, kvm or tcg",
    "timeout_minutes": "the test action's timeout",
    "memory": "QEMU device memory in MiB",
}
KERNEL_ARGS = "console=ttyS0,115200 rdinit=/init panic=-1"
DEFAULT_TIMEOUT_MINUTES = 60
PARAMS = ("PROFILE", "ROUNDS", "REPETITIONS", "MYFS_OPTIONS", "ACCEL")   # device.sh's inputs
_OPTIONS = re.compile(r"[A-Za-z0-9_=.-]+(,[A-Za-z0-9_=.-]+)*")


@dataclass
class Matrix:
    """What to run: every kernel x options x profile, on one device type."""

    kernels: list
    options: list = field(default_factory=lambda: ["default"])
    profiles: list = field(default_factory=lambda: ["tiny"])
    device_type: str = "qemu"
    rounds: int = None
    repetitions: int = None
    artifacts_url: str = None
    rootfs_url: str = None
    accel: str = "auto"
    timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES
    memory: int = 1024

    def cells(self):
        return [(k, o, p) for k in self.kernels for o in self.options for p in self.profiles]


def _where(source):
    return f"{source}: " if source else ""


def check_matrix(data, source=""):
    """A Matrix from a dict (a matrix file or the command line), or UsageError naming the
    first thing wrong with it."""
    at = _where(source)
    if not isinstance(data, dict):
        raise UsageError(f"{at}a matrix is a mapping of " + ", ".join(MATRIX_KEYS)
                         + f", not {type(data).__name__}")
    unknown = sorted(set(data) - set(MATRIX_KEYS))
    if unknown:
        raise UsageError(f"{at}unknown matrix key {unknown[0]!r}; the keys are "
                         + ", ".join(MATRIX_KEYS))
    values = {}
    for key in ("kernels", "options", "profiles"):
        if key not in data:
            continue
        items = data[key]
        if isinstance(items, (str, int, float)):
            items = [items]
        if not isinstance(items, list) or not items or not all(
                isinstance(i, (str, int, float)) and str(i).strip() for i in items):
            raise UsageError(f"{at}{key} must be a non-empty list of names ({MATRIX_KEYS[key]})")
        values[key] = [str(i).strip() for i in items]
        if len(set(values[key])) != len(values[key]):
            raise UsageError(f"{at}{key} names one entry twice: {values[key]}")
    if "kernels" not in values:
        raise UsageError(f"{at}the matrix names no kernels; give kernels: [6.1, ...] "
                         "(or --kernel K)")
    for opts in values.get("options", []):
        if opts != "default" and not _OPTIONS.fullmatch(opts):
            raise UsageError(f"{at}myfs options {opts!r} are not a comma-separated list of "
                             "options such as read=read,fault_around=off")
    for key in ("rounds", "repetitions", "timeout_minutes", "memory"):
        if key in data and data[key] is not None:
            if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 1:
                raise UsageError(f"{at}{key} must be a whole number >= 1, not {data[key]!r}")
            values[key] = data[key]
    for key in ("artifacts_url", "rootfs_url"):
        if data.get(key) is not None:
            if not isinstance(data[key], str) or not re.match(r"^(https?|file)://", data[key]):
                raise UsageError(f"{at}{key} must be an http(s):// or file:// URL, "
                                 f"not {data[key]!r}")
            values[key] = data[key].rstrip("/") if key == "artifacts_url" else data[key]
    device_type = data.get("device_type", "qemu")
    if device_type not in DEVICE_TYPES:
        raise UsageError(f"{at}unknown device type {device_type!r}; readpath writes jobs for "
                         + ", ".join(DEVICE_TYPES))
    values["device_type"] = device_type
    accel = data.get("accel", "auto")
    if accel not in ("auto", "host", "kvm", "tcg"):
        raise UsageError(f"{at}accel must be auto, host, kvm or tcg, not {accel!r}")
    values["accel"] = accel
    return Matrix(**values)


def load_matrix(path):
    """A matrix file (YAML or JSON) as a dict, or UsageError."""
    import yaml
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise UsageError(f"cannot read the matrix {path}: {err.strerror}")
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise UsageError(f"{path} is not valid YAML{where}: "
                         f"{getattr(err, 'problem', None) or err}")


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", text).strip("_")


def test_definition(profile, options, rounds, repetitions, accel):
    """The inline Lava-Test Test Definition 1.0 of one job."""
    return {
        "metadata": {
            "format": "Lava-Test Test Definition 1.0",
            "name": "readpath",
            "description": "readpath_bench on myfs: each cell's median time and its 95% "
                           "interval as test cases; the raw JSON, logs and call paths in the "
                           "log (readpath lava import takes them home)",
        },
        "params": {"PROFILE": profile, "ROUNDS": str(rounds), "REPETITIONS": str(repetitions),
                   "MYFS_OPTIONS": "" if options == "default" else options, "ACCEL": accel},
        # LAVA sets params as shell variables of the run script, not in the environment.
        "run": {"steps": [f"export {' '.join(PARAMS)}; /{artifacts.PAYLOAD_ROOT}/bin/readpath-device"]},
    }


def job(matrix, release, options, profile, rounds, repetitions, urls):
    """One job definition (a dict) for kernel `release`; urls has kernel, modules, rootfs
    and readpath."""
    name = f"readpath {release} {options} {profile}"
    test_minutes = matrix.timeout_minutes
    return {
        "device_type": matrix.device_type,
        "job_name": name,
        "timeouts": {"job": {"minutes": test_minutes + 30}, "action": {"minutes": 15},
                     "connection": {"minutes": 5}},
        "priority": "medium",
        "visibility": "public",
        "metadata": {"readpath.kernel": release, "readpath.options": options,
                     "readpath.profile": profile, "readpath.rounds": rounds,
                     "readpath.repetitions": repetitions},
        "context": {"arch": "amd64", "memory": matrix.memory},
        "actions": [
            {"deploy": {
                "to": "tmpfs", "os": "oe", "timeout": {"minutes": 15},
                "images": {
                    "kernel": {"url": urls["kernel"],
                               "image_arg": f'-kernel {{kernel}} -append "{KERNEL_ARGS}"'},
                    "ramdisk": {
                        "url": urls["rootfs"], "image_arg": "-initrd {ramdisk}",
                        "compression": "gz", "format": "cpio.newc",
                        "overlays": {
                            "lava": True,
                            "readpath": {"url": urls["readpath"], "compression": "xz",
                                         "format": "tar", "path": "/"},
                            "modules": {"url": urls["modules"], "compression": "xz",
                                        "format": "tar", "path": "/"},
                        },
                    },
                },
            }},
            {"boot": {"method": "qemu", "media": "tmpfs", "timeout": {"minutes": 15},
                      "prompts": [artifacts.PROMPT.strip()]}},
            {"test": {"timeout": {"minutes": test_minutes},
                      "definitions": [{
                          "from": "inline", "name": "readpath", "path": "inline/readpath.yaml",
                          "repository": test_definition(profile, options, rounds, repetitions,
                                                        matrix.accel)}]}},
        ],
    }


def validate(definition):
    """LAVA's own schema check of a job; raises UsageError with LAVA's message."""
    try:
        from lava_common.schemas import validate as lava_validate
        from voluptuous import Invalid
    except ImportError:
        raise UsageError("checking jobs needs LAVA's schema (Debian's lava-common); as root: "
                         "apt-get install -y --no-install-recommends lava-common")
    try:
        lava_validate(definition, strict=True)
    except Invalid as err:
        raise UsageError(f"LAVA's schema refuses the job {definition.get('job_name')!r}: {err}")


def device_config(hostname, memory=1024, kvm=False, cpus=2):
    """The configuration `lava-run --device` takes for a QEMU device: what LAVA's server
    renders from qemu.jinja2 and the dictionary device_dictionary() gives."""
    accel = ["-cpu host", "-enable-kvm"] if kvm else ["-cpu max", "-accel tcg,thread=multi"]
    return {
        "hostname": hostname,
        "devicetype": "qemu",
        "available_architectures": ["amd64", "x86_64"],
        "constants": {
            "posix": {"lava_test_sh_cmd": "/bin/sh", "lava_test_results_dir": "/lava-%s",
                      "lava_test_shell_file": "~/.bashrc"},
            "kernel-start-message": "Linux version [0-9]",
            "default-shell-prompt": "lava-test: # ",
            "shutdown-message": "The system is going down for reboot NOW",
            "spawn_maxread": "4092",
            "failure_retry": 1,
            "boot_retry": None,
        },
        "parameters": {},
        "actions": {
            "deploy": {"connections": {"serial": None},
                       "methods": {"image": {"parameters": {"guest": {
                           "size": 512, "interface": "ide", "driveid": "lavatest"}}}}},
            "boot": {"connections": {"serial": None},
                     "methods": {"minimal": None, "qemu": {"parameters": {
                         "command": "qemu-system-x86_64",
                         "boot_options": {"root": "/dev/ram0", "console": "ttyS0,115200"},
                         "options": [*accel, f"-smp {cpus}", "-nographic", "-net none",
                                     f"-m {memory}", "-monitor none"]}}}},
        },
        "timeouts": {
            "actions": {"apply-overlay-image": {"minutes": 2}, "lava-test-shell": {"seconds": 30},
                        "power-off": {"seconds": 10}},
            "connections": {"lava-test-shell": {"seconds": 30}},
        },
    }


def device_dictionary(memory=1024, kvm=False, cpus=2):
    """The device dictionary a LAVA lab adds for the same QEMU device (lava-server renders it
    with its qemu.jinja2 into what device_config() gives)."""
    lines = ["{% extends 'qemu.jinja2' %}", f"{{% set memory = {memory} %}}",
             "{% set no_network = True %}"]
    if not kvm:
        lines += ["{% set no_kvm = True %}",
                  f"{{% set extra_options = ['-cpu max', '-accel tcg,thread=multi', "
                  f"'-smp {cpus}'] %}}"]
    else:
        lines.append(f"{{% set extra_options = ['-smp {cpus}'] %}}")
    return "\n".join(lines) + "\n"


def write_json(path, data):
    Path(path).write_text(json.dumps(data, indent=1) + "\n")
