#!/usr/bin/env bash
# Runs the static test binaries on every kernel of the matrix (6.1, 6.12, 5.10 under qemu, then the
# host kernel) and prints a table kernel x test binary x passed/failed/skipped, the time each kernel
# took, and a closing "kernel-matrix: P passed, F failed, S skipped" line.
#
#   ci/kernel-matrix.sh                 all of: 6.1 6.12 5.10 host
#   ci/kernel-matrix.sh 5.10 host       just those
#
# The kernels download (in the background) while the binaries build. Every kernel runs even if an
# earlier one failed; the script exits non-zero if any failed. See ci/README.md.
set -euo pipefail
# shellcheck source=ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kernels=("$@")
((${#kernels[@]})) || kernels=("${KERNELS[@]}" host)
guests=()
for k in "${kernels[@]}"; do
    [[ $k == host ]] || { series_regex "$k" >/dev/null; guests+=("$k"); }
done

t_start=$(now)
mkdir -p "$KDIR/logs" "$KDIR/results"
for k in "${kernels[@]}"; do rm -f "$KDIR/results/$k".{tsv,time,fetch}; done

if ((${#guests[@]})); then
    ensure_tools
    # The fetches are network-bound and the build CPU-bound: overlap them. kernel-test.sh fetches
    # again (from the cache, or with the error shown) whatever did not make it here.
    for k in "${guests[@]}"; do
        kernel_cached "$k" || { apt_update_once; break; }
    done
    (
        for k in "${guests[@]}"; do
            "$CI_DIR/kernel-test.sh" "$k" --fetch-only || true
        done
    ) >"$KDIR/logs/fetch.out" 2>&1 &
    fetch_pid=$!
fi

t=$(now)
build_static_tests
t_build=$(($(now) - t))

if ((${#guests[@]})); then
    t=$(now)
    wait "$fetch_pid" || true
    log "kernel downloads (overlapping the build) done $(($(now) - t))s after it:"
    sed 's/^/    /' "$KDIR/logs/fetch.out" >&2
fi

declare -A rc_of secs_of
for k in "${kernels[@]}"; do
    echo
    log "=== $k ==="
    t=$(now)
    set +e
    "$CI_DIR/kernel-test.sh" "$k" --no-build
    rc_of[$k]=$?
    set -e
    secs_of[$k]=$(($(now) - t))
done

# --- summary ------------------------------------------------------------------------------------
echo
echo "=== kernel matrix: kernel x test binary ==="
fmt='%-6s %-28s %-30s %-7s %7s %7s %8s %6s\n'
# shellcheck disable=SC2059
printf "$fmt" kernel abi binary result passed failed skipped secs
total_p=0 total_f=0 total_s=0 any_failed=0
for k in "${kernels[@]}"; do
    res=$KDIR/results/$k.tsv
    if [[ ! -s $res ]]; then
        # shellcheck disable=SC2059
        printf "$fmt" "$k" - "(no results: see the output above)" FAIL - - - -
        total_f=$((total_f + 1))
        continue
    fi
    while IFS=$'\t' read -r kk a n s p f sk sec; do
        # shellcheck disable=SC2059
        printf "$fmt" "$kk" "$a" "$n" "$s" "$p" "$f" "$sk" "$sec"
        [[ $p =~ ^[0-9]+$ ]] && total_p=$((total_p + p))
        [[ $sk =~ ^[0-9]+$ ]] && total_s=$((total_s + sk))
        if [[ $f =~ ^[0-9]+$ ]]; then
            total_f=$((total_f + f))
            # A binary that failed with no failed test (crash, timeout) still counts once.
            [[ $s != ok && $f == 0 ]] && total_f=$((total_f + 1))
        elif [[ $s != ok ]]; then
            total_f=$((total_f + 1))
        fi
    done <"$res"
done

echo
echo "=== time per kernel (seconds) ==="
tfmt='%-6s %-7s %6s %8s %10s %6s\n'
# shellcheck disable=SC2059
printf "$tfmt" kernel result fetch initrd boot+test total
echo "(fetch ran in the background during the static build; total is each kernel's own wall time after it)"
for k in "${kernels[@]}"; do
    fetch=- initrd=- run=-
    if [[ -s $KDIR/results/$k.time ]]; then
        # The file reads: fetch=N build=N initrd=N run=N
        read -r fetch initrd run < <(sed -E 's/.*fetch=([0-9]+).*initrd=([0-9]+).*run=([0-9]+).*/\1 \2 \3/' \
            "$KDIR/results/$k.time")
    fi
    # The download ran in the background during the build; kernel-test.sh then found it cached.
    [[ -s $KDIR/results/$k.fetch ]] && fetch=$(($(<"$KDIR/results/$k.fetch") + ${fetch/-/0}))
    if ((rc_of[$k] == 0)); then result=ok; else result=FAIL any_failed=1; fi
    # shellcheck disable=SC2059
    printf "$tfmt" "$k" "$result" "$fetch" "$initrd" "$run" "${secs_of[$k]}"
done
echo "static build: ${t_build}s; whole matrix: $(($(now) - t_start))s; logs in ${KDIR#"$ROOT"/}/logs/"
echo "kernel-matrix: $total_p passed, $total_f failed, $total_s skipped"
exit "$any_failed"
