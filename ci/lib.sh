# shellcheck shell=bash
# Shared helpers for ci/kernel-test.sh and ci/kernel-matrix.sh. Sourced, never run.
#
# Layout of the cache (all under target/, so `cargo clean` wipes it):
#   target/static/                cargo target dir of the static test binaries
#   target/kernels/debs/          downloaded linux-image .deb files
#   target/kernels/unpacked/PKG/  `dpkg -x` of each .deb
#   target/kernels/SERIES.pkg     which package SERIES (6.1, 6.12, 5.10) resolved to last time
#   target/kernels/apt-bullseye/  private apt config, lists and cache for the 5.10 kernel
#   target/kernels/initrd/        initramfs staging trees and images
#   target/kernels/logs/          serial log of each boot (\r stripped), and the host run's log
#   target/kernels/results/       one TSV of markers per kernel, read by kernel-matrix.sh

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$CI_DIR/.." && pwd)
KDIR=${IO_COPY_KERNEL_CACHE:-$ROOT/target/kernels}
STATIC_TARGET_DIR=$ROOT/target/static
MANIFEST=$STATIC_TARGET_DIR/io_copy-test-binaries.tsv
TRIPLE=x86_64-unknown-linux-gnu

# Knobs, all overridable from the environment.
: "${IO_COPY_CASES:=16}"               # proptest cases per property inside the guest
: "${IO_COPY_TEST_THREADS:=2}"         # --test-threads for each binary
: "${IO_COPY_BOOT_TIMEOUT:=900}"       # seconds for one whole boot (all binaries)
: "${IO_COPY_BIN_TIMEOUT:=240}"        # seconds for one test binary (~10x what each needs today)
: "${IO_COPY_QEMU_MEM:=2048}"          # MiB of guest memory; /tmp is tmpfs and counts against it
: "${IO_COPY_KERNEL_REFRESH:=0}"       # 1: resolve the newest ABI again even if one is cached

KERNELS=(6.1 6.12 5.10)

log() { printf '[ci %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf '[ci] ERROR: %s\n' "$*" >&2
    exit 1
}

# Seconds since the epoch, for the timings each script prints.
now() { date +%s; }

apt_env() { DEBIAN_FRONTEND=noninteractive "$@"; }

# `apt-get update` once per run; kernel-matrix.sh exports the stamp so its children skip it.
apt_update_once() {
    [[ ${IO_COPY_APT_UPDATED:-0} == 1 ]] && return 0
    log "apt-get update"
    apt_env apt-get update -qq || die "apt-get update failed"
    export IO_COPY_APT_UPDATED=1
}

pkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# Installs from Debian whatever the kernel matrix needs and the machine lacks. Every missing piece is
# fatal, with or without CI=true: the matrix never skips itself.
ensure_tools() {
    local want=(qemu-system-x86 busybox-static cpio gzip xz-utils zstd jq libc6-dev)
    local missing=() p
    command -v dpkg-query >/dev/null || die "not a Debian system (no dpkg-query): install qemu-system-x86_64, a static busybox, cpio, gzip, xz, zstd and jq by hand"
    for p in "${want[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        [[ $(id -u) == 0 ]] || die "missing packages ${missing[*]} and not root to install them: apt-get install ${missing[*]}"
        apt_update_once
        log "apt-get install ${missing[*]}"
        apt_env apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            die "apt-get install ${missing[*]} failed"
    fi
    command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not on PATH after installing qemu-system-x86"
    [[ -x /bin/busybox ]] || die "/bin/busybox missing after installing busybox-static"
    command -v cargo >/dev/null || die "cargo not on PATH"
}

# --- static test binaries ---------------------------------------------------------------------

# Builds every test target (lib unit tests and tests/*.rs) as a static-pie executable in its own
# target dir, and writes MANIFEST: one `NAME<TAB>PATH` line per binary. The lib's binary is named
# `lib`; integration tests keep their file name.
build_static_tests() {
    local json=$STATIC_TARGET_DIR/cargo-test-no-run.json
    local locked=()
    [[ ${CI:-} == true ]] && locked=(--locked) # as .ci/run builds
    mkdir -p "$STATIC_TARGET_DIR"
    log "building static test binaries in ${STATIC_TARGET_DIR#"$ROOT"/}"
    # --target keeps RUSTFLAGS away from build scripts and proc macros, which cannot be static.
    (cd "$ROOT" && RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
        cargo test --no-run --tests "${locked[@]}" --target "$TRIPLE" --target-dir "$STATIC_TARGET_DIR" \
        --message-format=json-render-diagnostics >"$json") || die "static build of the tests failed"
    jq -r --arg manifest "$ROOT/Cargo.toml" '
        select(.reason == "compiler-artifact" and .manifest_path == $manifest
               and .profile.test and .executable != null)
        | select(.target.kind | any(. == "test" or . == "lib" or . == "rlib"))
        | [(if .target.kind | index("test") then .target.name else "lib" end), .executable]
        | @tsv' "$json" | sort -u >"$MANIFEST.tmp"
    [[ -s $MANIFEST.tmp ]] || die "cargo built no test binary (see $json)"
    if [[ $(cut -f1 "$MANIFEST.tmp" | sort | uniq -d) ]]; then
        die "two test binaries share a name: $(cut -f1 "$MANIFEST.tmp" | sort | uniq -d | tr '\n' ' ')"
    fi
    # Keep the lib's unit tests first, then the integration tests in name order.
    { grep -P '^lib\t' "$MANIFEST.tmp" || true; grep -vP '^lib\t' "$MANIFEST.tmp" || true; } >"$MANIFEST"
    rm -f "$MANIFEST.tmp"
    local name path
    while IFS=$'\t' read -r name path; do
        [[ -x $path ]] || die "missing executable $path"
        # static-pie shows as "static-pie linked" in file(1), and ldd calls it statically linked.
        if ldd "$path" 2>&1 | grep -q '=>'; then die "$path is dynamically linked"; fi
    done <"$MANIFEST"
    log "test binaries: $(cut -f1 "$MANIFEST" | tr '\n' ' ')"
}

# --- kernels ------------------------------------------------------------------------------------

# Prints the URI of the first non-security Debian stanza in the machine's apt sources, so no mirror
# name is ever written into this repository.
debian_mirror_uri() {
    local uri=""
    if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
        uri=$(awk '
            function flush() {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites !~ /-security/ && uris != "" && out == "") {
                    split(uris, u, /[ \t]+/); out = u[1]
                }
                types = ""; suites = ""; uris = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:"  { $1 = ""; types = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "uris:"   { $1 = ""; sub(/^[ \t]+/, ""); uris = $0 }
            END { flush(); print out }' /etc/apt/sources.list.d/debian.sources)
    fi
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        # One-line format: deb [options] URI SUITE COMPONENTS...
        uri=$(sed -n -E '/^deb[ \t]/{/-security/d;s/^deb[ \t]+(\[[^]]*\][ \t]+)?([^ \t]+).*/\2/p}' \
            /etc/apt/sources.list | head -n1)
    fi
    [[ -n $uri ]] || die "found no Debian URI in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    printf '%s\n' "$uri"
}

# Sets APT_OPTS to the apt options for SERIES: none for the suites the machine has, a private
# config pointing at bullseye for 5.10.
APT_OPTS=()
set_apt_opts() {
    APT_OPTS=()
    [[ $1 == 5.10 ]] || return 0
    local d=$KDIR/apt-bullseye
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
    printf 'deb [trusted=yes] %s bullseye main\n' "$(debian_mirror_uri)" >"$d/sources.list"
    APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache")
}

series_regex() {
    case $1 in
    6.1) echo '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' ;;
    6.12) echo '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-amd64-unsigned$' ;;
    5.10) echo '^linux-image-5\.10\.0-[0-9]+-cloud-amd64-unsigned$' ;;
    *) die "unknown kernel series '$1' (known: ${KERNELS[*]} host)" ;;
    esac
}

# True if SERIES has an unpacked kernel in the cache that fetch_kernel would reuse.
kernel_cached() {
    local pointer=$KDIR/$1.pkg
    [[ $IO_COPY_KERNEL_REFRESH != 1 && -s $pointer ]] &&
        compgen -G "$KDIR/unpacked/$(<"$pointer")/boot/vmlinuz-*" >/dev/null
}

# Unpacked tree of the package SERIES resolved to, fetching it if needed. Sets KPKG and KTREE.
# The newest ABI that apt lists AND that downloads wins: mirrors list builds that answer 404.
fetch_kernel() {
    local series=$1 pointer=$KDIR/$1.pkg
    mkdir -p "$KDIR/debs" "$KDIR/unpacked"
    KPKG="" KTREE=""
    if kernel_cached "$series"; then
        KPKG=$(<"$pointer")
        KTREE=$KDIR/unpacked/$KPKG
        log "$series: cached $KPKG"
        return 0
    fi
    [[ $(id -u) == 0 ]] || die "fetching kernels needs root for apt-get; run as root or fill $KDIR"
    set_apt_opts "$series"
    if ((${#APT_OPTS[@]})); then
        log "$series: apt-get update (private bullseye config)"
        apt_env apt-get "${APT_OPTS[@]}" update -qq || die "$series: apt-get update for bullseye failed"
    else
        apt_update_once
    fi
    local regex candidates pkg deb=""
    regex=$(series_regex "$series")
    candidates=$(apt-cache "${APT_OPTS[@]}" search --names-only "$regex" | cut -d' ' -f1 | sort -V -r)
    [[ -n $candidates ]] || die "$series: apt-cache search found no package matching $regex"
    log "$series: candidates $(tr '\n' ' ' <<<"$candidates")"
    for pkg in $candidates; do
        rm -f "$KDIR/debs/${pkg}_"*.deb
        # Download as root into a root-owned dir: the _apt sandbox user could not write there.
        if (cd "$KDIR/debs" && apt_env apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root \
            download -qq "$pkg" >/dev/null 2>"$KDIR/debs/$pkg.err"); then
            deb=$(compgen -G "$KDIR/debs/${pkg}_*.deb" | head -n1)
            [[ -n $deb ]] && break
        fi
        log "$series: $pkg did not download: $(tr '\n' ' ' <"$KDIR/debs/$pkg.err" | cut -c1-200)"
    done
    [[ -n $deb ]] || die "$series: no candidate package downloaded"
    rm -f "$KDIR/debs/"*.err
    KPKG=$pkg
    KTREE=$KDIR/unpacked/$KPKG
    log "$series: unpacking $(basename "$deb") ($(du -m "$deb" | cut -f1) MiB)"
    rm -rf "$KTREE" "$KTREE.tmp"
    dpkg -x "$deb" "$KTREE.tmp" || die "$series: dpkg -x $deb failed"
    mv "$KTREE.tmp" "$KTREE"
    compgen -G "$KTREE/boot/vmlinuz-*" >/dev/null || die "$series: no boot/vmlinuz-* in $deb"
    printf '%s\n' "$KPKG" >"$pointer"
}

# --- initramfs ----------------------------------------------------------------------------------

# Prints the path of module NAME's file under MODDIR (foo_bar may be foo-bar.ko on disk), or nothing.
module_file() {
    local moddir=$1 name=$2
    find "$moddir" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) -print -quit
}

# Prints module NAME's "depends=" list from its .modinfo strings (no depmod output ships in the .deb,
# and modinfo may not be installed), decompressing first if needed.
module_depends() {
    local file=$1
    case $file in
    *.xz) xz -dc "$file" ;;
    *.zst) zstd -qdc "$file" ;;
    *.gz) gzip -dc "$file" ;;
    *) cat "$file" ;;
    esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

# Prints the files to load for module NAME, dependencies first, each once.
module_closure() {
    local moddir=$1 name=$2 file dep
    file=$(module_file "$moddir" "$name")
    [[ -n $file ]] || return 0
    for dep in $(module_depends "$file"); do
        module_closure "$moddir" "$dep"
    done
    echo "$file"
}

# Builds target/kernels/initrd/SERIES.cpio.gz from the MANIFEST binaries, busybox, ci/guest-init.sh,
# ci/run-tests.sh, the crate's small source dirs (so compile-time paths and proptest regression files
# resolve in the guest) and veth.ko plus its dependencies from KTREE. Sets INITRD.
build_initrd() {
    local series=$1 extra_args=$2
    local stage=$KDIR/initrd/$series
    INITRD=$KDIR/initrd/$series.cpio.gz
    rm -rf "$stage"
    mkdir -p "$stage"/{bin,proc,sys,dev,tmp,run,root,etc,tests,ci,lib/modules}
    ln -s bin "$stage/sbin"
    mkdir -p "$stage/usr"
    ln -s ../bin "$stage/usr/bin"
    ln -s ../bin "$stage/usr/sbin"
    cp /bin/busybox "$stage/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$stage/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
    printf 'root:x:0:\n' >"$stage/etc/group"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$stage/etc/hosts"

    install -m 0755 "$CI_DIR/guest-init.sh" "$stage/init"
    install -m 0755 "$CI_DIR/run-tests.sh" "$stage/ci/run-tests.sh"

    local name path
    : >"$stage/tests/ORDER"
    while IFS=$'\t' read -r name path; do
        cp "$path" "$stage/tests/$name"
        echo "$name" >>"$stage/tests/ORDER"
    done <"$MANIFEST"

    # The crate's small source dirs at /crate; /init links the host's crate path to it, so
    # env!("CARGO_MANIFEST_DIR") and proptest's regression files resolve in the guest too. (Not
    # copied to that path directly: a crate under /tmp or /run would vanish under the tmpfs mounts.)
    mkdir -p "$stage/crate"
    local d
    for d in Cargo.toml src tests proptest-regressions; do
        if [[ -e $ROOT/$d ]]; then cp -r "$ROOT/$d" "$stage/crate/"; fi
    done
    # The fuzz corpus, which tests/fuzz_replay.rs replays.
    if [[ -d $ROOT/fuzz/corpus ]]; then
        mkdir -p "$stage/crate/fuzz"
        cp -r "$ROOT/fuzz/corpus" "$stage/crate/fuzz/"
    fi
    cp "$ROOT/ci/guest-args" "$stage/tests/GUEST_ARGS"

    # veth.ko and what it depends on, decompressed: busybox insmod takes plain .ko files.
    local moddir ko out
    moddir=$(compgen -G "$KTREE/lib/modules/*" | head -n1 || true)
    [[ -z $moddir ]] && moddir=$(compgen -G "$KTREE/usr/lib/modules/*" | head -n1 || true)
    : >"$stage/lib/modules/ORDER"
    if [[ -n $moddir ]]; then
        for ko in $(module_closure "$moddir" veth | awk '!seen[$0]++'); do
            out=$(basename "$ko")
            out=${out%.xz}
            out=${out%.zst}
            out=${out%.gz}
            case $ko in
            *.xz) xz -dc "$ko" >"$stage/lib/modules/$out" ;;
            *.zst) zstd -qdc "$ko" >"$stage/lib/modules/$out" ;;
            *.gz) gzip -dc "$ko" >"$stage/lib/modules/$out" ;;
            *) cp "$ko" "$stage/lib/modules/$out" ;;
            esac
            echo "$out" >>"$stage/lib/modules/ORDER"
        done
    fi
    [[ -s $stage/lib/modules/ORDER ]] || log "$series: no veth module in $KPKG (the guest runs without it)"

    # Settings the guest's /init sources before it runs the binaries.
    {
        printf 'export IO_COPY_GUEST=1\n'
        printf 'export IO_COPY_CASES=%q\n' "$IO_COPY_CASES"
        printf 'export IO_COPY_TEST_THREADS=%q\n' "$IO_COPY_TEST_THREADS"
        printf 'export IO_COPY_BIN_TIMEOUT=%q\n' "$IO_COPY_BIN_TIMEOUT"
        printf 'export IO_COPY_TEST_ARGS=%q\n' "$extra_args"
        printf 'export CARGO_MANIFEST_DIR=%q\n' "$ROOT"
        printf 'export CRATE_DIR=%q\n' "$ROOT"
    } >"$stage/etc/io_copy-ci.env"

    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1 >"$INITRD.tmp") ||
        die "$series: packing the initramfs failed"
    mv "$INITRD.tmp" "$INITRD"
    log "$series: initramfs $(du -m "$INITRD" | cut -f1) MiB"
}

# --- results ------------------------------------------------------------------------------------

# Whether the host row leaves binary $1 out: the examples' tests start the example programs, which
# the static build does not make; CI's host tests stage runs them beside their binaries, on the
# same kernel.
host_leaves_out() { [[ $1 == examples ]]; }

# Reads marker lines from LOG and writes RESULTS (TSV: kernel abi binary status passed failed skipped
# secs). Returns non-zero if the kernel failed: a missing binary, a non-zero rc, or no EXIT marker.
parse_markers() {
    local kernel=$1 abi=$2 log=$3 results=$4
    local ok=0 name rc passed failed skipped secs line status exit_rc
    : >"$results"
    while IFS=$'\t' read -r name _; do
        [[ $kernel == host ]] && host_leaves_out "$name" && continue
        line=$(grep -aoE "@@BIN $name rc=[0-9]+ [^@]*@@" "$log" | tail -n1 || true)
        if [[ -z $line ]]; then
            printf '%s\t%s\t%s\tMISSING\t-\t-\t-\t-\n' "$kernel" "$abi" "$name" >>"$results"
            ok=1
            continue
        fi
        rc=$(sed -E 's/.* rc=([0-9]+).*/\1/' <<<"$line")
        passed=$(sed -E 's/.* passed=([0-9-]+).*/\1/' <<<"$line")
        failed=$(sed -E 's/.* failed=([0-9-]+).*/\1/' <<<"$line")
        skipped=$(sed -E 's/.* skipped=([0-9-]+).*/\1/' <<<"$line")
        secs=$(sed -E 's/.* secs=([0-9-]+).*/\1/' <<<"$line")
        if [[ $rc == 0 && $passed != - ]]; then
            status=ok
        elif [[ $rc == 124 || $rc == 143 ]]; then
            status=TIMEOUT # coreutils' and busybox's timeout exit codes
            ok=1
        else
            status=FAIL
            ok=1
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kernel" "$abi" "$name" "$status" "$passed" "$failed" \
            "$skipped" "$secs" >>"$results"
    done <"$MANIFEST"
    exit_rc=$(grep -aoE '@@EXIT=[0-9]+@@' "$log" | tail -n1 | tr -dc '0-9' || true)
    if [[ -z $exit_rc ]]; then
        # The boot ended early: boot timeout, kernel panic, or /init died.
        printf '%s\t%s\t%s\tNO-EXIT\t-\t-\t-\t-\n' "$kernel" "$abi" "(boot)" >>"$results"
        ok=1
    elif [[ $exit_rc != 0 ]]; then
        ok=1
    fi
    return $ok
}

# Prints, for each binary that did not pass, its output between its BEGIN and BIN markers; if the
# run never finished, the log's tail.
show_failures() {
    local log=$1 results=$2 name
    while IFS=$'\t' read -r _ _ name status _; do
        case $status in
        ok | MISSING) continue ;; # a MISSING binary never started, or shows in the tail below
        NO-EXIT)
            echo "----- no @@EXIT@@ marker; last 60 lines of $log -----"
            tail -n 60 "$log"
            continue
            ;;
        esac
        echo "----- output of $name ($status) -----"
        awk -v n="$name" '
            index($0, "@@BEGIN " n "@@") { on = 1; next }
            on && index($0, "@@BIN " n " ") { on = 0 }
            on' "$log" | tail -n 200
    done <"$results"
}
