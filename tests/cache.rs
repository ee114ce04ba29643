//! The page-cache policies (`Copier::cache`): every policy against the oracle on ext4, xfs,
//! btrfs, tmpfs and overlay, off the alignment at both ends, into files, sockets and memory;
//! `RWF_DONTCACHE` refused at the first call and mid-stream through the seam; and the cache
//! footprint a copy leaves, measured with `mincore`, where a `Keep` copy must show the cache
//! filled so a broken measurement fails.
#![cfg(target_os = "linux")]

mod util;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use io_copy::fault::{self, Fault, Syscall};
use io_copy::{Cache, CacheMode, Copier, End, Reason};
use rstest::rstest;
use util::mounts::{self, LoopKind};
use util::*;

/// Where a case's files live; each keeps its filesystem mounted while it lives.
enum Place {
    Dir(tempfile::TempDir),
    /// The mount, kept alive, and a directory on it.
    Loop {
        _fs: Arc<mounts::LoopFs>,
        dir: tempfile::TempDir,
    },
    Overlay(mounts::Overlay),
}

impl Place {
    fn path(&self) -> &FsPath {
        match self {
            Place::Dir(d) | Place::Loop { dir: d, .. } => d.path(),
            Place::Overlay(o) => o.path(),
        }
    }
}

/// A scratch directory on the filesystem `fs` names, or `None` (said where a person sees it)
/// where it cannot be had.
fn place(fs: &str, test: &str) -> Option<Place> {
    match fs {
        // CARGO_TARGET_TMPDIR is under target/, on the disk (ext4 on CI's machine).
        "disk" => {
            let dir = env!("CARGO_TARGET_TMPDIR");
            std::fs::create_dir_all(dir).expect("target tmpdir");
            Some(Place::Dir(scratch_in(dir)))
        }
        "tmpfs" => require(FsPath::new("/dev/shm").is_dir(), test, "/dev/shm")
            .then(|| Place::Dir(scratch_in("/dev/shm"))),
        "xfs" | "btrfs" => {
            let kind = if fs == "xfs" {
                LoopKind::Xfs
            } else {
                LoopKind::Btrfs
            };
            if let Some(why) = mounts::loop_unavailable(kind) {
                require(false, test, &why);
                return None;
            }
            match mounts::shared(kind) {
                Ok(m) => {
                    let dir = scratch_in(m.path().to_str().expect("utf-8 mount path"));
                    Some(Place::Loop { _fs: m, dir })
                }
                Err(e) => {
                    require(false, test, &format!("a {fs} loop mount ({e})"));
                    None
                }
            }
        }
        "overlay" => {
            if let Some(why) = mounts::overlay_unavailable() {
                require(false, test, &why);
                return None;
            }
            match mounts::Overlay::new(|_| {}) {
                Ok(o) => Some(Place::Overlay(o)),
                Err(e) => {
                    require(false, test, &format!("an overlay mount ({e})"));
                    None
                }
            }
        }
        other => panic!("unknown filesystem {other}"),
    }
}

fn policy(name: &str) -> Copier {
    match name {
        "uncached" => Copier::new().cache(Cache::Uncached),
        "direct" => Copier::new().cache(Cache::Direct),
        // The threshold sends every file copy to Uncached.
        "threshold" => Copier::new().uncached_from(1),
        "keep" => Copier::new(),
        // copy_file_range may reflink (xfs, btrfs) and share extents instead of filling the
        // cache: sendfile goes through it on every filesystem.
        "keep-cached" => Copier::new().copy_file_range(false),
        other => panic!("unknown policy {other}"),
    }
}

/// The fraction of `path`'s pages in the page cache, by `mincore` on a fresh mapping.
fn cached_fraction(path: &FsPath) -> f64 {
    let f = File::open(path).expect("open for mincore");
    let len = f.metadata().expect("stat").len() as usize;
    if len == 0 {
        return 0.0;
    }
    let pages = len.div_ceil(4096);
    let mut vec = vec![0u8; pages];
    // SAFETY: a new read-only shared mapping of `len` bytes, never dereferenced; `vec` holds a
    // byte for each of its pages; unmapped before return.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        assert_ne!(addr, libc::MAP_FAILED, "mmap {}", path.display());
        assert_eq!(libc::mincore(addr, len, vec.as_mut_ptr()), 0, "mincore");
        libc::munmap(addr, len);
    }
    vec.iter().filter(|v| *v & 1 != 0).count() as f64 / pages as f64
}

/// Writes `data` to `path`, waits for its writeback and drops its pages: a cold file.
fn cold_file(path: &FsPath, data: &[u8]) {
    let mut f = File::create(path).expect("create");
    f.write_all(data).expect("write");
    f.sync_all().expect("fsync");
    nix::fcntl::posix_fadvise(
        &f,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .expect("fadvise");
}

/// Every policy copies exactly, from any start, at any length off the alignment, into a file,
/// a TCP socket or a `Vec`, on every filesystem: the count, the sink's bytes, both positions
/// and the mode the report names for each end.
#[rstest]
fn policy_copies_exactly(
    #[values("uncached", "direct", "threshold")] pol: &str,
    #[values("disk", "tmpfs", "xfs", "btrfs", "overlay")] fs: &str,
    #[values(1, 4095, 100_003, (33 << 20) + 7)] len: usize,
    #[values(0, 513, 4096)] start: u64,
    #[values("file", "tcp", "vec")] sink: &str,
) {
    if len > 1 << 20 && (sink != "file" || start == 4096 || fs == "overlay") {
        return;
    }
    // Under TCG a qemu guest copies 15-20x slower: the copies across a batch boundary run on
    // the host, the guests keep the small ones (their kernels refuse RWF_DONTCACHE).
    if len > 1 << 20 && std::env::var_os("IO_COPY_GUEST").is_some() {
        return;
    }
    let test = "policy_copies_exactly";
    let Some(place) = place(fs, test) else { return };
    let data = pattern(start as usize + len, len as u64);
    let (mut src, _) = source_file(place.path(), "src", &data);
    seek(&mut src, start);
    let copier = policy(pol);
    let want = &data[start as usize..];
    let (report, got) = match sink {
        "file" => {
            let (mut dst, dst_path) = sink_file(place.path(), "dst");
            let r = copier.copy(&mut src, &mut dst).expect("copy");
            assert_eq!(position(&mut dst), len as u64, "sink position");
            drop(dst);
            (r, std::fs::read(dst_path).expect("read sink"))
        }
        "tcp" => {
            let (mut a, b) = tcp_pair();
            let h = drain(b);
            let r = copier.copy(&mut src, &mut a).expect("copy");
            drop(a);
            (r, h.join().expect("drain"))
        }
        _ => {
            let mut v = Vec::new();
            let r = copier.copy(&mut src, &mut v).expect("copy");
            (r, v)
        }
    };
    assert_eq!(report.written(), len as u64, "{pol} {fs} {sink}: count");
    assert!(got == want, "{pol} {fs} {sink}: bytes differ");
    assert_eq!(position(&mut src), start + len as u64, "source position");
    if sink != "vec" {
        let mode = report.cache_mode(End::Source);
        assert!(
            mode.is_some() && mode != Some(CacheMode::Kept),
            "{pol}: source mode {mode:?}"
        );
    }
    if sink == "file" {
        assert!(report.cache_mode(End::Sink).is_some(), "{pol}: sink mode");
    }
}

/// `Copier::copy_at` and `copy_n` under each policy: the offsets and the limit hold.
#[rstest]
fn policy_keeps_offsets_and_limits(#[values("uncached", "direct")] pol: &str) {
    let Some(place) = place("disk", "policy_keeps_offsets_and_limits") else {
        return;
    };
    let data = pattern(3 << 20, 9);
    let (src, _) = source_file(place.path(), "src", &data);
    let (dst, dst_path) = sink_file(place.path(), "dst");
    let r = policy(pol)
        .copy_at(&src, 4097, &dst, 11, 2 << 20)
        .expect("copy_at");
    assert_eq!(r.written(), 2 << 20);
    let got = std::fs::read(&dst_path).expect("read");
    assert_eq!(got.len(), 11 + (2 << 20));
    assert!(got[11..] == data[4097..4097 + (2 << 20)], "range bytes");
    let mut src = File::open(place.path().join("src")).expect("open");
    let (mut dst, dst_path) = sink_file(place.path(), "dst2");
    let r = policy(pol)
        .copy_n(&mut src, &mut dst, 1_000_001)
        .expect("copy_n");
    assert_eq!(r.written(), 1_000_001);
    assert_eq!(position(&mut src), 1_000_001);
    assert!(std::fs::read(dst_path).expect("read")[..] == data[..1_000_001]);
}

/// A source opened with O_DIRECT, under every policy: exact.
#[rstest]
fn o_direct_source_under_every_policy(#[values("keep", "uncached", "direct")] pol: &str) {
    let Some(place) = place("disk", "o_direct_source_under_every_policy") else {
        return;
    };
    let data = pattern((1 << 20) + 7, 3);
    let (_, path) = source_file(place.path(), "src", &data);
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path);
    // A qemu guest's RAM-backed root refuses O_DIRECT.
    let mut src = match opened {
        Ok(f) => f,
        Err(e) => {
            require(
                false,
                "o_direct_source_under_every_policy",
                &format!("O_DIRECT ({e})"),
            );
            return;
        }
    };
    let (mut dst, dst_path) = sink_file(place.path(), "dst");
    let r = policy(pol).copy(&mut src, &mut dst).expect("copy");
    assert_eq!(r.written(), data.len() as u64);
    assert!(std::fs::read(dst_path).expect("read") == data);
}

/// RWF_DONTCACHE refused (EOPNOTSUPP, as before Linux 6.14, or EINVAL) at the first read or
/// write, or after bytes moved, through the seam: the copy goes on dropped behind at the exact
/// position, and the report says why. EINTR is retried.
#[rstest]
fn dontcache_refused_falls_back_exactly(
    #[values(Syscall::Read, Syscall::Write)] call: Syscall,
    #[values(0, 2)] after: usize,
    #[values(libc::EOPNOTSUPP, libc::EINVAL, libc::EINTR)] errno: i32,
) {
    let test = "dontcache_refused_falls_back_exactly";
    let Some(place) = place("disk", test) else {
        return;
    };
    // The scripted refusal is the first one only where the kernel and filesystem take the flag
    // (Linux 6.14 on, ext4 on CI's machine); older kernels refuse it themselves, which
    // `dontcache_absent_by_seccomp_drops_behind` and the guests' exactness cases cover.
    if !require(
        takes_dontcache(place.path()),
        test,
        "RWF_DONTCACHE (Linux 6.14+, ext4 or xfs)",
    ) {
        return;
    }
    let data = pattern((5 << 20) + 3, 5);
    let (mut src, _) = source_file(place.path(), "src", &data);
    let (mut dst, dst_path) = sink_file(place.path(), "dst");
    fault::forget_dontcache();
    let mut script = vec![Fault::Pass; after];
    script.push(Fault::Errno(errno));
    fault::inject(call, script);
    let res = Copier::new()
        .cache(Cache::Uncached)
        .copy(&mut src, &mut dst);
    fault::clear();
    fault::forget_dontcache();
    let r = res.expect("copy");
    assert_eq!(r.written(), data.len() as u64);
    assert_eq!(position(&mut src), data.len() as u64);
    assert_eq!(position(&mut dst), data.len() as u64);
    assert!(std::fs::read(dst_path).expect("read") == data, "bytes");
    let end = if call == Syscall::Read {
        End::Source
    } else {
        End::Sink
    };
    if errno == libc::EINTR {
        assert_eq!(r.cache_fallback(end), None, "EINTR is retried");
    } else {
        assert_eq!(r.cache_fallback(end), Some(Reason::Errno(errno)));
        assert_eq!(r.cache_mode(end), Some(CacheMode::DropBehind));
    }
}

/// A failing sink write under a policy keeps the count exact and the source's position at the
/// bytes that landed.
#[rstest]
fn policy_write_error_keeps_count(#[values("uncached", "direct")] pol: &str) {
    let Some(place) = place("disk", "policy_write_error_keeps_count") else {
        return;
    };
    let data = pattern(3 << 20, 4);
    let (mut src, _) = source_file(place.path(), "src", &data);
    let (mut dst, dst_path) = sink_file(place.path(), "dst");
    fault::inject(Syscall::Write, vec![Fault::Pass, Fault::Errno(libc::EIO)]);
    let res = policy(pol).copy(&mut src, &mut dst);
    fault::clear();
    let err = res.expect_err("EIO");
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    let n = err.written();
    assert!(n > 0, "the first write landed");
    assert_eq!(position(&mut src), n, "source position at the count");
    assert_eq!(position(&mut dst), n, "sink position at the count");
    assert!(std::fs::read(dst_path).expect("read")[..] == data[..n as usize]);
}

/// Bad input: a read-only sink under Direct is not written through a second descriptor; the
/// copy fails with EBADF at 0 bytes. An offset past i64::MAX is refused with a clear error.
#[test]
fn policy_bad_input_is_a_clear_error() {
    let Some(place) = place("disk", "policy_bad_input_is_a_clear_error") else {
        return;
    };
    let data = pattern(100_000, 6);
    let (mut src, _) = source_file(place.path(), "src", &data);
    std::fs::write(place.path().join("ro"), b"").expect("create");
    let mut ro = File::open(place.path().join("ro")).expect("open read-only");
    for pol in ["uncached", "direct"] {
        seek(&mut src, 0);
        let err = policy(pol)
            .copy(&mut src, &mut ro)
            .expect_err("read-only sink");
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{pol}");
        assert_eq!(err.written(), 0);
        assert_eq!(std::fs::metadata(place.path().join("ro")).unwrap().len(), 0);
        let (dst, _) = sink_file(place.path(), "dst");
        let err = policy(pol)
            .copy_at(&src, u64::MAX - 5, &dst, 0, 10)
            .expect_err("offset past i64::MAX");
        assert_eq!(err.written(), 0);
        assert!(
            matches!(err.kind(), io::ErrorKind::InvalidInput),
            "{pol}: {err}"
        );
    }
}

/// The footprint: on the disk (ext4 on CI), a `Keep` copy of a cold 64 MiB file leaves the
/// sink cached (so the measurement can see pages), while `Uncached` and `Direct` leave at most
/// 5% of the copied bytes cached at either end; and a hot source stays at least 95% cached.
/// Also on btrfs, where RWF_DONTCACHE is refused and the copy drops behind.
#[rstest]
fn footprint_follows_the_policy(#[values("disk", "btrfs", "xfs")] fs: &str) {
    let test = "footprint_follows_the_policy";
    if std::env::var_os("IO_COPY_GUEST").is_some() {
        // A guest's root is RAM-backed: its pages cannot be dropped.
        require(
            false,
            test,
            "a disk filesystem (the guest's root is in RAM)",
        );
        return;
    }
    let Some(place) = place(fs, test) else { return };
    let len = 64 << 20;
    let data = pattern(len, 8);
    let src_path = place.path().join("src");
    let copy = |pol: &str, name: &str| -> PathBuf {
        let mut src = File::open(&src_path).expect("open");
        let dst_path = place.path().join(name);
        let mut dst = File::create(&dst_path).expect("create");
        let r = policy(pol).copy(&mut src, &mut dst).expect("copy");
        assert_eq!(r.written(), len as u64);
        dst_path
    };
    cold_file(&src_path, &data);
    let kept = copy("keep-cached", "kept");
    let kept_sink = cached_fraction(&kept);
    assert!(
        kept_sink > 0.9,
        "{fs}: a Keep copy leaves its sink cached ({kept_sink:.3})"
    );
    for pol in ["uncached", "direct"] {
        cold_file(&src_path, &data);
        let dst = copy(pol, pol);
        let (s, d) = (cached_fraction(&src_path), cached_fraction(&dst));
        assert!(s <= 0.05, "{fs} {pol}: source {s:.3} cached");
        assert!(d <= 0.05, "{fs} {pol}: sink {d:.3} cached");
        // A hot source stays hot.
        std::fs::read(&src_path).expect("warm");
        assert!(cached_fraction(&src_path) > 0.99, "{fs}: the source warmed");
        let dst = copy(pol, &format!("{pol}-hot"));
        let s = cached_fraction(&src_path);
        assert!(s >= 0.95, "{fs} {pol}: hot source kept {s:.3}");
        let d = cached_fraction(&dst);
        assert!(
            d <= 0.05,
            "{fs} {pol}: sink {d:.3} cached after a hot source"
        );
    }
}

/// The threshold sends large files past the cache and leaves small ones on the kernel paths.
#[test]
fn threshold_picks_by_size() {
    let Some(place) = place("disk", "threshold_picks_by_size") else {
        return;
    };
    let copier = Copier::new().uncached_from(1 << 20);
    for (len, uncached) in [(100_000usize, false), (1 << 20, true)] {
        let data = pattern(len, 2);
        let (mut src, _) = source_file(place.path(), "src", &data);
        let (mut dst, _) = sink_file(place.path(), "dst");
        let r = copier.copy(&mut src, &mut dst).expect("copy");
        assert_eq!(r.written(), len as u64);
        assert_eq!(r.cache_mode(End::Source).is_some(), uncached, "{len}");
    }
}

/// A kernel before 6.14, emulated with seccomp on the copy's thread: `preadv2` and `pwritev2`
/// answer EOPNOTSUPP, as an older kernel does for a flag it does not know. The copy drops
/// behind at both ends, exactly, and its report says why.
#[test]
fn dontcache_absent_by_seccomp_drops_behind() {
    let Some(place) = place("disk", "dontcache_absent_by_seccomp_drops_behind") else {
        return;
    };
    let data = pattern((3 << 20) + 11, 12);
    let (src, _) = source_file(place.path(), "src", &data);
    let (dst, dst_path) = sink_file(place.path(), "dst");
    let r = std::thread::spawn(move || {
        let (mut src, mut dst) = (src, dst);
        for call in [libc::SYS_preadv2, libc::SYS_pwritev2] {
            util::seccomp::deny(call, libc::EOPNOTSUPP).expect("seccomp");
        }
        Copier::new()
            .cache(Cache::Uncached)
            .copy(&mut src, &mut dst)
    })
    .join()
    .expect("copy thread")
    .expect("copy");
    assert_eq!(r.written(), data.len() as u64);
    assert!(std::fs::read(dst_path).expect("read") == data);
    assert_eq!(
        r.cache_fallback(End::Source),
        Some(Reason::Errno(libc::EOPNOTSUPP))
    );
    assert_eq!(r.cache_mode(End::Source), Some(CacheMode::DropBehind));
    assert_eq!(r.cache_mode(End::Sink), Some(CacheMode::DropBehind));
}

/// A file-to-file copy that the kernel clones (xfs and btrfs reflinks) moves no byte through
/// the page cache: under Uncached and Direct it stays on copy_file_range after its first MiB,
/// while on the disk's ext4, which copies through the cache, the rest takes the loop.
#[rstest]
fn clones_stay_on_copy_file_range(
    #[values("disk", "xfs", "btrfs")] fs: &str,
    #[values("uncached", "direct")] pol: &str,
) {
    let test = "clones_stay_on_copy_file_range";
    if std::env::var_os("IO_COPY_GUEST").is_some() {
        // A guest's root is RAM-backed: its pages cannot be dropped.
        require(
            false,
            test,
            "a disk filesystem (the guest's root is in RAM)",
        );
        return;
    }
    let Some(place) = place(fs, test) else {
        return;
    };
    let data = pattern(9 << 20, 13);
    let src_path = place.path().join("src");
    cold_file(&src_path, &data);
    let mut src = File::open(&src_path).expect("open");
    let (mut dst, dst_path) = sink_file(place.path(), "dst");
    let r = policy(pol).copy(&mut src, &mut dst).expect("copy");
    assert_eq!(r.written(), data.len() as u64);
    // Before the bytes are read back, which caches them.
    let (s, d) = (cached_fraction(&src_path), cached_fraction(&dst_path));
    assert!(std::fs::read(&dst_path).expect("read") == data);
    let cfr = r.path_stats(io_copy::Path::CopyFileRange).bytes;
    let clones = is_reflink(&place);
    if clones {
        assert_eq!(cfr, data.len() as u64, "{fs} {pol}: {r}");
        assert_eq!(r.cache_mode(End::Sink), Some(CacheMode::DropBehind));
    } else {
        assert!(
            cfr <= 1 << 20,
            "{fs} {pol}: only the probe by copy_file_range: {r}"
        );
    }
    assert!(s <= 0.05 && d <= 0.05, "{fs} {pol}: cached {s:.3}, {d:.3}");
}

/// Whether the place's filesystem clones file ranges (a FICLONE ioctl between two files).
fn is_reflink(place: &Place) -> bool {
    let a = place.path().join("clone-a");
    let b = place.path().join("clone-b");
    std::fs::write(&a, vec![1u8; 4096]).expect("write");
    let fa = File::open(&a).expect("open");
    let fb = File::create(&b).expect("create");
    // SAFETY: FICLONE takes the source descriptor as its argument and touches no memory.
    let res = unsafe { libc::ioctl(fb.as_raw_fd(), libc::FICLONE as _, fa.as_raw_fd()) };
    res == 0
}

/// Whether files in `dir` take `RWF_DONTCACHE`: a one-byte `preadv2` with the flag.
fn takes_dontcache(dir: &FsPath) -> bool {
    let path = dir.join("dontcache-probe");
    std::fs::write(&path, b"x").expect("write probe");
    let f = File::open(&path).expect("open probe");
    let mut byte = [0u8; 1];
    let iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: one iovec over a live one-byte buffer; the descriptor is open.
    let n = unsafe { libc::preadv2(f.as_raw_fd(), &iov, 1, 0, 0x80) };
    n == 1
}

/// An O_APPEND sink under a policy: the bytes land after what the file had, its position ends
/// at its end, and the report says the sink kept the cache for that reason.
#[rstest]
fn append_sink_appends_and_keeps_its_position(#[values("uncached", "direct")] pol: &str) {
    let Some(place) = place("disk", "append_sink_appends_and_keeps_its_position") else {
        return;
    };
    let data = pattern((2 << 20) + 5, 14);
    let (mut src, _) = source_file(place.path(), "src", &data);
    let dst_path = place.path().join("log");
    std::fs::write(&dst_path, b"old\n").expect("write");
    let mut dst = OpenOptions::new()
        .append(true)
        .open(&dst_path)
        .expect("open append");
    let r = policy(pol).copy(&mut src, &mut dst).expect("copy");
    assert_eq!(r.written(), data.len() as u64);
    let got = std::fs::read(&dst_path).expect("read");
    assert_eq!(got.len(), 4 + data.len());
    assert!(
        got[..4] == b"old\n"[..] && got[4..] == data[..],
        "{pol}: appended bytes"
    );
    assert_eq!(
        position(&mut dst),
        got.len() as u64,
        "{pol}: the position is the end"
    );
    assert_eq!(r.cache_fallback(End::Sink), Some(Reason::AppendSink));
    assert_eq!(r.cache_mode(End::Sink), Some(CacheMode::Kept));
}
