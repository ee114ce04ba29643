#!/bin/sh
# /init of the test initramfs (busybox ash, PID 1). ci/lib.sh build_initrd copies it in as is, with
# /etc/io_copy-ci.env beside it. It prepares a minimal system, runs ci/run-tests.sh over /tests,
# prints @@EXIT=N@@ (run-tests.sh does) and powers off. The host reads the markers from the serial log.
# If /init itself dies the kernel panics, qemu exits (-no-reboot) and the host sees no @@EXIT@@.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# tempfile and the tests write under /tmp; /run is where network namespaces get bind-mounted.
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
# The kernel gives lo 127.0.0.1 and ::1 as it comes up.
ip link set lo up || echo "@@NOTE lo did not come up@@"

# veth.ko (and anything it needs) from this kernel's own package; tests that need it say so.
while read -r ko; do
    [ -n "$ko" ] || continue
    if insmod "/lib/modules/$ko"; then
        echo "@@MODULE $ko loaded@@"
    else
        echo "@@MODULE $ko failed to load@@"
    fi
done </lib/modules/ORDER

# shellcheck disable=SC1091 # written by build_initrd
. /etc/io_copy-ci.env
export HOME=/root TMPDIR=/tmp RUST_BACKTRACE=1
echo "@@KERNEL $(uname -r) cpus=$(nproc) IO_COPY_GUEST=$IO_COPY_GUEST IO_COPY_CASES=$IO_COPY_CASES@@"
# The crate's sources sit at /crate; make the host's crate path lead there (see build_initrd).
if [ ! -e "$CRATE_DIR" ]; then
    mkdir -p "$(dirname "$CRATE_DIR")"
    ln -s /crate "$CRATE_DIR"
fi
cd "$CRATE_DIR" || cd /crate || echo "@@NOTE cannot cd to the crate@@"
sh /ci/run-tests.sh /tests
sync
poweroff -f
# poweroff -f does not return; should it fail, exiting /init panics the kernel, which also ends qemu.
