#!/usr/bin/env bash
# Runs the crate's test binaries (lib unit tests and tests/*.rs, built static) on one kernel:
#
#   ci/kernel-test.sh 6.1 | 6.12 | 5.10     boot that Debian cloud kernel under qemu (TCG) and run
#                                           every binary in one boot
#   ci/kernel-test.sh host                  run the same static binaries on the host kernel
#   ci/kernel-test.sh 6.1 -- --nocapture    arguments after -- go to every test binary
#
# Options: --no-build (reuse the binaries of the last build), --fetch-only (download and unpack the
# kernel, nothing else). Prints one line per binary and the time each step took, writes
# target/kernels/results/KERNEL.tsv and target/kernels/logs/KERNEL.log, and exits non-zero if any
# binary failed, was missing, or the boot ended without its @@EXIT@@ marker (timeout, panic).
# See ci/README.md.
set -euo pipefail
# shellcheck source=ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: $0 {$(IFS="|"; echo "${KERNELS[*]}")|host} [--no-build] [--fetch-only] [-- TEST-ARGS...]" >&2
    exit 2
}

kernel="" build=1 fetch_only=0 extra=()
while (($#)); do
    case $1 in
    --no-build) build=0 ;;
    --fetch-only) fetch_only=1 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) [[ -z $kernel ]] || usage; kernel=$1 ;;
    esac
    shift
done
[[ -n $kernel ]] || usage
[[ $kernel == host ]] || series_regex "$kernel" >/dev/null

mkdir -p "$KDIR/logs" "$KDIR/results"
results=$KDIR/results/$kernel.tsv
timing=$KDIR/results/$kernel.time
logfile=$KDIR/logs/$kernel.log
rm -f "$results" "$timing"
t_fetch=0 t_build=0 t_initrd=0 t_run=0

if [[ $kernel != host ]]; then
    ensure_tools
    t=$(now)
    fetch_kernel "$kernel"
    t_fetch=$(($(now) - t))
    if ((fetch_only)); then
        echo "$t_fetch" >"$KDIR/results/$kernel.fetch" # for kernel-matrix.sh's table
        log "$kernel: $KPKG ready in ${t_fetch}s"
        exit 0
    fi
fi
((fetch_only)) && usage

t=$(now)
if ((build)); then
    build_static_tests
else
    [[ -s $MANIFEST ]] || die "--no-build, but no binaries were built yet ($MANIFEST)"
fi
t_build=$(($(now) - t))

if [[ $kernel == host ]]; then
    abi=$(uname -r)
    tests=$KDIR/host/tests
    rm -rf "$tests"
    mkdir -p "$tests"
    while IFS=$'\t' read -r name path; do
        host_leaves_out "$name" && continue
        ln -s "$path" "$tests/$name"
        echo "$name" >>"$tests/ORDER"
    done <"$MANIFEST"
    log "host: running $(wc -l <"$tests/ORDER") binaries on $abi"
    t=$(now)
    set +e
    (
        cd "$ROOT"
        unset IO_COPY_GUEST
        export IO_COPY_CASES IO_COPY_TEST_THREADS IO_COPY_BIN_TIMEOUT CARGO_MANIFEST_DIR=$ROOT
        export IO_COPY_TEST_ARGS="${extra[*]}"
        sh "$CI_DIR/run-tests.sh" "$tests"
    ) 2>&1 | tee "$logfile" | grep -ao --line-buffered '@@[^@]*@@'
    set -e
    t_run=$(($(now) - t))
else
    vmlinuz=$(compgen -G "$KTREE/boot/vmlinuz-*" | head -n1)
    abi=${vmlinuz##*/vmlinuz-}
    t=$(now)
    build_initrd "$kernel" "${extra[*]}"
    t_initrd=$(($(now) - t))
    t=$(now)
    # A guest that ends before its init printed anything (one TCG boot in many stopped after
    # SeaBIOS) is booted once more; a guest that reached the tests is never rerun.
    for attempt in 1 2; do
        log "$kernel: booting $abi (timeout ${IO_COPY_BOOT_TIMEOUT}s, attempt $attempt)"
        set +e
        timeout --kill-after=10 "$IO_COPY_BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -m "$IO_COPY_QEMU_MEM" -smp 2 \
            -kernel "$vmlinuz" -initrd "$INITRD" -append 'console=ttyS0 panic=-1 quiet loglevel=0' \
            -nographic -nic none -no-reboot -monitor none -serial stdio -display none </dev/null 2>&1 |
            tr -d '\r' | sed -u -E 's/\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|c)//g' | tee "$logfile" |
            grep -ao --line-buffered '@@[^@]*@@'
        qemu_rc=${PIPESTATUS[0]}
        set -e
        grep -aq '@@' "$logfile" && break
        # A timeout is not retried: the run must stay inside CI's time.
        ((qemu_rc == 124 || qemu_rc == 137)) && break
        log "$kernel: the guest printed no marker (qemu exit $qemu_rc)"
    done
    t_run=$(($(now) - t))
    ((qemu_rc == 124 || qemu_rc == 137)) && log "$kernel: boot timed out after ${IO_COPY_BOOT_TIMEOUT}s"
    ((qemu_rc != 0 && qemu_rc != 124 && qemu_rc != 137)) && log "$kernel: qemu exited with $qemu_rc"
fi

set +e
parse_markers "$kernel" "$abi" "$logfile" "$results"
failed=$?
set -e
printf 'fetch=%s build=%s initrd=%s run=%s\n' "$t_fetch" "$t_build" "$t_initrd" "$t_run" >"$timing"

((failed)) && show_failures "$logfile" "$results"
echo
printf '%-6s %-28s %-30s %-7s %7s %7s %8s %6s\n' kernel abi binary result passed failed skipped secs
while IFS=$'\t' read -r k a n s p f sk sec; do
    printf '%-6s %-28s %-30s %-7s %7s %7s %8s %6s\n' "$k" "$a" "$n" "$s" "$p" "$f" "$sk" "$sec"
done <"$results"
log "$kernel: fetch ${t_fetch}s, static build ${t_build}s, initramfs ${t_initrd}s, boot+test ${t_run}s; log $logfile"
if ((failed)); then
    log "$kernel: FAILED"
    exit 1
fi
log "$kernel: ok"
