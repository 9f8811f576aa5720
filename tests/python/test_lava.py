"""readpath lava without a LAVA run: the matrix's checks, the jobs against LAVA's own schema,
the device's per-cell summary against readpath's statistics, and the importer on logs made
here (whole, damaged, failed on the device). tests/guest/test_lava.py runs a real job."""

import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess

import pytest
from conftest import FIXTURES, in_rounds, readpath

from readpath_lib import results, stats
from readpath_lib.errors import RunError, UsageError
from readpath_lib.lava import artifacts, importer, jobs

needs_lava_common = pytest.mark.skipif(
    shutil.which("lava-run") is None and not __import__("importlib").util.find_spec("lava_common"),
    reason="LAVA's schema (Debian's lava-common) is not installed")


def one_line_exit_2(proc):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ---------------------------------------------------------------- the matrix

@pytest.mark.parametrize("data, says", [
    ({"kernels": []}, "kernels must be a non-empty list"),
    ({"options": ["read=read"]}, "names no kernels"),
    ({"kernels": ["6.1"], "colour": "blue"}, "unknown matrix key 'colour'"),
    ({"kernels": ["6.1"], "rounds": 0}, "rounds must be a whole number"),
    ({"kernels": ["6.1"], "options": ["read=read;rm -rf /"]}, "comma-separated list"),
    ({"kernels": ["6.1", "6.1"]}, "names one entry twice"),
    ({"kernels": ["6.1"], "device_type": "beaglebone-black"}, "unknown device type"),
    ({"kernels": ["6.1"], "artifacts_url": "/srv/lava"}, "http(s):// or file:// URL"),
    (["6.1"], "a matrix is a mapping"),
])
def test_a_malformed_matrix_is_refused_with_what_is_wrong(data, says):
    with pytest.raises(UsageError, match=re.escape(says)):
        jobs.check_matrix(data)


def test_a_matrix_spans_kernels_options_and_profiles():
    matrix = jobs.check_matrix({"kernels": ["6.1", "6.12"], "options": ["default", "read=read"],
                                "profiles": "tiny"})
    assert len(matrix.cells()) == 4
    assert ("6.12", "read=read", "tiny") in matrix.cells()


def test_a_malformed_matrix_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "matrix.yaml"
    bad.write_text("kernels: [6.1\noptions: x\n")
    line = one_line_exit_2(readpath("lava", "jobs", "--matrix", bad, "--out", tmp_path / "o"))
    assert "not valid YAML" in line and str(bad) in line


def test_an_unknown_device_type_is_one_line_and_exit_2(tmp_path):
    line = one_line_exit_2(readpath("lava", "jobs", "--kernel", "6.1", "--device-type", "rpi4",
                                    "--out", tmp_path / "o"))
    assert "unknown device type 'rpi4'" in line and "qemu" in line
    assert not (tmp_path / "o").exists()   # refused before anything was built


@pytest.mark.skipif(shutil.which("lavacli") is None, reason="lavacli is not installed")
def test_an_unreachable_server_is_one_line_and_exit_2(tmp_path):
    # Port 9 (discard) on this host: nothing listens, the connection is refused at once.
    line = one_line_exit_2(readpath("lava", "import", "1234", "--server", "http://127.0.0.1:9/RPC2",
                                    "--out", tmp_path, timeout=120))
    assert "cannot reach the LAVA server" in line


def test_a_job_id_without_a_server_is_refused(tmp_path):
    line = one_line_exit_2(readpath("lava", "import", "1234", "--out", tmp_path))
    assert "--server" in line


# ---------------------------------------------------------------- the jobs

def _job(**matrix):
    m = jobs.check_matrix({"kernels": ["6.1"], **matrix})
    urls = {k: f"https://lab.example/readpath/{k}" for k in ("kernel", "modules", "rootfs", "readpath")}
    return jobs.job(m, "6.1.0-56-amd64", m.options[0], m.profiles[0], 1, 3, urls)


@needs_lava_common
@pytest.mark.parametrize("options", ["default", "read=read,fault_around=off"])
def test_jobs_pass_lavas_own_schema(options):
    definition = _job(options=[options])
    jobs.validate(definition)
    test = definition["actions"][2]["test"]["definitions"][0]["repository"]
    assert test["metadata"]["format"] == "Lava-Test Test Definition 1.0"
    assert test["params"]["MYFS_OPTIONS"] == ("" if options == "default" else options)
    overlays = definition["actions"][0]["deploy"]["images"]["ramdisk"]["overlays"]
    assert overlays["lava"] is True and set(overlays) == {"lava", "readpath", "modules"}


@needs_lava_common
def test_a_job_lava_would_refuse_is_caught_before_it_is_written():
    definition = _job()
    definition["actions"][1]["boot"]["method"] = "qemu-nfs-typo"
    with pytest.raises(UsageError, match="LAVA's schema refuses"):
        jobs.validate(definition)


@needs_lava_common
def test_the_device_configuration_passes_lavas_device_schema():
    from lava_common.schemas import device
    device.validate(jobs.device_config("qemu-readpath"))
    assert "no_kvm = True" in jobs.device_dictionary()


# ---------------------------------------------------------------- the device's summary

def _awk_program():
    text = artifacts.DEVICE_SCRIPT.read_text()
    return re.search(r"^awk '\n(.*?)^}' ", text, re.S | re.M).group(1) + "}\n"


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
def test_the_devices_medians_and_intervals_are_readpaths(tmp_path):
    """device.sh summarises with busybox awk (no Python on the device): per cell the median
    of its rounds' medians and the order-statistics interval of it (stats.median_ci on the
    round medians), and skipped cells as skipped. The fixture's 3 repetitions as 3 rounds,
    each round's file given to awk as the device gives them."""
    folder = in_rounds(FIXTURES / "myfs-6.1.0-56-amd64.json", tmp_path / "run")
    files = sorted((folder / "raw").glob("*.json"))
    program = tmp_path / "cells.awk"
    program.write_text(_awk_program())
    out = subprocess.run(["busybox", "awk", "-f", str(program), *map(str, files)],
                         capture_output=True, text=True, check=True).stdout
    run = results.load(folder)
    by_case = {}
    for line in out.splitlines():
        kind, case, *rest = line.split(" ")
        by_case[case] = (kind, rest)
    assert by_case
    for bench in run.benchmarks.values():
        case = bench.name.replace("/", ".")
        kind, rest = by_case[case]
        if bench.skipped:
            assert kind == "skip"
            continue
        median, low, high, coverage, count = map(float, rest)
        rounds = [stats.median(values) for values in bench.by_round("time").values()]
        lo, hi, cov = stats.median_ci(rounds)
        assert count == len(rounds) == 3
        assert median == pytest.approx(stats.median(rounds), rel=1e-5)
        assert (low, high) == (pytest.approx(lo, rel=1e-5), pytest.approx(hi, rel=1e-5))
        assert coverage == pytest.approx(100 * cov, abs=0.01)


# ---------------------------------------------------------------- the importer

def _line(level, msg):
    return "- " + json.dumps({"dt": "2026-11-23T01:29:00.000000", "lvl": level, "msg": msg})


def _blob(name, data):
    lines = [f"READPATH-BLOB-BEGIN {name} {len(data)} {hashlib.sha256(data).hexdigest()}"]
    encoded = base64.b64encode(gzip.compress(data)).decode()
    lines += [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    return lines + [f"READPATH-BLOB-END {name}"]


def _log(console, job="pass", suite="pass"):
    lines = [_line("info", "start: 0 validate")]
    lines += [_line("target", text) for text in console]
    if suite:
        lines.append(_line("results", {"definition": "0_readpath", "case": "readpath-suite",
                                       "result": suite}))
    lines.append(_line("results", {"definition": "lava", "case": "job", "result": job}))
    return "\n".join(lines) + "\n"


DEVICE = "READPATH-DEVICE release=6.1.0-56-amd64 accel=tcg profile=tiny rounds=1 repetitions=3 options="


def _whole_console():
    json_bytes = (FIXTURES / "myfs-6.1.0-56-amd64.json").read_bytes()
    paths_bytes = (FIXTURES / "myfs-6.1.0-56-amd64.paths").read_bytes()
    return ["readpath ramdisk: 6.1.0-56-amd64", DEVICE, *_blob("r1.json", json_bytes),
            *_blob("r1.log", b"console output\n"), *_blob("paths", paths_bytes),
            "READPATH-CELLS 12 measured, 0 skipped", "READPATH-DONE"]


def _lava_dir(tmp_path, log, job_id="7"):
    where = tmp_path / "lava-out"
    where.mkdir()
    (where / "output.yaml").write_text(log)
    (where / "job.json").write_text(json.dumps({"job_id": job_id, "device": "qemu-readpath",
                                                "definition": {"job_name": "readpath 6.1"}}))
    return where


def test_a_finished_job_becomes_a_result_folder_like_run_writes(tmp_path):
    job = importer.from_directory(_lava_dir(tmp_path, _log(_whole_console())))
    folder = importer.write_folder(job, tmp_path / "results")
    raw = folder / "raw"
    assert (raw / "myfs-6.1.0-56-amd64.json").read_bytes() == \
        (FIXTURES / "myfs-6.1.0-56-amd64.json").read_bytes()
    assert (raw / "myfs-6.1.0-56-amd64.paths").read_bytes() == \
        (FIXTURES / "myfs-6.1.0-56-amd64.paths").read_bytes()
    assert json.loads((folder / "plan.json").read_text())["status"] == "complete"
    assert (folder / "report.md").is_file()
    loaded = results.load(folder)
    assert loaded.benchmarks.keys() == results.load(FIXTURES / "myfs-6.1.0-56-amd64.json").benchmarks.keys()
    assert results.paths_file(raw / "myfs-6.1.0-56-amd64.json") is not None


def test_imported_folders_compare_like_any_other(tmp_path):
    folders = []
    for n in (1, 2):
        where = tmp_path / f"job{n}"
        where.mkdir()
        folders.append(_lava_dir(where, _log(_whole_console()), job_id=str(n)))
    proc = readpath("lava", "import", *folders, "--out", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    made = proc.stdout.split()
    assert len(made) == 2 and made[0] != made[1]
    compare = readpath("compare", *made, "--metric", "time")
    assert compare.returncode == 0, compare.stderr
    assert "time per iteration" in compare.stdout


def test_a_damaged_blob_is_a_failed_run_not_missing_data(tmp_path):
    console = _whole_console()
    index = next(i for i, line in enumerate(console) if line.startswith("READPATH-BLOB-BEGIN r1.json")) + 2
    console[index] = console[index][:-4] + ("AAAA" if not console[index].endswith("AAAA") else "BBBB")
    job = importer.from_directory(_lava_dir(tmp_path, _log(console)))
    with pytest.raises(RunError, match="damaged: r1.json"):
        importer.write_folder(job, tmp_path / "results")
    folder = next((tmp_path / "results").iterdir())
    assert json.loads((folder / "lava" / "job.json").read_text())["status"] == "failed"
    with pytest.raises(UsageError):   # compare refuses it instead of reading zeros
        results.load(folder)


def test_a_job_that_failed_on_the_device_comes_back_failed_with_its_tail(tmp_path):
    console = ["readpath ramdisk: 6.1.0-56-amd64", DEVICE, "mount: mounting myfs on /mnt/myfs failed",
               "READPATH-FAILED myfs refuses the mount options synthetic,trace=once,bogus=1"]
    where = _lava_dir(tmp_path, _log(console, job="pass", suite="fail"))
    proc = readpath("lava", "import", where, "--out", tmp_path / "results")
    assert proc.returncode == 1, proc.stderr
    assert "myfs refuses the mount options" in proc.stderr
    assert "mount: mounting myfs on /mnt/myfs failed" in proc.stderr   # the device's tail
    folder = next((tmp_path / "results").iterdir())
    plan = json.loads((folder / "lava" / "job.json").read_text())
    assert not (folder / "plan.json").exists()
    assert plan["status"] == "failed" and "bogus=1" in plan["failure"]
    assert not list((folder / "raw").glob("*.json"))


def test_a_job_lava_cut_short_is_failed_even_with_some_data(tmp_path):
    console = _whole_console()[:-2]          # no READPATH-DONE: the device stopped early
    job = importer.from_directory(_lava_dir(tmp_path, _log(console, job="fail", suite=None)))
    with pytest.raises(RunError, match="LAVA failed the job"):
        importer.write_folder(job, tmp_path / "results")


def test_a_log_that_is_not_lavas_is_refused(tmp_path):
    where = tmp_path / "x"
    where.mkdir()
    (where / "output.yaml").write_text("hello\n")
    line = one_line_exit_2(readpath("lava", "import", where, "--out", tmp_path / "r"))
    assert "not a LAVA job log" in line
