#!/usr/bin/env bash
# Fuzz smoke test: builds the fuzz targets and runs each for FUZZ_SECONDS (default 60) seconds,
# starting from the committed corpus. Exits non-zero when a target finds a crash (or fails to
# build); the log then names the input that crashed ("Failing input: ...", under
# fuzz/artifacts/TARGET/) and the command that reproduces it.
#
#   fuzz/smoke.sh                  # every target, 60 s each
#   FUZZ_SECONDS=600 fuzz/smoke.sh offsets
#   FUZZ_LOG_DIR=/tmp/fuzz-logs fuzz/smoke.sh   # keep each target's full libFuzzer log
#
# New inputs the fuzzer finds go to a scratch directory, not into fuzz/corpus/: commit only
# minimized crashes (cargo fuzz tmin) and the odd seed by hand.
#
# Sanitizer: none. The crate forbids unsafe code and std is not instrumented, so AddressSanitizer
# would find little at several times the cost; debug assertions (-a) are on, so an arithmetic
# overflow in the crate panics. Works on the stable toolchain through RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=never RUSTC_BOOTSTRAP=1

secs=${FUZZ_SECONDS:-60}
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=(offsets fallbacks wrappers)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "=== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

fuzz_flags=(-s none -a --release)
cargo fuzz build "${fuzz_flags[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    # The committed inputs seed the run, less the known bugs (cargo test replays those); a
    # known bug that the fuzzer finds again still fails the run.
    mkdir -p "$work/corpus/$t"
    find "corpus/$t" -maxdepth 1 -type f ! -name 'known-bug-*' -exec cp {} "$work/corpus/$t/" \;
    log="${FUZZ_LOG_DIR:-$work}/$t.log"
    mkdir -p "$(dirname "$log")"
    echo "=== fuzz $t for ${secs} s"
    set +e
    cargo fuzz run "${fuzz_flags[@]}" "$t" "$work/corpus/$t" -- \
        -max_total_time="$secs" -timeout=30 -max_len=1024 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    # Progress lines are many; show the start, the end and any crash report.
    grep -E '^(INFO: (Loaded|seed corpus)|#[0-9]+ +(INITED|DONE)|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|Done [0-9]+ runs)' "$log" || true
    if [ "$rc" -ne 0 ]; then
        echo "=== fuzz $t FAILED (exit $rc); the end of its log:"
        tail -n 80 "$log"
        grep -E 'Failing input|Test unit written to|artifact' "$log" || true
        failed+=("$t")
    else
        echo "=== fuzz $t: no crash"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "=== fuzz: crashes in ${failed[*]}; reproduce with:"
    echo "    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${fuzz_flags[*]} TARGET artifacts/TARGET/crash-..."
    echo "    (IO_COPY_FUZZ_DEBUG=1 prints the decoded case; minimize with cargo fuzz tmin, then keep"
    echo "    the input in fuzz/corpus/TARGET/, which cargo test --test fuzz_replay replays)"
    exit 1
fi
echo "=== fuzz: ${targets[*]} ran ${secs} s each without a crash"
