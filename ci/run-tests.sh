#!/bin/sh
# Runs every test binary named in DIR/ORDER (one name a line, the binary at DIR/NAME) and prints
# parseable markers around each:
#   @@BEGIN NAME@@
#   ...libtest output...
#   @@BIN NAME rc=N passed=P failed=F skipped=S secs=T@@
# and finally @@EXIT=0@@ if every binary exited 0, @@EXIT=1@@ otherwise (2 if DIR/ORDER is empty).
# `skipped` is libtest's "ignored" count; P/F/S are "-" when the binary printed no summary line.
#
# POSIX sh: it runs as /init's child under busybox ash in the guest, and under the host's sh for
# `ci/kernel-test.sh host`. Settings come from the environment: IO_COPY_TEST_THREADS,
# IO_COPY_BIN_TIMEOUT, IO_COPY_TEST_ARGS (extra arguments for every binary).
dir=$1
threads=${IO_COPY_TEST_THREADS:-2}
limit=${IO_COPY_BIN_TIMEOUT:-240}
scratch=${TMPDIR:-/tmp}/io_copy-run-tests.$$
mkdir -p "$scratch"

total=0
bad=0
while read -r name <&3; do
    [ -n "$name" ] || continue
    total=$((total + 1))
    echo "@@BEGIN $name@@"
    # In the guests, the arguments DIR/GUEST_ARGS gives this binary (ci/guest-args).
    extra=
    if [ "${IO_COPY_GUEST:-}" = 1 ] && [ -f "$dir/GUEST_ARGS" ]; then
        extra=$(sed -n "s/^$name[[:space:]][[:space:]]*//p" "$dir/GUEST_ARGS")
        [ -z "$extra" ] || echo "@@ARGS $name $extra@@"
    fi
    start=$(date +%s)
    # The subshell records the binary's own status; tee's would hide it. stdin is /dev/null so a
    # test that reads stdin cannot eat the ORDER list.
    # shellcheck disable=SC2086 # IO_COPY_TEST_ARGS is a word list on purpose
    {
        timeout "$limit" "$dir/$name" --test-threads="$threads" -q ${IO_COPY_TEST_ARGS:-} $extra </dev/null 2>&1
        echo $? >"$scratch/rc"
    } | tee "$scratch/out"
    end=$(date +%s)
    rc=$(cat "$scratch/rc" 2>/dev/null || echo 255)
    # "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"
    counts=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored;.*/\1 \2 \3/p' \
        "$scratch/out" | tail -n 1)
    [ -n "$counts" ] || counts="- - -"
    # shellcheck disable=SC2086
    set -- $counts
    [ "$rc" = 0 ] || bad=$((bad + 1))
    echo "@@BIN $name rc=$rc passed=$1 failed=$2 skipped=$3 secs=$((end - start))@@"
done 3<"$dir/ORDER"
rm -rf "$scratch"

if [ "$total" = 0 ]; then
    status=2
elif [ "$bad" = 0 ]; then
    status=0
else
    status=1
fi
echo "@@EXIT=$status@@"
exit "$status"
