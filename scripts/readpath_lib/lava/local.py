"""A job run here with Debian's lava-run, as a LAVA worker would run it, against the QEMU
device configuration jobs.device_config() describes. lava-run logs to its standard error
(the same YAML lines a server keeps as the job's output.yaml); it is saved as
OUT/output.yaml, with job.json (the definition, the job id, the device) beside it, which is
what importer.from_directory reads."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from .. import children, packages
from ..errors import RunError, UsageError


def run_job(job_path, device_path, out, job_id=None, timeout=None,
            log=lambda msg: None):
    """Run `job_path` on `device_path` with lava-run into `out`; returns (LAVA's verdict
    pass/fail, seconds). A job lava-run fails still leaves its log for the importer. The
    job id (default: this process's id) names lava-run's scratch directory under
    /var/lib/lava/dispatcher/tmp, so jobs run at the same time must differ in it."""
    import yaml
    job_id = os.getpid() if job_id is None else job_id
    if os.geteuid() != 0:
        raise UsageError("lava-run runs jobs as root only; rerun as root")
    if shutil.which("lava-run") is None:
        packages.ensure(packages.LAVA, "running LAVA jobs here")
    packages.ensure(["qemu-system-x86", "cpio"], "running LAVA jobs on a QEMU device")
    job_path, device_path, out = Path(job_path), Path(device_path), Path(out)
    for path, what in ((job_path, "job definition"), (device_path, "device configuration")):
        if not path.is_file():
            raise UsageError(f"{path} does not exist; give the {what} `readpath lava jobs` wrote")
    try:
        definition = yaml.safe_load(job_path.read_text())
        device = yaml.safe_load(device_path.read_text())
    except yaml.YAMLError as err:
        raise UsageError(f"{job_path} or {device_path} is not valid YAML: {err}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "job.json").write_text(json.dumps(
        {"job_id": str(job_id), "device": device.get("hostname", ""),
         "definition": definition}, indent=1) + "\n")
    cmd = ["lava-run", "--job-id", str(job_id), "--output-dir", str(out / "lava-run"),
           "--device", str(device_path), str(job_path)]
    log(f"readpath lava run: {' '.join(cmd)}")
    started = time.monotonic()
    with open(out / "output.yaml", "w") as output:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=output,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # On SIGTERM lava-run cancels the job: QEMU stopped, temporaries removed.
            children.stop(proc, grace=60)
            raise RunError(f"lava-run did not finish in {timeout:.0f} s; its log is in "
                           f"{out / 'output.yaml'}")
        except BaseException:
            children.stop(proc, grace=60)
            raise
    seconds = time.monotonic() - started
    verdict_file = out / "lava-run" / "result.yaml"
    verdict = "fail"
    if verdict_file.is_file():
        verdict = (yaml.safe_load(verdict_file.read_text()) or {}).get("result", "fail")
    return verdict, seconds
