#!/usr/bin/env bash
# Older kernels emulated with seccomp: runs the matrix suite (tests/matrix.rs) once per
# personality. Each copy's thread gets the personality's errno filter before it copies, and the
# matrix's model expects the fallbacks that kernel would cause (see `personality` in
# tests/matrix.rs).
#
#   ci/personalities.sh                 # all five
#   ci/personalities.sh pre-4.5 -- FILTER   # one, with a test-name filter
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

all=(pre-4.5 pre-2.6.33 no-splice old-docker pre-5.3-xdev)
names=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    names+=("$1")
    shift
done
[ "${1:-}" = "--" ] && shift
[ ${#names[@]} -eq 0 ] && names=("${all[@]}")

locked=()
[ "${CI:-}" = "true" ] && locked=(--locked)
cargo test "${locked[@]}" --test matrix --no-run

declare -A result secs
failed=0
for p in "${names[@]}"; do
    t0=$SECONDS
    log=$(mktemp)
    echo "=== personality ${p}"
    if IO_COPY_PERSONALITY=$p cargo test "${locked[@]}" --test matrix -- "$@" >"$log" 2>&1; then
        result[$p]=$(grep -o 'test result: .*passed; [0-9]* failed' "$log" | tail -1)
    else
        failed=$((failed + 1))
        result[$p]="FAILED: $(grep -o 'test result: .*passed; [0-9]* failed' "$log" | tail -1)"
        grep -E '^(test .* FAILED|thread .* panicked)' "$log" | head -20 || true
    fi
    secs[$p]=$((SECONDS - t0))
    rm -f "$log"
done

echo
printf '%-14s %6s  %s\n' personality secs result
for p in "${names[@]}"; do
    printf '%-14s %6s  %s\n' "$p" "${secs[$p]}" "${result[$p]}"
done
echo "personalities: $(( ${#names[@]} - failed )) passed, ${failed} failed"
[ "$failed" -eq 0 ]
