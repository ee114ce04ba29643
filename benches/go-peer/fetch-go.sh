#!/usr/bin/env bash
# Fetches the newest Go that Debian ships, golang-1.24-go from the trixie suite, into DIR, and prints
# the path of its `go`. It uses a private apt configuration under DIR, whose one `deb` line is
# built at run time from the URI in this machine's Debian sources (as ci/lib.sh fetches the 5.10
# kernel from bullseye), downloads the packages and unpacks them with `dpkg -x`: nothing is
# installed and the system's apt sources are not changed. When trixie cannot be reached, it takes
# bookworm's golang-1.19-go the same way. A Go already unpacked in DIR is printed at once.
#
#   benches/go-peer/fetch-go.sh DIR
set -euo pipefail
dir=${1:?usage: fetch-go.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# shellcheck source=../../ci/lib.sh
source "$(dirname "$0")/../../ci/lib.sh"

# VERSION SUITE: unpacks golang-VERSION-go and golang-VERSION-src from SUITE; prints the go binary.
fetch() {
    local version=$1 suite=$2
    local go=$dir/$suite/usr/lib/go-$version/bin/go
    if [[ -x $go ]] && "$go" version >/dev/null 2>&1; then
        printf '%s\n' "$go"
        return 0
    fi
    local apt=$dir/apt-$suite
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
    printf 'deb [trusted=yes] %s %s main\n' "$(debian_mirror_uri)" "$suite" >"$apt/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    log "go: apt-get update (private $suite config)"
    apt_env apt-get "${opts[@]}" update -qq >&2 || return 1
    log "go: downloading golang-$version-go and golang-$version-src from $suite"
    (cd "$apt/debs" && apt_env apt-get "${opts[@]}" download -qq \
        "golang-$version-go" "golang-$version-src" >&2) || return 1
    local deb
    for deb in "$apt"/debs/golang-"$version"-*.deb; do
        dpkg -x "$deb" "$dir/$suite"
    done
    rm -f "$apt"/debs/*.deb
    [[ -x $go ]] && "$go" version >/dev/null 2>&1 || return 1
    printf '%s\n' "$go"
}

fetch 1.24 trixie || fetch 1.19 bookworm || die "go: neither golang-1.24-go (trixie) nor golang-1.19-go (bookworm) could be fetched"
