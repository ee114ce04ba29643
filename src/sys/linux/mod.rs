//! Linux: kernel copy paths with an exact fallback chain.
//!
//! # Strategy
//!
//! Both descriptors are `fstat`ed once per copy. Then the paths are tried in this order, each
//! only where it can apply, and each only until it answers "not here":
//!
//! | source            | sink                 | chain                                            |
//! |-------------------|----------------------|--------------------------------------------------|
//! | regular file      | regular file         | copy_file_range → sendfile → read/write          |
//! | file, block device| socket, pipe, other  | sendfile → read/write                            |
//! | anything else     | anything             | read/write                                       |
//!
//! Every kernel call passes null offsets, so the kernel moves both file positions by exactly the
//! bytes it reports, as `read`/`write` would. A path left after partial progress therefore hands
//! over at the exact position, with the count kept: std asserts there, Go loses the count.
//!
//! # Advantages
//!
//! - No byte crosses into user space on the kernel paths; `copy_file_range` may reflink or
//!   offload to the server (NFS, CIFS, btrfs, xfs).
//! - One `fstat` per end and one `fcntl` for a file sink per copy; nothing per chunk.
//!
//! # Drawbacks and where the fast path does not apply
//!
//! - `sendfile` and `splice` hand the file's pages to the socket or pipe: bytes changed in the
//!   file before the peer reads them can still change in flight (rust-lang/rust#108283).
//!   [`Copier::share_file_pages`](crate::Copier::share_file_pages) turns that off.
//! - An `O_APPEND` sink and a copy of a file onto itself take the read/write loop: the kernel
//!   refuses the first, and only the loop has defined results for the second.
//! - A zero result on the first call is not trusted: procfs, sysfs and overlayfs answer 0 for
//!   files that have bytes (rust-lang/rust#75446). The next path finds out, at the cost of
//!   one extra call on a truly empty source.
//!
//! # Fallback errnos
//!
//! Each errno below means "this path cannot serve these descriptors" when a path's call returns
//! it, before or after partial progress; any other errno ends the copy with the exact count.
//! Only `ENOSYS` is remembered, process-wide: the others depend on the descriptors.
//!
//! | errno       | copy_file_range                               | sendfile                      |
//! |-------------|-----------------------------------------------|-------------------------------|
//! | ENOSYS      | kernel < 4.5, or seccomp                      | seccomp                       |
//! | EXDEV       | cross-filesystem before 5.3 (and after 5.19)  | –                             |
//! | EINVAL      | not a regular file, overlapping ranges        | sink kind refused (< 2.6.33), O_APPEND sink |
//! | EOPNOTSUPP  | filesystem without support (golang/go#40731)  | filesystem without splice     |
//! | EPERM       | old Docker seccomp profile, immutable files   | seccomp                       |
//! | EIO         | CIFS (golang/go#42400)                        | –                             |
//! | EBADF       | O_APPEND sink set after the check (golang/go#79660) | –                       |

use std::io;
use std::os::fd::BorrowedFd;

use rustix::io::Errno;

use crate::copier::{clamp, Transfer};
use crate::report::{Path, Reason};
use crate::sys::calls::{self, Kind, Meta};
use crate::sys::fd_loop::{self, Source};

/// Whether a path's syscall answered `ENOSYS`: then it is missing for the whole process.
///
/// Builds with the fault seam keep this per thread instead, so a test that injects `ENOSYS` on
/// its own thread (by the seam or by seccomp) does not change the paths of tests beside it.
mod missing {
    use super::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn slot(path: Path) -> usize {
        match path {
            Path::CopyFileRange => 0,
            Path::Sendfile => 1,
            _ => 2,
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    static MISSING: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];

    #[cfg(feature = "fault-injection")]
    thread_local! {
        static MISSING: [AtomicBool; 3] = const { [const { AtomicBool::new(false) }; 3] };
    }

    fn with<T>(f: impl FnOnce(&[AtomicBool; 3]) -> T) -> T {
        #[cfg(not(feature = "fault-injection"))]
        return f(&MISSING);
        #[cfg(feature = "fault-injection")]
        return MISSING.with(f);
    }

    pub(super) fn get(path: Path) -> bool {
        with(|m| m[slot(path)].load(Ordering::Relaxed))
    }

    pub(super) fn set(path: Path) {
        with(|m| m[slot(path)].store(true, Ordering::Relaxed));
    }
}

/// Whether `errno` from `path` means "fall back" (the table in the module documentation).
fn is_fallback(path: Path, errno: i32) -> bool {
    let e = Errno::from_raw_os_error(errno);
    match path {
        Path::CopyFileRange => [
            Errno::NOSYS,
            Errno::XDEV,
            Errno::INVAL,
            Errno::OPNOTSUPP,
            Errno::PERM,
            Errno::IO,
            Errno::BADF,
        ]
        .contains(&e),
        Path::Sendfile | Path::Splice => {
            [Errno::NOSYS, Errno::INVAL, Errno::OPNOTSUPP, Errno::PERM].contains(&e)
        }
        Path::Buffered => false,
    }
}

pub(crate) fn copy_fds(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
) -> io::Result<()> {
    if t.limit() == 0 {
        return Ok(());
    }
    let s = Meta::of(src);
    let d = Meta::of(dst);
    let source = Source {
        fd: src,
        rewind: s.is_seekable(),
    };

    if s.is_seekable() {
        // Why the kernel paths may not run at all, checked once for the whole copy.
        let blocked = if s.same_file(&d) {
            Some(Reason::SameFile)
        } else if d.kind == Kind::Regular && calls::is_append(dst) {
            Some(Reason::AppendSink)
        } else {
            None
        };
        if s.kind == Kind::Regular && d.kind == Kind::Regular {
            let gate = blocked.or(policy(t.copier().copy_file_range));
            if kernel(t, Path::CopyFileRange, gate, src, dst)? {
                return Ok(());
            }
        }
        let shares_pages = matches!(d.kind, Kind::Socket | Kind::Pipe);
        let gate = blocked
            .or(policy(t.copier().sendfile))
            .or((shares_pages && !t.copier().share_file_pages).then_some(Reason::MutableSource));
        if kernel(t, Path::Sendfile, gate, src, dst)? {
            return Ok(());
        }
        if blocked == Some(Reason::SameFile) {
            cap_at_initial_end(t, src, s.size);
        }
    }
    fd_loop::run(t, source, dst)
}

fn policy(on: bool) -> Option<Reason> {
    (!on).then_some(Reason::Disabled)
}

/// A copy of a file onto itself reads no further than the end the file had when the copy began,
/// so a sink ahead of the source cannot feed the copy forever.
fn cap_at_initial_end(t: &mut Transfer<'_>, src: BorrowedFd<'_>, size: u64) {
    if let Ok(pos) = calls::seek_cur(src, 0) {
        t.set_limit(t.limit().min(size.saturating_sub(pos)));
    }
}

/// Runs one kernel path until the source ends or the limit is reached (`Ok(true)`), or until it
/// answers "not here" (`Ok(false)`, recorded in the report). `gate` is a reason not to try it.
fn kernel(
    t: &mut Transfer<'_>,
    path: Path,
    gate: Option<Reason>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
) -> io::Result<bool> {
    let gate = gate.or_else(|| missing::get(path).then_some(Reason::Unsupported));
    if let Some(reason) = gate {
        t.fall_back(path, reason);
        return Ok(false);
    }
    let mut first = true;
    while t.limit() > 0 {
        let len = clamp(t.limit(), t.copier().chunk_size);
        t.report_mut().count_call(path);
        let res = match path {
            Path::CopyFileRange => calls::copy_file_range(src, None, dst, None, len),
            _ => calls::sendfile(dst, src, None, len),
        };
        match res {
            Ok(0) if first => {
                t.fall_back(path, Reason::ZeroFirstCall);
                return Ok(false);
            }
            Ok(0) => return Ok(true),
            Ok(n) => {
                first = false;
                t.set_limit(t.limit() - n as u64);
                t.report_mut().record(path, n as u64);
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                if errno == Errno::INTR.raw_os_error() {
                    continue;
                }
                if !is_fallback(path, errno) {
                    return Err(e);
                }
                if errno == Errno::NOSYS.raw_os_error() {
                    missing::set(path);
                }
                t.fall_back(path, Reason::Errno(errno));
                return Ok(false);
            }
        }
    }
    Ok(true)
}
