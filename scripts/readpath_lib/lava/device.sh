#!/bin/sh
# readpath on a LAVA device: the test definition's one step (installed by the job's readpath
# overlay as /opt/readpath/bin/readpath-device). It loads the myfs the job's modules overlay
# put in /lib/modules/$(uname -r), runs readpath_bench's profile on myfs in ROUNDS rounds of
# REPETITIONS, reports each cell's median time over its rounds and that median's
# order-statistic interval (named with its real coverage) as LAVA test cases, and prints every file it measured -- the Google Benchmark JSON of each round,
# its latency sidecar, console log, and the call paths myfs recorded -- into the log as
# gzip+base64 blocks with their sha256, for `readpath lava import` to take home whole.
#
# Parameters (the test definition's params, as the shell sees them): PROFILE, ROUNDS,
# REPETITIONS, MYFS_OPTIONS (extra myfs mount options, "" for myfs's defaults), ACCEL
# (auto, host, kvm or tcg: what readpath_bench records; auto tells a QEMU CPU from a host).
# Only busybox is assumed: readpath_bench runs through the loader and libraries beside it.

R=/opt/readpath
OUT=/tmp/readpath
MNT=/mnt/myfs
PROFILE=${PROFILE:-tiny}
ROUNDS=${ROUNDS:-1}
REPETITIONS=${REPETITIONS:-3}
ACCEL=${ACCEL:-auto}

bench() {
    "$R/lib/ld-linux-x86-64.so.2" --library-path "$R/lib" "$R/bin/readpath_bench" "$@"
}

# One line saying what went wrong, a failed test case LAVA shows, and the end of the step.
fail() {
    echo "READPATH-FAILED $*"
    lava-test-case readpath-suite --result fail
    exit 1
}

# A file into the log: a header with its name, size and sha256, its gzip in base64 lines, a
# trailer. Nothing else may print between them (kernel messages are silenced below).
emit() {
    sum=$(sha256sum "$2" | cut -d' ' -f1)
    echo "READPATH-BLOB-BEGIN $1 $(wc -c < "$2") $sum"
    gzip -c "$2" | base64
    echo "READPATH-BLOB-END $1"
}

umount_myfs() {
    # io_uring rings release their files asynchronously after their process exits.
    n=0
    while grep -q " $MNT myfs " /proc/mounts; do
        umount "$MNT" 2>/dev/null && break
        n=$((n + 1)); [ $n -ge 100 ] && fail "myfs at $MNT stays busy; cannot unmount it"
        sleep 0.1
    done
}

mkdir -p "$OUT" "$MNT"
dmesg -n 1 2>/dev/null   # kernel messages on the console would split the data lines

if [ "$ACCEL" = auto ]; then
    if ! grep -qw hypervisor /proc/cpuinfo; then ACCEL=host
    elif grep -q "^model name.*QEMU" /proc/cpuinfo; then ACCEL=tcg
    else ACCEL=kvm; fi
fi
export READPATH_ACCEL="$ACCEL"

release=$(uname -r)
echo "READPATH-DEVICE release=$release accel=$ACCEL profile=$PROFILE rounds=$ROUNDS repetitions=$REPETITIONS options=$MYFS_OPTIONS"
[ -x "$R/bin/readpath_bench" ] || fail "no readpath_bench in $R: the job's readpath overlay is missing"
ko=$(find "/lib/modules/$release" -name 'myfs.ko*' 2>/dev/null | head -n 1)
[ -n "$ko" ] || fail "no myfs.ko under /lib/modules/$release: the job's modules overlay was built for another kernel"
grep -q "^myfs " /proc/modules || insmod "$ko" || fail "insmod $ko failed: $(dmesg | tail -n 1)"

options="synthetic,trace=once${MYFS_OPTIONS:+,$MYFS_OPTIONS}"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    umount_myfs
    mount -t myfs -o "$options" myfs "$MNT" 2>"$OUT/mount.err" ||
        fail "myfs refuses the mount options $options: $(tail -n 1 "$OUT/mount.err") $(dmesg | tail -n 1)"
    if ! bench --dir "$MNT" --profile "$PROFILE" --benchmark_repetitions="$REPETITIONS" \
            --benchmark_color=false --benchmark_out="$OUT/r$r.json.partial" \
            --benchmark_out_format=json > "$OUT/r$r.log" 2>&1; then
        tail -n 20 "$OUT/r$r.log"
        fail "readpath_bench failed in round $r: $(tail -n 1 "$OUT/r$r.log")"
    fi
    mv "$OUT/r$r.json.partial" "$OUT/r$r.json"
    [ ! -f "$OUT/r$r.json.partial.latency.json" ] ||
        mv "$OUT/r$r.json.partial.latency.json" "$OUT/r$r.json.latency.json"
    # The call path that first reached each hook, as run and compare-kernels record it, of
    # the mount under test: /sys/fs/myfs/<major>:<minor> (busybox has no mountpoint -d).
    if [ ! -f "$OUT/paths" ]; then
        d=$(stat -c %d "$MNT")
        cat "/sys/fs/myfs/$(( (d >> 8) & 0xfff | (d >> 32) & ~0xfff )):$(( d & 0xff | (d >> 12) & ~0xff ))/paths" > "$OUT/paths"
    fi
    r=$((r + 1))
done
umount_myfs

# Every file, so that nothing measured is lost, before the per-cell summary.
for f in "$OUT"/r*.json "$OUT"/r*.json.latency.json "$OUT"/r*.log "$OUT/paths"; do
    [ -f "$f" ] && emit "${f##*/}" "$f"
done

# Per cell, with the round as the unit (a round is one readpath_bench process: its
# repetitions move together): each round's median real time, then the median of those and
# its distribution-free interval from order statistics (readpath's stats.median_ci on the
# round medians: x(j)..x(n+1-j) with the largest j where P(Bin(n,1/2) < j) <= 2.5%, the
# extremes when n is too small, and the coverage that gives, which names the interval's
# test cases). busybox awk has no logarithm, so not readpath's geometric mean: the raw files
# above are what `readpath lava import` and compare use. Skipped cells: their reason.
awk '
function flush() {
    if (name == "" || type != "iteration") return
    if (!(name in seen)) { seen[name] = 1; order[++cells] = name }
    if (err) { why[name] = msg; return }
    if (!((name, FILENAME) in r)) { r[name, FILENAME] = ++rounds[name]; file[name, rounds[name]] = FILENAME }
    k = r[name, FILENAME]; n[name, k]++; v[name, k, n[name, k]] = t * scale[unit]
}
function sort(a, k,    i, j, y) {
    for (i = 2; i <= k; i++) { y = a[i]; for (j = i - 1; j >= 1 && a[j] > y; j--) a[j + 1] = a[j]; a[j + 1] = y }
}
function median(a, k) { return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
BEGIN { scale["ns"] = 1; scale["us"] = 1e3; scale["ms"] = 1e6; scale["s"] = 1e9 }
/^    \{/ { name = ""; type = ""; err = 0; msg = ""; t = 0; unit = "ns" }
/"run_name":/ { s = $0; sub(/.*"run_name": "/, "", s); sub(/".*/, "", s); name = s }
/"run_type":/ { s = $0; sub(/.*"run_type": "/, "", s); sub(/".*/, "", s); type = s }
/"error_occurred": true/ { err = 1 }
/"error_message":/ { s = $0; sub(/.*"error_message": "/, "", s); sub(/",?$/, "", s); msg = s }
/"real_time":/ { s = $0; sub(/.*"real_time": /, "", s); sub(/,$/, "", s); t = s + 0 }
/"time_unit":/ { s = $0; sub(/.*"time_unit": "/, "", s); sub(/".*/, "", s); unit = s }
/^    \}/ { flush(); name = "" }
END {
    for (c = 1; c <= cells; c++) {
        name = order[c]; k = rounds[name] + 0
        case_name = name; sub(/\/(manual_time|real_time)/, "", case_name); gsub(/\//, ".", case_name)
        if (k == 0) { print "skip", case_name, why[name]; continue }
        for (q = 1; q <= k; q++) {
            m = n[name, q]
            for (i = 1; i <= m; i++) y1[i] = v[name, q, i]
            sort(y1, m); x[q] = median(y1, m)
        }
        sort(x, k); med = median(x, k)
        half = 1; for (i = 0; i < k; i++) half /= 2   # busybox awk may lack ^ (no libm)
        p = half; below = 0; j = 0
        while (j < k && below + p <= 0.025) { below += p; p = p * (k - j) / (j + 1); j++ }
        if (j < 1) j = 1
        p = half; tail = 0
        for (i = 0; i < j; i++) { tail += p; p = p * (k - i) / (i + 1) }
        printf "cell %s %.6g %.6g %.6g %.4g %d\n", case_name, med, x[j], x[k + 1 - j], 100 * (1 - 2 * tail), k
    }
}' "$OUT"/r*.json > "$OUT/cells" || fail "could not summarise the results"

while read -r kind case_name median low high coverage count; do
    if [ "$kind" = skip ]; then
        lava-test-case "$case_name" --result skip
        continue
    fi
    lava-test-case "$case_name" --result pass --measurement "$median" --units ns
    # The interval's cases carry its real coverage: ci96 from 6 rounds, ci75 from 3, ci50 from 2, none with 1.
    [ "$count" -gt 1 ] || continue
    cover=${coverage%%.*}
    lava-test-case "$case_name.ci${cover}_low" --result pass --measurement "$low" --units ns
    lava-test-case "$case_name.ci${cover}_high" --result pass --measurement "$high" --units ns
done < "$OUT/cells"
echo "READPATH-CELLS $(grep -c '^cell' "$OUT/cells") measured, $(grep -c '^skip' "$OUT/cells") skipped; interval coverage $(awk '/^cell/ {print $6 "% over " $7 " rounds"; exit}' "$OUT/cells")"
lava-test-case readpath-suite --result pass
echo "READPATH-DONE"
