//! What a copy did: the bytes moved, the path each byte took, and why a path was left.

use std::error::Error;
use std::fmt;
use std::io;

use crate::cache::CacheMode;

/// A way of moving bytes from a source to a sink.
///
/// The order of the variants is the order in which the Linux layer tries them.
///
/// # Examples
///
/// ```
/// use io_copy::Path;
///
/// assert_eq!(Path::Sendfile.name(), "sendfile");
/// assert_eq!(Path::ALL.last(), Some(&Path::Buffered));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Path {
    /// `copy_file_range(2)`: file to file inside the kernel, possibly a reflink.
    CopyFileRange,
    /// `sendfile(2)`: from a file's page cache to a socket, pipe or file.
    Sendfile,
    /// `splice(2)`: through a pipe, with no copy into user space.
    Splice,
    /// `read(2)`/`write(2)` (or `Read`/`Write`) through a user-space buffer.
    Buffered,
}

impl Path {
    /// Every path, in the order the Linux layer tries them.
    pub const ALL: [Path; 4] = [
        Path::CopyFileRange,
        Path::Sendfile,
        Path::Splice,
        Path::Buffered,
    ];

    /// The syscall's name, as `strace` prints it (`"buffered"` for the loop).
    pub fn name(self) -> &'static str {
        match self {
            Path::CopyFileRange => "copy_file_range",
            Path::Sendfile => "sendfile",
            Path::Splice => "splice",
            Path::Buffered => "buffered",
        }
    }

    #[inline]
    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a copy left a path (or never tried it) and went on with the next one.
///
/// # Examples
///
/// ```
/// use io_copy::{Copier, Path, Reason};
///
/// # #[cfg(target_os = "linux")] {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a"), b"data")?;
/// let mut src = std::fs::File::open(dir.path().join("a"))?;
/// let mut dst = std::fs::File::create(dir.path().join("b"))?;
/// let report = Copier::new().copy_file_range(false).copy(&mut src, &mut dst)?;
/// let why = report.fallback_from(Path::CopyFileRange).map(|f| f.reason);
/// assert_eq!(why, Some(Reason::Disabled));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The syscall failed with this errno, which means "not here" for this path (see the
    /// fallback table in the Linux module's documentation).
    Errno(i32),
    /// The syscall was known to be missing: an earlier copy in this process saw `ENOSYS`.
    Unsupported,
    /// The first call moved zero bytes although the source may not be at its end, as procfs,
    /// sysfs and some overlay mounts answer. The next path finds out whether it really was the end.
    ZeroFirstCall,
    /// The sink was opened (or later set) with `O_APPEND`, which the kernel paths refuse.
    AppendSink,
    /// Source and sink are the same file, where only a read/write loop has defined results.
    SameFile,
    /// The [`Copier`](crate::Copier) policy turned this path off.
    Disabled,
    /// The [`Copier`](crate::Copier) policy forbids sharing a file's pages with a socket or pipe
    /// (the zero-copy contract, see the crate documentation).
    MutableSource,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Errno(e) => write!(f, "{}", io::Error::from_raw_os_error(e)),
            Reason::Unsupported => f.write_str("not supported by this kernel (ENOSYS seen before)"),
            Reason::ZeroFirstCall => f.write_str("first call moved 0 bytes"),
            Reason::AppendSink => f.write_str("sink is O_APPEND"),
            Reason::SameFile => f.write_str("source and sink are the same file"),
            Reason::Disabled => f.write_str("turned off by the policy"),
            Reason::MutableSource => f.write_str("page sharing with a mutable file refused"),
        }
    }
}

/// The end of a copy that was not ready when it failed with
/// [`WouldBlock`](io::ErrorKind::WouldBlock): wait for the source to be readable or the sink to
/// be writable before calling again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// The source had nothing to read.
    Source,
    /// The sink took nothing more.
    Sink,
}

/// One step down the fallback chain.
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")] {
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("log"), b"old\n")?;
/// std::fs::write(dir.path().join("new"), b"new\n")?;
/// let mut src = std::fs::File::open(dir.path().join("new"))?;
/// let mut log = std::fs::OpenOptions::new().append(true).open(dir.path().join("log"))?;
/// let report = io_copy::Copier::new().copy(&mut src, &mut log)?;
/// for fb in report.fallbacks() {
///     println!("left {} after {} bytes: {}", fb.from, fb.at, fb.reason);
/// }
/// assert_eq!(report.fallbacks().next().unwrap().reason, io_copy::Reason::AppendSink);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fallback {
    /// The path that was left.
    pub from: Path,
    /// Why it was left.
    pub reason: Reason,
    /// How many bytes of the copy had reached the sink when it was left.
    pub at: u64,
}

/// Bytes and syscalls of one path within one copy.
///
/// # Examples
///
/// ```
/// let mut dst = Vec::new();
/// let report = io_copy::Copier::new().copy(&mut &[1u8; 10][..], &mut dst)?;
/// let stats = report.path_stats(io_copy::Path::Buffered);
/// assert_eq!((stats.bytes, stats.calls), (10, 1));
/// # Ok::<(), io_copy::CopyError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathStats {
    /// Bytes this path delivered to the sink.
    pub bytes: u64,
    /// Calls this path made: copy_file_range, sendfile or splice calls, or the `read` and
    /// `write` calls of the buffered loop. Retries after `EINTR` count too.
    pub calls: u64,
}

/// The most fallbacks one copy can record: each path is left at most once, and the last path,
/// the read/write loop, never.
const MAX_FALLBACKS: usize = 3;

/// What fills the unused fallback slots: all zero bits, so that a new report is a run of zero
/// stores.
const NO_FALLBACK: Fallback = Fallback {
    from: Path::CopyFileRange,
    reason: Reason::Errno(0),
    at: 0,
};

/// What one copy did.
///
/// It is built while the copy runs, so it is exact also when the copy fails: the
/// [`CopyError`] of a failed copy carries it. Building it allocates nothing.
///
/// # Examples
///
/// ```
/// use io_copy::{Copier, Path};
///
/// let mut src: &[u8] = b"hello";
/// let mut dst = Vec::new();
/// let report = Copier::new().copy(&mut src, &mut dst)?;
/// assert_eq!(report.written(), 5);
/// assert_eq!(report.path_stats(Path::Buffered).bytes, 5);
/// assert_eq!(report.main_path(), Some(Path::Buffered));
/// # Ok::<(), io_copy::CopyError>(())
/// ```
//
// Every field of a new report is zero (the `Option`s are spelled as 0 for `None`), so a copy
// that returns one spends a few wide stores on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    written: u64,
    stranded: u64,
    held: u64,
    paths: [PathStats; 4],
    /// The first `fallback_count` are the fallbacks, in order.
    fallbacks: [Fallback; MAX_FALLBACKS],
    fallback_count: u8,
    /// 0: none; 1: the source; 2: the sink.
    blocked_on: u8,
    /// The relay pipe's capacity; 0: no relay pipe.
    pipe_size: usize,
    /// The size a sink's kernel buffer was grown to; 0: not grown.
    grown_sink: usize,
    /// How each end (source, sink) met the page cache: [`CacheMode::code`], 0 for no policy.
    cache_modes: [u8; 2],
    /// Why each end's page-cache policy fell back.
    cache_fallbacks: [Option<Reason>; 2],
}

impl Default for Report {
    #[inline]
    fn default() -> Self {
        Report {
            written: 0,
            stranded: 0,
            held: 0,
            paths: [PathStats { bytes: 0, calls: 0 }; 4],
            fallbacks: [NO_FALLBACK; MAX_FALLBACKS],
            fallback_count: 0,
            blocked_on: 0,
            pipe_size: 0,
            grown_sink: 0,
            cache_modes: [0; 2],
            cache_fallbacks: [None; 2],
        }
    }
}

impl Report {
    /// Bytes that reached the sink.
    #[inline]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes taken from the source that did not reach the sink (only after a failed write).
    ///
    /// A plain read/write loop loses such bytes silently; this count says how many there were.
    pub fn stranded(&self) -> u64 {
        self.stranded
    }

    /// Bytes taken from the source that a [`Resumable`](crate::Resumable) holds, to deliver
    /// first on its next call.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The capacity of the intermediate pipe, when a splice relay used one.
    pub fn pipe_size(&self) -> Option<usize> {
        (self.pipe_size > 0).then_some(self.pipe_size)
    }

    /// The size the sink's kernel buffer was grown to before the copy wrote it, when it was: a
    /// pipe's capacity, or a Unix socket's send buffer as `SO_SNDBUF` reports it (see
    /// [`Copier::grow_buffers`](crate::Copier::grow_buffers)).
    pub fn grown_sink(&self) -> Option<usize> {
        (self.grown_sink > 0).then_some(self.grown_sink)
    }

    /// After a [`WouldBlock`](io::ErrorKind::WouldBlock), the end that was not ready; `None`
    /// otherwise, or when the kernel's answer named no end and neither end looked unready.
    pub fn blocked_on(&self) -> Option<End> {
        match self.blocked_on {
            1 => Some(End::Source),
            2 => Some(End::Sink),
            _ => None,
        }
    }

    /// Bytes and calls of one path.
    pub fn path_stats(&self, path: Path) -> PathStats {
        self.paths[path.index()]
    }

    /// The paths that moved bytes or made calls, in the order they are tried, with their shares.
    pub fn paths(&self) -> impl Iterator<Item = (Path, PathStats)> + '_ {
        Path::ALL
            .into_iter()
            .map(|p| (p, self.path_stats(p)))
            .filter(|(_, s)| s.bytes > 0 || s.calls > 0)
    }

    /// The path that delivered the most bytes, or `None` if no byte moved.
    pub fn main_path(&self) -> Option<Path> {
        Path::ALL
            .into_iter()
            .filter(|p| self.path_stats(*p).bytes > 0)
            .max_by_key(|p| (self.path_stats(*p).bytes, std::cmp::Reverse(*p)))
    }

    /// Each step down the fallback chain, in the order it happened.
    pub fn fallbacks(&self) -> impl Iterator<Item = &Fallback> + '_ {
        self.fallbacks[..usize::from(self.fallback_count)].iter()
    }

    /// Why `path` was left, if it was.
    pub fn fallback_from(&self, path: Path) -> Option<Fallback> {
        self.fallbacks().find(|f| f.from == path).copied()
    }

    /// How the bytes of `end` met the page cache under a [`Copier::cache`](crate::Copier::cache)
    /// policy other than [`Cache::Keep`](crate::Cache::Keep) (or its
    /// [`uncached_from`](crate::Copier::uncached_from) threshold): `None` when no policy applied
    /// to that end (not a regular file, the default policy, or a platform without one). When
    /// an end changed mode during the copy (`RWF_DONTCACHE` refused at a later write), the last
    /// mode.
    pub fn cache_mode(&self, end: End) -> Option<CacheMode> {
        CacheMode::from_code(self.cache_modes[end as usize])
    }

    /// Why the page-cache policy of `end` fell back to a weaker mode: the errno with which
    /// `O_DIRECT` or `RWF_DONTCACHE` was refused ([`Reason::Errno`]), [`Reason::Unsupported`]
    /// for a filesystem already known to refuse `RWF_DONTCACHE`, [`Reason::AppendSink`], or
    /// [`Reason::SameFile`] (a copy within one file keeps the cache).
    pub fn cache_fallback(&self, end: End) -> Option<Reason> {
        self.cache_fallbacks[end as usize]
    }

    #[inline]
    pub(crate) fn record(&mut self, path: Path, bytes: u64) {
        self.written += bytes;
        self.paths[path.index()].bytes += bytes;
    }

    #[inline]
    pub(crate) fn count_call(&mut self, path: Path) {
        self.paths[path.index()].calls += 1;
    }

    pub(crate) fn add_stranded(&mut self, bytes: u64) {
        self.stranded += bytes;
    }

    pub(crate) fn set_blocked_on(&mut self, end: Option<End>) {
        self.blocked_on = match end {
            None => 0,
            Some(End::Source) => 1,
            Some(End::Sink) => 2,
        };
    }

    #[cfg_attr(not(all(unix, feature = "tokio")), allow(dead_code))]
    pub(crate) fn set_held(&mut self, bytes: u64) {
        self.held = bytes;
    }

    /// Adds what a later part of the same copy did: its bytes, calls and stranded bytes, the
    /// fallbacks not seen yet, and its latest pipe, grown sink and blocked end.
    #[cfg_attr(not(all(unix, feature = "tokio")), allow(dead_code))]
    pub(crate) fn absorb(&mut self, later: &Report) {
        for (mine, theirs) in self.paths.iter_mut().zip(&later.paths) {
            mine.bytes += theirs.bytes;
            mine.calls += theirs.calls;
        }
        for fb in later.fallbacks() {
            if self.fallback_from(fb.from).is_none() {
                if let Some(slot) = self.fallbacks.get_mut(usize::from(self.fallback_count)) {
                    *slot = Fallback {
                        at: self.written + fb.at,
                        ..*fb
                    };
                    self.fallback_count += 1;
                }
            }
        }
        self.written += later.written;
        self.stranded += later.stranded;
        self.held = later.held;
        if later.pipe_size > 0 {
            self.pipe_size = later.pipe_size;
        }
        if later.grown_sink > 0 {
            self.grown_sink = later.grown_sink;
        }
        self.blocked_on = later.blocked_on;
        for i in 0..2 {
            if later.cache_modes[i] != 0 {
                self.cache_modes[i] = later.cache_modes[i];
            }
            if later.cache_fallbacks[i].is_some() {
                self.cache_fallbacks[i] = later.cache_fallbacks[i];
            }
        }
    }

    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn set_cache_mode(&mut self, end: End, mode: CacheMode) {
        self.cache_modes[end as usize] = mode.code();
    }

    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn set_cache_fallback(&mut self, end: End, reason: Reason) {
        self.cache_fallbacks[end as usize].get_or_insert(reason);
    }

    pub(crate) fn add_held(&mut self, bytes: u64) {
        self.held += bytes;
    }

    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn set_pipe_size(&mut self, size: usize) {
        self.pipe_size = size;
    }

    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn set_grown_sink(&mut self, size: usize) {
        self.grown_sink = size;
    }

    /// Replaces the reason `from` was left for, if it was `Errno(errno)`: the errno's cause
    /// became known after the fallback.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn refine_fallback(&mut self, from: Path, errno: i32, reason: Reason) {
        let n = usize::from(self.fallback_count);
        for fb in &mut self.fallbacks[..n] {
            if fb.from == from && fb.reason == Reason::Errno(errno) {
                fb.reason = reason;
            }
        }
    }

    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn fall_back(&mut self, from: Path, reason: Reason) {
        if self.fallback_from(from).is_some() {
            return;
        }
        let at = self.written;
        if let Some(slot) = self.fallbacks.get_mut(usize::from(self.fallback_count)) {
            *slot = Fallback { from, reason, at };
            self.fallback_count += 1;
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.written)?;
        for (path, s) in self.paths() {
            write!(f, ", {path}: {} bytes in {} calls", s.bytes, s.calls)?;
        }
        for fb in self.fallbacks() {
            write!(f, ", left {} at {}: {}", fb.from, fb.at, fb.reason)?;
        }
        if let Some(size) = self.pipe_size() {
            write!(f, ", pipe of {size} bytes")?;
        }
        if let Some(size) = self.grown_sink() {
            write!(f, ", sink buffer grown to {size} bytes")?;
        }
        if self.stranded > 0 {
            write!(f, ", {} bytes read but not written", self.stranded)?;
        }
        if self.held > 0 {
            write!(f, ", {} bytes held for the next call", self.held)?;
        }
        Ok(())
    }
}

/// A failed copy: the error, and the [`Report`] of what had moved until then.
///
/// It converts into an [`io::Error`] of the same [`kind`](io::Error::kind) that still carries
/// it, so code that only speaks `io::Result` loses nothing: [`CopyError::from_io`] gets it back.
///
/// # Examples
///
/// ```
/// use std::io::{self, Write};
///
/// /// A sink that takes 3 bytes, then fails.
/// struct Full(usize);
/// impl Write for Full {
///     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
///         if self.0 == 0 {
///             return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
///         }
///         let n = buf.len().min(self.0);
///         self.0 -= n;
///         Ok(n)
///     }
///     fn flush(&mut self) -> io::Result<()> { Ok(()) }
/// }
/// impl io_copy::ReaderFrom for Full {}
///
/// // A slice keeps what the sink refused...
/// let mut src: &[u8] = b"hello";
/// let err = io_copy::copy(&mut src, &mut Full(3)).unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::StorageFull);
/// assert_eq!(io_copy::CopyError::from_io(&err).unwrap().written(), 3);
/// assert_eq!(src, b"lo");
///
/// // ...a reader read through a buffer cannot take bytes back: the report counts them.
/// let mut src = io_copy::Plain(&b"hello"[..]);
/// let err = io_copy::copy(&mut src, &mut Full(3)).unwrap_err();
/// let copy_err = io_copy::CopyError::from_io(&err).unwrap();
/// assert_eq!(copy_err.written(), 3);
/// assert_eq!(copy_err.report().stranded(), 2);
/// ```
#[derive(Debug)]
pub struct CopyError {
    error: io::Error,
    // Boxed: errors are rare, and a small `Err` keeps `Result`s cheap to move.
    report: Box<Report>,
}

impl CopyError {
    pub(crate) fn new(error: io::Error, report: Report) -> Self {
        CopyError {
            error,
            report: Box::new(report),
        }
    }

    /// Bytes that reached the sink before the failure.
    pub fn written(&self) -> u64 {
        self.report.written
    }

    /// The kind of the underlying error.
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }

    /// The underlying error, with its `raw_os_error` intact.
    pub fn io_error(&self) -> &io::Error {
        &self.error
    }

    /// The errno of the underlying error, if it came from the OS.
    ///
    /// The `io::Error` made from a `CopyError` keeps the kind but answers `None` to
    /// `raw_os_error`: reach the errno through [`CopyError::from_io`] and this method.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }

    /// What the copy did before it failed.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Splits into the underlying error and the report.
    pub fn into_parts(self) -> (io::Error, Report) {
        (self.error, *self.report)
    }

    /// Finds the `CopyError` inside an `io::Error` made from one.
    pub fn from_io(error: &io::Error) -> Option<&CopyError> {
        error.get_ref()?.downcast_ref::<CopyError>()
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} after {} bytes", self.error, self.report.written)?;
        if self.report.stranded > 0 {
            write!(
                f,
                " ({} more read from the source but not written)",
                self.report.stranded
            )?;
        }
        Ok(())
    }
}

impl Error for CopyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

impl From<CopyError> for io::Error {
    fn from(e: CopyError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}
