"""Finished LAVA jobs back home as ordinary readpath result folders.

A job's log (LAVA's output.yaml: one YAML mapping per line, `dt`, `lvl`, `msg`) holds what
the device printed (`lvl: target`) and LAVA's results (`lvl: results`). device.sh printed
every file it measured between `READPATH-BLOB-BEGIN name size sha256` and
`READPATH-BLOB-END name` as gzip+base64; each is decoded, checked against its size and
sha256, and written where `readpath run` would have written it: raw/myfs-<release>.json
(`-r<N>` per round when there are several), its latency sidecar and console log, and
raw/myfs-<release>.paths, beside plan.json, environment.json and report.md. compare, plot
and report then read the folder like any other.

A job that did not finish on the device (LAVA failed it, the suite reported failure, or
the data is incomplete or damaged) still gets its folder, holding lava/job.json with status
`failed` and why, the device's console log and LAVA's log -- but no plan.json, which `run
--resume` would take for an interrupted run of its own -- and raises RunError with the
device's last lines: nothing that was not measured is ever read as zero.

Sources: a directory a local `lava-run` wrote (with output.yaml, as `readpath lava run`
leaves it) or a job id on a LAVA server, fetched with lavacli.
"""

import base64
import datetime
import gzip
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .. import report, results
from ..errors import RunError, UsageError

_BEGIN = re.compile(r"READPATH-BLOB-BEGIN (\S+) (\d+) ([0-9a-f]{64})$")
_END = re.compile(r"READPATH-BLOB-END (\S+)$")
_DEVICE = re.compile(r"READPATH-DEVICE (.*)$")
_BASE64 = re.compile(r"[A-Za-z0-9+/=]+$")
TAIL_LINES = 15


@dataclass
class Job:
    """One finished LAVA job as its log tells it."""

    job_id: str
    source: str                      # where it came from, for messages and lava/job.json
    log_text: str                    # LAVA's log, as fetched
    console: list = field(default_factory=list)   # what the device printed, line by line
    results: list = field(default_factory=list)   # LAVA's result records
    definition: dict = field(default_factory=dict)
    device: str = ""
    started: str = ""

    @property
    def job_result(self):
        """LAVA's own verdict on the job (the `lava`/`job` result): pass, fail or None."""
        for record in self.results:
            if record.get("definition") == "lava" and record.get("case") == "job":
                return record.get("result")
        return None

    @property
    def job_error(self):
        for record in self.results:
            if record.get("definition") == "lava" and record.get("case") == "job":
                return record.get("error_msg") or ""
        return ""

    def readpath_cases(self):
        return [r for r in self.results if r.get("definition", "").endswith("readpath")]

    def device_facts(self):
        """release=..., accel=..., profile=... from device.sh's READPATH-DEVICE line."""
        for line in self.console:
            match = _DEVICE.search(line)
            if match:
                return dict(part.split("=", 1) for part in match.group(1).split() if "=" in part)
        return {}


def _loader():
    import yaml
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml


def parse_log(text, job_id="", source=""):
    """A Job from LAVA's log text: one YAML mapping per line, `- ` before each on a server."""
    loader, yaml = _loader()
    job = Job(job_id=str(job_id), source=source, log_text=text)
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line.startswith("- "):
            line = line[2:]
        if not line:
            continue
        try:
            entry = yaml.load(line, Loader=loader)
        except yaml.YAMLError:
            continue   # a line cut short where the log ends; the rest still counts
        if not isinstance(entry, dict):
            continue
        level, msg = entry.get("lvl"), entry.get("msg")
        if not job.started and entry.get("dt"):
            job.started = str(entry["dt"])
        if level == "target" and isinstance(msg, str):
            job.console.append(msg.rstrip("\r"))
        elif level == "results" and isinstance(msg, dict):
            job.results.append(msg)
    if not job.started and not job.console and not job.results:
        raise UsageError(f"{source or 'the log'} is not a LAVA job log (no YAML log lines)")
    return job


def blobs(console):
    """{name: bytes} of every complete, intact file device.sh printed; and the problems
    found with the others (one sentence each)."""
    found, problems = {}, []
    current = None
    for line in console:
        text = line.strip()
        begin = _BEGIN.search(text)
        if begin:
            if current:
                problems.append(f"{current[0]} was cut short (no end marker)")
            current = (begin.group(1), int(begin.group(2)), begin.group(3), [])
            continue
        if current is None:
            continue
        end = _END.search(text)
        if end:
            name, size, digest, chunks = current
            current = None
            try:
                data = gzip.decompress(base64.b64decode("".join(chunks), validate=True))
            except (ValueError, OSError, EOFError, zlib.error):
                problems.append(f"{name} does not decode (the console mangled a line)")
                continue
            if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                problems.append(f"{name} does not match its size and sha256")
                continue
            found[name] = data
        elif _BASE64.fullmatch(text):
            current[3].append(text)
        else:
            # A stray line inside a block (a kernel message, LAVA's own marker): skipped,
            # and the checksum says whether anything was lost.
            continue
    if current:
        problems.append(f"{current[0]} was cut short (the log ends inside it)")
    return found, problems


def _failure_summary(job, problems):
    """One line: why the job's results cannot be trusted, or None when they can."""
    failed = [line for line in job.console if "READPATH-FAILED" in line]
    if failed:
        return failed[-1].split("READPATH-FAILED", 1)[1].strip()
    suite = [r for r in job.readpath_cases() if r.get("case") == "readpath-suite"]
    if job.job_result == "fail":
        return f"LAVA failed the job: {job.job_error or 'no reason given'}"
    if suite and suite[-1].get("result") != "pass":
        return "the readpath suite reported failure"
    if not any("READPATH-DONE" in line for line in job.console):
        return ("the device never finished the suite (no READPATH-DONE in its console): "
                + (job.job_error or "the job ended early"))
    if problems:
        return "the results in the log are damaged: " + "; ".join(problems)
    return None


def tail(job, lines=TAIL_LINES):
    """The device's last console lines, without the data blocks."""
    shown, inside = [], False
    for line in job.console:
        if _BEGIN.search(line):
            inside = True
            continue
        if _END.search(line):
            inside = False
            continue
        if not inside and line.strip():
            shown.append(line)
    return shown[-lines:]


def _stem(release):
    return f"myfs-{release}"


def _folder(parent, job, release):
    date = job.started[:10] if re.match(r"\d{4}-\d\d-\d\d", job.started) else \
        datetime.date.today().isoformat()
    base = f"{date}-{release or 'unknown'}-lava-{job.device or 'device'}-job{job.job_id}"
    return Path(parent) / re.sub(r"[^A-Za-z0-9_.+=-]+", "_", base)


def write_folder(job, parent, command=""):
    """The result folder of one job under `parent`; raises RunError (after writing the
    failed folder) when the job did not bring back complete results. Returns its path."""
    facts = job.device_facts()
    release = facts.get("release", "")
    folder = _folder(parent, job, release)
    if folder.exists():
        shutil.rmtree(folder)   # an import of the same job again: the job is the source
    (folder / "raw").mkdir(parents=True)
    (folder / "lava").mkdir()
    (folder / "lava" / "output.yaml").write_text(job.log_text)
    (folder / "lava" / "results.json").write_text(json.dumps(job.results, indent=1) + "\n")
    (folder / "device.log").write_text("\n".join(tail(job, lines=10**9)) + "\n")
    found, problems = blobs(job.console)
    rounds = sorted(int(m.group(1)) for m in (re.fullmatch(r"r(\d+)\.json", n) for n in found) if m)
    if not rounds and not problems and not any("READPATH-FAILED" in line for line in job.console):
        problems.append("no result JSON came back")
    why = _failure_summary(job, problems)
    meta = job.definition.get("metadata", {}) if isinstance(job.definition, dict) else {}
    plan = {
        "profile": facts.get("profile") or meta.get("readpath.profile"),
        "settings": {"rounds": int(facts.get("rounds") or meta.get("readpath.rounds") or 1),
                     "repetitions": int(facts.get("repetitions") or
                                        meta.get("readpath.repetitions") or 1)},
        "native": None, "vm": None, "chunks": [],
        "lava": {"job_id": job.job_id, "source": job.source, "device": job.device,
                 "job_name": job.definition.get("job_name", "") if isinstance(job.definition, dict) else "",
                 "accel": facts.get("accel"), "myfs_options": facts.get("options", ""),
                 "release": release},
        "status": "failed" if why else "complete",
    }
    if why:
        plan["failure"] = why
    stem = _stem(release)
    for name, data in found.items():
        match = re.fullmatch(r"r(\d+)(\.json|\.json\.latency\.json|\.log)", name)
        if name == "paths":
            (folder / "raw" / f"{stem}.paths").write_bytes(data)
        elif match:
            suffix = "" if len(rounds) <= 1 else f"-r{match.group(1)}"
            (folder / "raw" / f"{stem}{suffix}{match.group(2)}").write_bytes(data)
    context = {}
    if rounds and not why:
        try:
            run = results.load(folder, label=folder.name)
        except UsageError as err:
            why = f"the result JSON that came back does not load: {err}"
            plan.update(status="failed", failure=why)
        else:
            context = next(iter(run.contexts.values()), {})
    # The job's own record, whatever became of it; plan.json only for a complete run (`run
    # --resume` takes any plan.json that is not complete for one of its own runs).
    (folder / "lava" / "job.json").write_text(json.dumps(plan, indent=1) + "\n")
    if not why:
        (folder / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    environment = {
        "date": job.started, "host": job.device or "lava device",
        "kernel": release or context.get("kernel"), "cpu_count": None,
        "cpu_model": context.get("cpu_model"), "os": "LAVA ramdisk",
        "readpath_commit": context.get("readpath_commit"),
        "lava_job": job.job_id, "lava_source": job.source, "command": command,
    }
    (folder / "environment.json").write_text(json.dumps(environment, indent=1) + "\n")
    if why:
        last = "\n  ".join(tail(job)) or "(the device printed nothing)"
        raise RunError(f"LAVA job {job.job_id} ({job.source}) failed: {why}; {folder} keeps "
                       f"its logs; the device's last lines:\n  {last}")
    report.build([run], folder)
    return folder


# ---------------------------------------------------------------- where jobs come from

def from_directory(path):
    """A job from a directory `lava-run --output-dir` wrote, with its log as output.yaml."""
    path = Path(path)
    log = path / "output.yaml"
    if not log.is_file():
        raise UsageError(f"{path} holds no output.yaml (the job's log); `readpath lava run` "
                         "writes it there, or save lava-run's standard error as output.yaml")
    job_id = "local"
    info = path / "job.json"
    definition, device = {}, ""
    if info.is_file():
        try:
            saved = json.loads(info.read_text())
            job_id, definition, device = (str(saved.get("job_id", job_id)),
                                          saved.get("definition", {}), saved.get("device", ""))
        except (OSError, ValueError):
            pass
    job = parse_log(log.read_text(errors="replace"), job_id, str(path))
    job.definition, job.device = definition, device
    return job


def _lavacli(identity, args):
    cmd = ["lavacli", *identity, *args]
    if shutil.which("lavacli") is None:
        raise UsageError("fetching jobs from a LAVA server needs lavacli; as root: "
                         "apt-get install -y --no-install-recommends lavacli")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise UsageError(f"`{shlex.join(cmd)}` got no answer in 300 s; is the server reachable?")
    if proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip() or "no message").splitlines()[-1]
        if "Unable to connect" in message or "Name or service" in message or \
                "Connection refused" in message or "Unknown identity" in message:
            raise UsageError(f"cannot reach the LAVA server ({' '.join(identity)}): {message}")
        raise UsageError(f"`{shlex.join(cmd)}` failed: {message}")
    return proc.stdout


def from_server(job_id, identity):
    """A job fetched with lavacli (identity: ["--uri", URI] or ["--identity", NAME])."""
    if not re.fullmatch(r"\d+(\.\d+)?", str(job_id)):
        raise UsageError(f"{job_id!r} is neither a directory nor a LAVA job id")
    loader, yaml = _loader()
    shown = yaml.load(_lavacli(identity, ["jobs", "show", str(job_id), "--yaml"]), Loader=loader) or {}
    state = str(shown.get("state", ""))
    if state and state not in ("Finished", "Canceling"):
        raise UsageError(f"LAVA job {job_id} is {state}, not finished; import it when it is")
    text = _lavacli(identity, ["jobs", "logs", "--raw", str(job_id)])
    definition = {}
    try:
        definition = yaml.load(_lavacli(identity, ["jobs", "definition", str(job_id)]),
                               Loader=loader) or {}
    except UsageError:
        pass
    job = parse_log(text, job_id, f"{' '.join(identity)} job {job_id}")
    job.definition = definition if isinstance(definition, dict) else {}
    job.device = str(shown.get("device") or "")
    return job


def import_jobs(sources, parent, identity=None, command="", log=lambda m: print(m, file=sys.stderr)):
    """Result folders for every source (directories or job ids); returns (folders,
    failures) where failures are the RunErrors of jobs that did not come back whole."""
    jobs = []
    for source in sources:
        if Path(source).is_dir():
            jobs.append(from_directory(source))
        elif identity:
            jobs.append(from_server(source, identity))
        elif re.fullmatch(r"\d+(\.\d+)?", source):
            raise UsageError(f"{source} is a job id: say which server with --server URI or "
                             "--identity NAME (a lavacli identity)")
        else:
            raise UsageError(f"{source} is not a directory; give lava-run output directories "
                             "or job ids with --server")
    folders, failures = [], []
    for job in jobs:
        try:
            folders.append(write_folder(job, parent, command))
            log(f"readpath lava import: job {job.job_id}: {folders[-1]}")
        except RunError as err:
            failures.append(err)
    return folders, failures
