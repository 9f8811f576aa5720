#!/usr/bin/python3
"""`readpath calibrate` end to end on a small file: a table row per workload, JSON with
positive bandwidths on both sides and the fio options that make it like for like, and the
file it read removed afterwards.

Usage: calibrate_test.py READPATH_BENCH REPO   (run by CTest; exit 77 skips)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

BENCH, REPO = sys.argv[1], sys.argv[2]


def main():
    if shutil.which("fio") is None:
        print("skip: fio is not installed (readpath calibrate installs it when run as root)")
        return 77
    with tempfile.TemporaryDirectory(prefix="calibrate-", dir="/dev/shm") as scratch:
        out = os.path.join(scratch, "cal.json")
        # calibrate's own temporary files (readpath_bench's JSON and anything written
        # beside it) go here, where the test can see what is left of them.
        tmp = os.path.join(scratch, "tmp")
        os.mkdir(tmp)
        workloads = ["read 4K", "uring 4K qd1", "mmap_copy 64K"]
        cmd = ["/usr/bin/python3", os.path.join(REPO, "scripts", "readpath"), "calibrate",
               "--dir", scratch, "--file-size", "4M", "--repetitions", "2", "--min-time", "0.02", "--rounds", "2",
               "--json", out]
        for w in workloads:
            cmd += ["--only", w]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, READPATH_BENCH=BENCH, TMPDIR=tmp))
        print(r.stdout, r.stderr)
        problems = []
        if r.returncode != 0:
            problems.append(f"exit status {r.returncode}")
        else:
            rows = json.load(open(out))["summary"]
            if [row["workload"] for row in rows] != workloads:
                problems.append(f"rows {rows}")
            for row in rows:
                if not (row["readpath_bytes_per_second"] > 0 and row["fio_bytes_per_second"] > 0):
                    problems.append(f"no bandwidth in {row}")
                # Like for like: no per-I/O clocks in fio; io_uring batched as readpath does.
                if "--gtod_reduce=1" not in row["fio_command"]:
                    problems.append(f"fio keeps per-I/O clocks: {row['fio_command']}")
                if row["engine"] == "io_uring" and "--iodepth_batch_complete_max=1" not in row["fio_command"]:
                    problems.append(f"fio not batched like readpath at qd1: {row['fio_command']}")
            if json.load(open(out))["cpus"] == "all":
                problems.append("both tools ran unpinned by default")
            for w in workloads:
                if w not in r.stdout:
                    problems.append(f"no table row for {w}")
            left = [f for f in os.listdir(scratch) if f.startswith("readpath-")]
            if left:
                problems.append(f"files left behind: {left}")
            if os.listdir(tmp):
                problems.append(f"temporary files left behind: {os.listdir(tmp)}")
        bad = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "scripts", "readpath"),
                              "calibrate", "--file-size", "lots"], capture_output=True, text=True,
                             env=dict(os.environ, READPATH_BENCH=BENCH))
        if bad.returncode != 2 or "--file-size" not in bad.stderr or "Traceback" in bad.stderr:
            problems.append(f"bad --file-size: status {bad.returncode}, {bad.stderr!r}")
    for p in problems:
        print("FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
