//! Linux: kernel copy paths with an exact fallback chain.
//!
//! # Strategy
//!
//! Each end is learned once per copy: a pipe, `TcpStream` or `UnixStream` from its std type
//! (which promises what it is, as std's own `io::copy` trusts), anything else from an `fstat`
//! (sockets also asked their `SO_TYPE`). Then the paths are tried in this order, each only where
//! it can apply, and each only until it answers "not here".
//!
//! Two shortcuts come first. A copy known to be smaller than [`Copier::small_copy`] (64 KiB)
//! asks nothing: where the std types of its ends name one kernel call (splice out of a pipe, or
//! from a stream socket into a pipe; sendfile from a `File` into a pipe or stream socket) it
//! makes that call, and otherwise it takes the read/write loop. And a regular file (by its `fstat`) copied into a
//! [`File`](std::fs::File) sink, read from its position with the default chunk size, gets one
//! `copy_file_range` before the sink is probed, since a `File` is most often a regular file; when
//! that call finishes the copy, the sink is never `fstat`ed. The call is safe on any sink from
//! Linux 5.3 on (asked of `uname` once; older kernels probe first): the kernel refuses a sink that
//! is not a regular file (reported as a fallback, then the chain below runs) and overlapping
//! ranges of one file, and reads no further than the end the source has. A copy of a file onto
//! itself whose ranges do not overlap therefore gets the bytes the read/write loop would give; the
//! rest of it, if the call stopped short, takes the loop. A copy that call does not finish goes
//! on down the chain.
//!
//! | source              | sink                          | chain                                   |
//! |---------------------|-------------------------------|-----------------------------------------|
//! | regular file        | regular file                  | copy_file_range → sendfile → read/write |
//! | file, block device  | socket, pipe, anything else   | sendfile → read/write                   |
//! | pipe                | anything                      | read/write, half the pipe per read      |
//! | pipe, with [`Copier::splice_from_pipe`] | file, stream socket, pipe | splice → read/write   |
//! | stream socket       | pipe                          | splice → read/write                     |
//! | stream socket       | stream socket, regular file   | read/write while reads come back short of [`Copier::first_read`], then splice through a pooled pipe → read/write |
//! | anything else       | anything                      | read/write                              |
//!
//! Every kernel call passes null offsets (or, for [`Copier::copy_range`] and
//! [`Copier::copy_at`], the caller's offsets), so the kernel moves both file positions by exactly
//! the bytes it reports, as `read`/`write` would. A path left after partial progress therefore
//! hands over at the exact position, with the count kept: std asserts there, Go loses the count.
//!
//! File → pipe takes sendfile, which the kernel serves with the same splice machinery as
//! `splice` itself; the benches compare both.
//!
//! Before sendfile or splice write a copy known to be larger than 64 KiB into a pipe (from a
//! file) or a Unix stream socket, the sink's kernel buffer is grown to hold it, up to
//! [`Copier::pipe_size`] ([`Copier::grow_buffers`]): each time a small buffer fills, its reader
//! has to be woken, and on an idle VM that hand-over, not the copy, sets the speed.
//!
//! # Advantages
//!
//! - No byte crosses into user space on the kernel paths; `copy_file_range` may reflink or
//!   offload to the server (NFS, CIFS, btrfs, xfs).
//! - A relay between sockets moves pages through a pipe of (by default) 1 MiB, taken from a
//!   pool, so a copy pays no pipe creation.
//! - At most one `fstat` per end and one `getsockopt` per socket per copy (none for the ends
//!   whose std type says what they are), one `fcntl` for a file sink that `copy_file_range` did
//!   not fill, one (`F_GETPIPE_SZ`) for a pipe source, and two or three to grow a sink; nothing
//!   per chunk. A regular-file source that gave the bytes its size promised is not asked once more
//!   to see its end, so a whole small file copied into a `File` is two syscalls: an `fstat` and
//!   one `copy_file_range`.
//!
//! # Drawbacks and where the fast path does not apply
//!
//! - `sendfile` and `splice` hand the file's pages to the socket or pipe: bytes changed in the
//!   file before the peer reads them can still change in flight (rust-lang/rust#108283).
//!   [`Copier::share_file_pages`] turns that off.
//! - A `File` sink that is not a regular file (a socket or pipe turned into a `File`,
//!   `/dev/null`) pays one refused `copy_file_range` before its path.
//! - A grown pipe or socket buffer belongs to the caller and stays grown; grown pipes count
//!   against the per-user limit `/proc/sys/fs/pipe-user-pages-soft`.
//! - An `O_APPEND` sink and a copy of a file onto itself take the read/write loop: the kernel
//!   refuses the first (`copy_file_range` is still tried once, and its `EBADF` is then reported
//!   as [`Reason::AppendSink`]), and only the loop has defined results for the second where its
//!   ranges overlap (the shortcut above may serve one whose ranges do not).
//! - Unix `SOCK_SEQPACKET` and `SOCK_DGRAM` sockets keep message boundaries that splice would
//!   merge, and ttys, eventfds and other character devices have no splice support worth a
//!   try (golang/go#59041): they take the read/write loop.
//! - A zero result on the first call is not trusted: procfs, sysfs and overlayfs answer 0 for
//!   files that have bytes (rust-lang/rust#75446). The next path finds out, at the cost of
//!   an extra call or two on a truly empty source.
//! - A relay that fails after bytes entered its pipe cannot put them back into the socket: the
//!   error counts them ([`Report::stranded`]), or a [`Resumable`] keeps them. Go drops them
//!   silently.
//!
//! # Fallback errnos
//!
//! Each errno below means "this path cannot serve these descriptors" when a path's call returns
//! it, before or after partial progress; any other errno ends the copy with the exact count.
//! `EINTR` is retried; `EAGAIN` ends the copy with [`io::ErrorKind::WouldBlock`] and is never
//! retried in a loop (golang/go#75304). Only `ENOSYS` is remembered, process-wide, and only
//! after a call of length 0 on the same descriptors answers `ENOSYS` too (a filesystem such as
//! FUSE can answer `ENOSYS` for one file, where the kernel does not reach the filesystem for a
//! length of 0): the other errnos depend on the descriptors.
//!
//! | errno      | copy_file_range                                     | sendfile, splice               |
//! |------------|-----------------------------------------------------|--------------------------------|
//! | ENOSYS     | kernel < 4.5, or seccomp                            | seccomp                        |
//! | EXDEV      | cross-filesystem before 5.3 (and again after 5.19)  | –                              |
//! | EINVAL     | not a regular file, overlapping ranges              | sink kind refused (< 2.6.33), O_APPEND sink, Unix sockets on old kernels (golang/go#27513) |
//! | EOPNOTSUPP | filesystem without support (golang/go#40731)        | filesystem without splice      |
//! | EPERM      | old Docker seccomp profile, immutable files         | seccomp                        |
//! | EIO        | CIFS (golang/go#42400)                              | –                              |
//! | EOVERFLOW  | offset past the sink filesystem's maximum file size | the same                       |
//! | EFBIG      | sink at its maximum size, checked before the source's end | the same: the loop reads first, so a source at its end still ends with `Ok` |
//! | EBADF      | O_APPEND sink set after the check (golang/go#79660) | –                              |
//!
//! [`Copier::copy_range`]: crate::Copier::copy_range
//! [`Copier::splice_from_pipe`]: crate::Copier::splice_from_pipe
//! [`Copier::small_copy`]: crate::Copier::small_copy
//! [`Copier::first_read`]: crate::Copier::first_read
//! [`Copier::pipe_size`]: crate::Copier::pipe_size
//! [`Copier::grow_buffers`]: crate::Copier::grow_buffers
//! [`Copier::copy_at`]: crate::Copier::copy_at
//! [`Copier::share_file_pages`]: crate::Copier::share_file_pages
//! [`Report::stranded`]: crate::Report::stranded
//! [`Reason::AppendSink`]: crate::Reason::AppendSink
//! [`Resumable`]: crate::Resumable

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::io::Errno;

use crate::copier::MAX_CHUNK;
use crate::report::{End, Path, Reason};
use crate::sys::calls::{self, Kind, Meta};
use crate::sys::fd_loop::{self, FdIn, FdOut};
use crate::sys::pipe::{self, Pipe};
use crate::transfer::{clamp, Hint, Transfer};

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
fn is_fallback(path: Path, errno: Errno) -> bool {
    match path {
        Path::CopyFileRange => [
            Errno::NOSYS,
            Errno::XDEV,
            Errno::INVAL,
            Errno::OPNOTSUPP,
            Errno::PERM,
            Errno::IO,
            Errno::BADF,
            Errno::OVERFLOW,
            Errno::FBIG,
        ]
        .contains(&errno),
        Path::Sendfile | Path::Splice => [
            Errno::NOSYS,
            Errno::INVAL,
            Errno::OPNOTSUPP,
            Errno::PERM,
            Errno::OVERFLOW,
            Errno::FBIG,
        ]
        .contains(&errno),
        Path::Buffered => false,
    }
}

/// What a kernel call's error means for the path that made it.
enum Failure {
    Retry,
    FallBack(Reason),
    Fatal(io::Error),
}

/// Sorts an error of `path`'s call on `e`; `blocked` names the end an `EAGAIN` came from.
fn classify(
    t: &mut Transfer<'_>,
    path: Path,
    err: io::Error,
    (src, dst): (BorrowedFd<'_>, BorrowedFd<'_>),
    blocked: Option<End>,
) -> Failure {
    // A runtime's "not ready", answered without the call, carries no errno.
    let errno = match Errno::from_io_error(&err) {
        Some(errno) => errno,
        None if err.kind() == io::ErrorKind::WouldBlock => Errno::AGAIN,
        None => Errno::IO,
    };
    if errno == Errno::INTR {
        return Failure::Retry;
    }
    if errno == Errno::AGAIN {
        let end = blocked.or_else(|| unready_end(src, dst));
        t.report_mut().set_blocked_on(end);
        return Failure::Fatal(err);
    }
    if !is_fallback(path, errno) {
        return Failure::Fatal(err);
    }
    if errno == Errno::NOSYS
        && call(path, src, dst, None, None, 0)
            .is_err_and(|e| e.raw_os_error() == Some(Errno::NOSYS.raw_os_error()))
    {
        missing::set(path);
    }
    Failure::FallBack(Reason::Errno(errno.raw_os_error()))
}

/// Which end of a call that answered `EAGAIN` is not ready, by a `poll` that does not wait.
fn unready_end(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Option<End> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [
        PollFd::new(&src, PollFlags::IN),
        PollFd::new(&dst, PollFlags::OUT),
    ];
    let now = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now)).ok()?;
    if !fds[0]
        .revents()
        .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
    {
        Some(End::Source)
    } else if !fds[1].revents().intersects(PollFlags::OUT | PollFlags::ERR) {
        Some(End::Sink)
    } else {
        None
    }
}

/// The two descriptors of a copy and what `fstat` says of them.
#[derive(Clone, Copy)]
struct Ends<'a> {
    src: BorrowedFd<'a>,
    dst: BorrowedFd<'a>,
    s: Meta,
    d: Meta,
    /// [`Transfer::consumed`] when the copy reached the descriptors.
    start: u64,
}

impl Ends<'_> {
    /// Whether a regular-file source has given all the bytes its size promised: from its
    /// offset, or, read from its position, as many bytes as the file has (so it started at 0),
    /// with the last call (`got` of `asked` bytes) stopping short. The call that would answer 0
    /// is then skipped. A file that grows during the copy may lose the race either way.
    fn source_spent(&self, t: &Transfer<'_>, got: usize, asked: usize) -> bool {
        got < asked
            && self.s.kind == Kind::Regular
            && self.s.size > 0
            && match t.src_off {
                Some(off) => off == self.s.size,
                None => t.consumed() - self.start == self.s.size,
            }
    }
}

/// One call of a direct path (copy_file_range, sendfile, or splice with a pipe at one end).
fn call(
    path: Path,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    src_off: Option<&mut u64>,
    dst_off: Option<&mut u64>,
    len: usize,
) -> io::Result<usize> {
    match path {
        Path::CopyFileRange => calls::copy_file_range(src, src_off, dst, dst_off, len),
        Path::Sendfile => calls::sendfile(dst, src, src_off, len),
        _ => calls::splice(src, src_off, dst, dst_off, len),
    }
}

mod cache;
mod residency;

pub(crate) fn copy_fds(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
) -> io::Result<()> {
    if cache::copy(t, src, dst)? {
        return Ok(());
    }
    copy_kept(t, src, dst)
}

/// The chain, through the page cache.
fn copy_kept(t: &mut Transfer<'_>, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    if t.limit() == 0 {
        return Ok(());
    }
    let c = *t.copier();
    let start = t.consumed();
    // A regular file into a `File` sink: copy_file_range is tried before the sink is asked what
    // it is, so a whole small file costs an fstat and one call.
    let file_first = t.hint(End::Sink, dst.as_raw_fd()) == Some(Hint::File)
        && t.src_off.is_none()
        && t.dst_off.is_none()
        && c.copy_file_range
        && c.chunk_size == MAX_CHUNK
        && !missing::get(Path::CopyFileRange)
        && kernel_checks_ranges();
    // Too small for the kernel paths to pay for their probes (the limit bounds a copy of a file
    // onto itself; `copy_at`, which must refuse overlap, always probes). A failed write finds
    // out then whether the source is a file that can take bytes back.
    let small = t.limit() < c.small_copy && t.dst_off.is_none();
    let small_loop = |t: &mut Transfer<'_>| {
        let socket =
            |end, fd: BorrowedFd<'_>| t.hint(end, fd.as_raw_fd()).is_some_and(Hint::is_stream);
        let input = FdIn {
            socket: socket(End::Source, src),
            ..FdIn::plain(src)
        };
        let output = FdOut {
            socket: socket(End::Sink, dst),
            ..FdOut::plain(dst)
        };
        fd_loop::run(t, input, output)
    };
    if small {
        if small_by_hints(t, src, dst, start)? {
            return Ok(());
        }
        if !file_first {
            return small_loop(t);
        }
    }
    let s = Meta::probe(src, t.hint(End::Source, src.as_raw_fd()));
    if small && s.kind != Kind::Regular {
        return small_loop(t);
    }
    let first = if file_first && s.kind == Kind::Regular {
        match first_copy_file_range(t, src, dst, &s, start)? {
            Some(first) => Some(first),
            None => return Ok(()),
        }
    } else {
        None
    };
    let e = Ends {
        src,
        dst,
        s,
        d: Meta::probe(dst, t.hint(End::Sink, dst.as_raw_fd())),
        start,
    };
    let same = e.s.same_file(&e.d);
    if same {
        // Whatever path runs reads no further than the end the file has now, so a sink ahead
        // of the source cannot feed the copy forever.
        fd_loop::cap_at_initial_end(t, src, e.s.size);
        if first.is_some() && t.limit() == 0 {
            // The first copy_file_range reached the end the file had.
            return Ok(());
        }
        if let (Some(s), Some(d)) = (t.src_off, t.dst_off) {
            if s < d.saturating_add(t.limit()) && d < s.saturating_add(t.limit()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "io_copy: overlapping ranges of the same file",
                ));
            }
        }
    }
    // Why no kernel path may run, checked once for the whole copy. Two ranges of one file at
    // explicit offsets do not overlap (checked above): the kernel copies them.
    let mut blocked =
        (same && (t.src_off.is_none() || t.dst_off.is_none())).then_some(Reason::SameFile);
    let regular_pair = e.s.kind == Kind::Regular && e.d.kind == Kind::Regular;
    // copy_file_range refuses an O_APPEND sink with EBADF, so the flag is asked only when it did
    // not finish the copy: a file-to-file copy pays no fcntl.
    match first {
        None if regular_pair => {
            let gate = blocked.or((!c.copy_file_range).then_some(Reason::Disabled));
            if direct(t, Path::CopyFileRange, gate, &e, true)? {
                return Ok(());
            }
        }
        None => {}
        // The first call moved bytes: the rest of a copy of a file onto itself takes the loop.
        Some(First::Moved) => match blocked {
            Some(reason) => t.fall_back(Path::CopyFileRange, reason),
            None => {
                if direct(t, Path::CopyFileRange, None, &e, false)? {
                    return Ok(());
                }
            }
        },
        Some(First::Left(reason)) => t.fall_back(Path::CopyFileRange, blocked.unwrap_or(reason)),
    }
    if blocked.is_none() && e.d.kind == Kind::Regular && calls::is_append(dst) {
        blocked = Some(Reason::AppendSink);
        t.report_mut().refine_fallback(
            Path::CopyFileRange,
            Errno::BADF.raw_os_error(),
            Reason::AppendSink,
        );
    }
    let policy = |on: bool| blocked.or((!on).then_some(Reason::Disabled));
    let pages_shared = e.s.is_seekable() && matches!(e.d.kind, Kind::Socket | Kind::Pipe);
    let page_gate = (pages_shared && !c.share_file_pages).then_some(Reason::MutableSource);
    // Splice needs a pipe, a stream socket or a file at each end; sockets are asked their type
    // only where splice may run.
    let stream = |m: &Meta, fd| {
        m.kind == Kind::Pipe
            || (m.kind == Kind::Socket && (m.stream || calls::is_stream_socket(fd)))
    };
    let spliceable = || {
        (e.s.is_seekable() || stream(&e.s, src)) && (e.d.kind == Kind::Regular || stream(&e.d, dst))
    };

    let done = if e.s.is_seekable() {
        // sendfile writes at the sink's position only.
        t.dst_off.is_none()
            && direct(
                t,
                Path::Sendfile,
                policy(c.sendfile).or(page_gate),
                &e,
                true,
            )?
    } else if e.s.kind == Kind::Pipe && !c.splice_from_pipe {
        // The read/write loop outran splice out of a pipe that a writer feeds.
        false
    } else if (e.s.kind == Kind::Pipe || e.d.kind == Kind::Pipe)
        && !(t.gated() && e.d.kind != Kind::Regular)
    {
        spliceable() && direct(t, Path::Splice, policy(c.splice), &e, true)?
    } else if matches!(e.s.kind, Kind::Socket | Kind::Pipe) {
        // A socket's bytes go through a pipe of the pool; so do a pipe's under a gate, where a
        // direct splice between two ends that can both answer EAGAIN would not say which one
        // did: drained only into the empty relay pipe (an EAGAIN is the source's) and pumped
        // only out of the relay pipe holding bytes (an EAGAIN is the sink's).
        spliceable() && {
            let reason = policy(c.splice);
            let relay_rest = e.s.kind != Kind::Socket
                || c.first_read == 0
                || reason.is_some()
                || t.proven(Path::Splice)
                || missing::get(Path::Splice)
                || !first_reads(t, &e)?;
            // Ended by the first reads: the copy is done.
            !relay_rest || relay(t, reason, &e)?
        }
    } else {
        false
    };
    if done {
        return Ok(());
    }
    let rewind = Some(e.s.is_seekable());
    // Half a pipe at a time: its writer refills the other half while the loop writes.
    let max_read = match e.s.kind {
        Kind::Pipe => calls::pipe_capacity(src).unwrap_or(DEFAULT_PIPE_CAPACITY) / 2,
        _ => usize::MAX,
    };
    fd_loop::run(
        t,
        FdIn {
            fd: src,
            rewind,
            max_read: max_read.max(PAGE),
            socket: e.s.kind == Kind::Socket,
            dontcache: None,
        },
        FdOut {
            socket: e.d.kind == Kind::Socket,
            ..FdOut::plain(dst)
        },
    )
}

/// A copy too small for the probes, moved by one kernel call where the std types of its ends say
/// which call fits, as std's own `io::copy` does: splice out of a pipe (into a pipe, a stream
/// socket or a file) or from a stream socket into a pipe, and sendfile from a file into a pipe
/// or a stream socket. `Ok(true)` when it is done; a guess the kernel refuses (a `File` that is
/// not a regular file, say) is a fallback, and the read/write loop goes on from there.
fn small_by_hints(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    start: u64,
) -> io::Result<bool> {
    let c = *t.copier();
    let (sh, dh) = (
        t.hint(End::Source, src.as_raw_fd()),
        t.hint(End::Sink, dst.as_raw_fd()),
    );
    // Under a gate, a splice between two ends that can both answer EAGAIN is not made (see
    // `copy_fds`): the loop serves such a small copy.
    let path = match (sh, dh) {
        (Some(Hint::Pipe), Some(Hint::File)) => Path::Splice,
        (Some(Hint::Pipe), Some(_)) if !t.gated() => Path::Splice,
        (Some(h), Some(Hint::Pipe)) if h.is_stream() && !t.gated() => Path::Splice,
        (Some(Hint::File), Some(h)) if h == Hint::Pipe || h.is_stream() => Path::Sendfile,
        _ => return Ok(false),
    };
    let allowed = match path {
        Path::Splice => c.splice,
        _ => c.sendfile && c.share_file_pages,
    };
    if !allowed || missing::get(path) {
        return Ok(false);
    }
    let e = Ends {
        src,
        dst,
        s: Meta::hinted(sh),
        d: Meta::hinted(dh),
        start,
    };
    direct(t, path, None, &e, true)
}

/// Linux's default pipe capacity, assumed when `F_GETPIPE_SZ` fails.
const DEFAULT_PIPE_CAPACITY: usize = 64 * 1024;

/// The least a read of a pipe source asks for.
const PAGE: usize = 4096;

/// Records why `path` is not tried, or that the process lacks it; `true` if it may run.
fn may_run(t: &mut Transfer<'_>, path: Path, gate: Option<Reason>) -> bool {
    let gate = gate.or_else(|| missing::get(path).then_some(Reason::Unsupported));
    match gate {
        Some(reason) => {
            t.fall_back(path, reason);
            false
        }
        None => true,
    }
}

/// Whether this kernel checks `copy_file_range`'s ranges itself (Linux 5.3, "copy_file_range
/// fixes"): it refuses overlapping ranges of one file and shortens a copy to the end the source
/// has. Before 5.3 a copy of a file onto its own end reads what it has just written, up to the
/// length asked, so the sink must be probed before the first call. Asked of `uname` once.
fn kernel_checks_ranges() -> bool {
    static CHECKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHECKS.get_or_init(|| release_at_least(rustix::system::uname().release().to_bytes(), (5, 3)))
}

/// Whether a kernel release string ("6.1.0-28-amd64") is at least `major.minor`; an unreadable
/// one is not.
fn release_at_least(release: &[u8], (major, minor): (u32, u32)) -> bool {
    let text = std::str::from_utf8(release).unwrap_or("");
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
    match (next(), next()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// What the first `copy_file_range` into a `File` sink answered, when it did not end the copy.
enum First {
    /// It moved bytes; the source may have more.
    Moved,
    /// Why the path was left: an errno that means "not here", or a first answer of 0.
    Left(Reason),
}

/// The first `copy_file_range` from the regular file `src` into a `File` sink, before the sink
/// is probed: `None` when it ended the copy (the limit, or the bytes the source's size promised),
/// else what it answered. The call itself is safe on any sink: the kernel refuses a sink that is
/// not a regular file and ranges of one file that overlap, and reads no further than the end
/// the source has, which is what a copy of a file onto itself may read.
fn first_copy_file_range(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    s: &Meta,
    start: u64,
) -> io::Result<Option<First>> {
    let path = Path::CopyFileRange;
    loop {
        let len = clamp(t.limit(), t.copier().chunk_size);
        t.report_mut().count_call(path);
        match calls::copy_file_range(src, None, dst, None, len) {
            Ok(0) => return Ok(Some(First::Left(Reason::ZeroFirstCall))),
            Ok(n) => {
                t.set_limit(t.limit() - n as u64);
                t.report_mut().record(path, n as u64);
                let spent = n < len && t.consumed() - start == s.size;
                return Ok((t.limit() > 0 && !spent).then_some(First::Moved));
            }
            Err(err) => match classify(t, path, err, (src, dst), Some(End::Sink)) {
                Failure::Retry => {}
                Failure::FallBack(reason) => return Ok(Some(First::Left(reason))),
                Failure::Fatal(err) => return Err(err),
            },
        }
    }
}

/// Runs one direct kernel path until the source ends or the limit is reached (`Ok(true)`), or
/// until it answers "not here" (`Ok(false)`, recorded in the report). `first`: no call of this
/// path has moved bytes yet in this copy, so an answer of 0 is not trusted.
fn direct(
    t: &mut Transfer<'_>,
    path: Path,
    gate: Option<Reason>,
    e: &Ends<'_>,
    first: bool,
) -> io::Result<bool> {
    if !may_run(t, path, gate) {
        return Ok(false);
    }
    // A path that moved bytes in an earlier round of the same copy is past its first call.
    let mut first = first && !t.proven(path);
    if t.copier().grow_buffers {
        grow_sink(t, e);
    }
    // The end an EAGAIN belongs to: a file never blocks, so from a file it is the sink's, into a
    // file the source's; between two ends that can both block (which a gate never gets), the
    // one a `poll` finds not ready.
    let wait = if e.s.is_seekable() {
        Some(End::Sink)
    } else if e.d.kind == Kind::Regular {
        Some(End::Source)
    } else {
        None
    };
    while t.limit() > 0 {
        let len = clamp(t.limit(), t.copier().chunk_size);
        t.report_mut().count_call(path);
        let (mut src_off, mut dst_off) = (t.src_off, t.dst_off);
        // A file never blocks a reader: from a file, EAGAIN is the sink's. copy_file_range, file
        // to file, never waits on readiness at all.
        let made = |src_off: Option<&mut u64>, dst_off: Option<&mut u64>| {
            call(path, e.src, e.dst, src_off, dst_off, len)
        };
        let res = match path {
            Path::CopyFileRange => made(src_off.as_mut(), dst_off.as_mut()),
            _ => t.io(wait.unwrap_or(End::Source), || {
                made(src_off.as_mut(), dst_off.as_mut())
            }),
        };
        match res {
            Ok(0) if first => {
                t.fall_back(path, Reason::ZeroFirstCall);
                return Ok(false);
            }
            Ok(0) => return Ok(true),
            Ok(n) => {
                first = false;
                (t.src_off, t.dst_off) = (src_off, dst_off);
                t.set_limit(t.limit() - n as u64);
                t.report_mut().record(path, n as u64);
                if e.source_spent(t, n, len) {
                    return Ok(true);
                }
            }
            Err(err) => match classify(t, path, err, (e.src, e.dst), wait) {
                Failure::Retry => {}
                Failure::FallBack(reason) => {
                    t.fall_back(path, reason);
                    return Ok(false);
                }
                Failure::Fatal(err) => return Err(err),
            },
        }
    }
    Ok(true)
}

/// Grows the kernel buffer of a pipe or Unix socket sink that zero-copy is about to write, to
/// hold the copy when its size is known: the bytes a file has from the offset (or from its
/// start: its size, when it is read from its position), within the limit, or the limit of a
/// stream. A pipe is grown only for a file source: spliced from TCP, a 1 MiB pipe moved
/// 0.72-0.83× the bytes per second of the 64 KiB one (the tour's TCP→pipe at 64 MiB).
fn grow_sink(t: &mut Transfer<'_>, e: &Ends<'_>) {
    let wanted = match e.d.kind {
        Kind::Pipe => e.s.is_seekable(),
        Kind::Socket => true,
        _ => false,
    };
    if !wanted {
        return;
    }
    let known = if e.s.is_seekable() {
        let left = match t.src_off {
            Some(off) => e.s.size.saturating_sub(off),
            None => e.s.size,
        };
        left.min(t.limit())
    } else {
        t.limit()
    };
    // A copy that a default pipe holds gains nothing worth the calls.
    if known == u64::MAX || known <= DEFAULT_PIPE_CAPACITY as u64 {
        return;
    }
    let cap = t.copier().pipe_size;
    let grown = match e.d.kind {
        Kind::Pipe => pipe::grow(e.dst, known, cap),
        _ => calls::grow_unix_send_buffer(e.dst, e.d.unix, known, cap),
    };
    if let Some(size) = grown {
        t.report_mut().set_grown_sink(size);
    }
}

/// Before a socket's bytes are relayed through a pipe: reads of at most
/// [`Copier::first_read`] bytes into the loop's buffer, each written before the next, while they
/// come back short of it. Two splices cost more than a `recv` and a `send` of a few KiB (a
/// request, a small response, interactive traffic), and such a flow never fills the read; a
/// bulk flow does at once, and the relay takes the rest. `Ok(true)`: the source ended or the
/// limit was reached.
///
/// [`Copier::first_read`]: crate::Copier::first_read
fn first_reads(t: &mut Transfer<'_>, e: &Ends<'_>) -> io::Result<bool> {
    let mut input = FdIn {
        rewind: Some(false),
        socket: true,
        ..FdIn::plain(e.src)
    };
    let mut output = FdOut {
        socket: e.d.kind == Kind::Socket,
        ..FdOut::plain(e.dst)
    };
    let first = t.copier().first_read;
    crate::pump::pump_while_short(t, &mut input, &mut output, first)
}

/// Splices from a socket into a pooled pipe and from the pipe into the sink, round by round,
/// each round draining the pipe before the next fill. Returns as [`direct`] does.
fn relay(t: &mut Transfer<'_>, gate: Option<Reason>, e: &Ends<'_>) -> io::Result<bool> {
    if !may_run(t, Path::Splice, gate) {
        return Ok(false);
    }
    let mut pipe = match pipe::take(t.copier().pipe_size) {
        Ok(p) => p,
        Err(err) => {
            // No descriptor for a pipe (EMFILE): the read/write loop needs none.
            let errno = err.raw_os_error().unwrap_or(0);
            t.fall_back(Path::Splice, Reason::Errno(errno));
            return Ok(false);
        }
    };
    t.report_mut().set_pipe_size(pipe.capacity);
    if t.copier().grow_buffers {
        grow_sink(t, e);
    }
    let res = relay_rounds(t, e, &mut pipe);
    t.strand_pipe(pipe);
    res
}

fn relay_rounds(t: &mut Transfer<'_>, e: &Ends<'_>, pipe: &mut Pipe) -> io::Result<bool> {
    let mut first = !t.proven(Path::Splice);
    loop {
        if pipe.len == 0 {
            if t.limit() == 0 {
                return Ok(true);
            }
            let len = clamp(t.limit(), pipe.capacity.min(t.copier().chunk_size));
            t.report_mut().count_call(Path::Splice);
            let into = pipe.write.as_fd();
            match t.io(End::Source, || calls::splice(e.src, None, into, None, len)) {
                Ok(0) if first => {
                    t.fall_back(Path::Splice, Reason::ZeroFirstCall);
                    return Ok(false);
                }
                Ok(0) => return Ok(true),
                Ok(n) => {
                    first = false;
                    t.set_limit(t.limit() - n as u64);
                    pipe.len += n;
                }
                // The pipe is empty, so an EAGAIN is the socket's.
                Err(err) => match classify(
                    t,
                    Path::Splice,
                    err,
                    (e.src, pipe.write.as_fd()),
                    Some(End::Source),
                ) {
                    Failure::Retry => {}
                    Failure::FallBack(reason) => {
                        t.fall_back(Path::Splice, reason);
                        return Ok(false);
                    }
                    Failure::Fatal(err) => return Err(err),
                },
            }
            continue;
        }
        match splice_out(t, pipe, e.dst) {
            Ok(true) => {}
            Ok(false) => {
                empty_by_copy(t, pipe, e.dst)?;
                return Ok(false);
            }
            Err(err) => return Err(err),
        }
    }
}

/// Splices what `pipe` holds into `dst`. `Ok(false)`: the sink refused splice (recorded), and the
/// pipe still holds what it did not take.
pub(crate) fn splice_out(
    t: &mut Transfer<'_>,
    pipe: &mut Pipe,
    dst: BorrowedFd<'_>,
) -> io::Result<bool> {
    while pipe.len > 0 {
        t.report_mut().count_call(Path::Splice);
        let mut dst_off = t.dst_off;
        let (from, len) = (pipe.read.as_fd(), pipe.len);
        match t.io(End::Sink, || {
            calls::splice(from, None, dst, dst_off.as_mut(), len)
        }) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_copy: the sink accepted no bytes",
                ))
            }
            Ok(m) => {
                t.dst_off = dst_off;
                pipe.len -= m;
                t.report_mut().record(Path::Splice, m as u64);
            }
            // The pipe holds bytes, so an EAGAIN is the sink's.
            Err(err) => match classify(
                t,
                Path::Splice,
                err,
                (pipe.read.as_fd(), dst),
                Some(End::Sink),
            ) {
                Failure::Retry => {}
                Failure::FallBack(reason) => {
                    t.fall_back(Path::Splice, reason);
                    return Ok(false);
                }
                Failure::Fatal(err) => return Err(err),
            },
        }
    }
    Ok(true)
}

/// The sink refused splice with bytes in the pipe: writes them with read/write instead. What a
/// failed write leaves is held or stranded in stream order (the rest of the pipe follows it, by
/// [`Transfer::strand_pipe`]).
fn empty_by_copy(t: &mut Transfer<'_>, pipe: &mut Pipe, dst: BorrowedFd<'_>) -> io::Result<()> {
    // These bytes left the source's limit when they entered the pipe.
    let outer = t.limit();
    let before = t.consumed();
    t.set_limit(pipe.len as u64);
    let res = fd_loop::run(
        t,
        FdIn {
            rewind: Some(false),
            ..FdIn::plain(pipe.read.as_fd())
        },
        FdOut::plain(dst),
    );
    pipe.len -= (t.consumed() - before) as usize;
    t.set_limit(outer);
    match res {
        // A pipe that holds bytes cannot read as ended; if it does, say so rather than go on
        // with a hole in the stream.
        Ok(()) if pipe.len > 0 => Err(io::Error::other(
            "io_copy: the relay pipe read as ended while it held bytes",
        )),
        res => res,
    }
}

/// Moves all `pipe` holds into a vector, leaving it empty.
pub(crate) fn read_pipe(pipe: &mut Pipe) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; pipe.len];
    let mut got = 0;
    while got < out.len() {
        match calls::read(pipe.read.as_fd(), &mut out[got..]) {
            Ok(0) => return Err(io::Error::other("io_copy: a held pipe ended early")),
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
        pipe.len = out.len() - got;
    }
    Ok(out)
}

impl Transfer<'_> {
    /// Returns an empty relay pipe to the pool. A pipe still holding bytes goes to this copy's
    /// [`Resumable`](crate::Resumable) if it has one (after any bytes it already holds), and is
    /// otherwise closed with its bytes counted as stranded.
    pub(crate) fn strand_pipe(&mut self, mut pipe: Pipe) {
        if pipe.len == 0 {
            return pipe::give(pipe);
        }
        let len = pipe.len as u64;
        match self.held.as_deref_mut() {
            Some(h @ crate::transfer::Held::Empty) => {
                *h = crate::transfer::Held::Pipe(pipe);
                self.report_mut().add_held(len);
            }
            Some(crate::transfer::Held::Bytes(..)) => match read_pipe(&mut pipe) {
                Ok(bytes) => {
                    pipe::give(pipe);
                    self.strand(&bytes);
                }
                Err(_) => self.report_mut().add_stranded(len),
            },
            _ => self.report_mut().add_stranded(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::release_at_least;

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        for (release, at_least_5_3) in [
            ("5.3.0", true),
            ("5.2.21", false),
            ("4.19.0-27-amd64", false),
            ("5.10.0-32-cloud-amd64", true),
            ("6.18.44-fc-v595", true),
            ("10.0", true),
            ("5", false),
            ("", false),
            ("x.y", false),
        ] {
            assert_eq!(
                release_at_least(release.as_bytes(), (5, 3)),
                at_least_5_3,
                "{release}"
            );
        }
    }
}
