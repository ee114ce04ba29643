//! The policy ([`Copier`]) and the state of one copy in flight ([`Transfer`]).

use std::cell::Cell;
use std::io::{self, Read, Write};

use crate::pump;
use crate::report::{CopyError, End, Path, Reason, Report};
use crate::resume::Held;
use crate::traits::{ReaderFrom, WriterTo};

/// The buffer of the read/write loop when the caller gives none.
pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

/// The most bytes one `copy_file_range`, `sendfile` or `splice` call is asked for: Linux's
/// `MAX_RW_COUNT`, the cap the kernel would apply anyway.
pub const MAX_CHUNK: usize = 0x7fff_f000;

/// The capacity asked for the intermediate pipe of a splice relay.
pub const DEFAULT_PIPE_SIZE: usize = 1024 * 1024;

/// Copies known to be smaller than this take the read/write loop without probing the
/// descriptors: below it, the `fstat`s, `getsockopt` and the two splices of a relay cost more than
/// they save (the `tcp_tcp` and `unix_unix` groups of `benches/copy.rs` break even near 64 KiB).
pub const DEFAULT_SMALL_COPY: u64 = 64 * 1024;

/// Buffers up to this size are kept per thread between copies, so a copy allocates nothing.
const CACHED_BUFFER_MAX: usize = 1024 * 1024;

/// How copies are made: which kernel paths may run, chunk and buffer sizes.
///
/// `Copier::new()` is what [`copy`](crate::copy), [`copy_n`](crate::copy_n) and
/// [`copy_buffer`](crate::copy_buffer) use. Its methods also return a [`Report`] of what moved
/// and by which path, or a [`CopyError`] that carries that report.
///
/// # Examples
///
/// Refuse zero-copy from files to sockets and pipes, and see which path ran:
///
/// ```
/// use io_copy::{Copier, Path};
///
/// let copier = Copier::new().share_file_pages(false).buffer_size(16 * 1024);
/// let mut src: &[u8] = &[7u8; 100_000];
/// let mut dst = Vec::new();
/// let report = copier.copy(&mut src, &mut dst)?;
/// assert_eq!(report.written(), 100_000);
/// assert_eq!(report.main_path(), Some(Path::Buffered));
/// # Ok::<(), io_copy::CopyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copier {
    pub(crate) copy_file_range: bool,
    pub(crate) sendfile: bool,
    pub(crate) splice: bool,
    pub(crate) share_file_pages: bool,
    pub(crate) splice_from_pipe: bool,
    pub(crate) chunk_size: usize,
    pub(crate) buffer_size: usize,
    pub(crate) pipe_size: usize,
    pub(crate) small_copy: u64,
}

impl Default for Copier {
    fn default() -> Self {
        Copier::new()
    }
}

impl Copier {
    /// The default policy: every kernel path on, page sharing allowed, 64 KiB buffer.
    pub const fn new() -> Self {
        Copier {
            copy_file_range: true,
            sendfile: true,
            splice: true,
            share_file_pages: true,
            splice_from_pipe: false,
            chunk_size: MAX_CHUNK,
            buffer_size: DEFAULT_BUFFER_SIZE,
            pipe_size: DEFAULT_PIPE_SIZE,
            small_copy: DEFAULT_SMALL_COPY,
        }
    }

    /// Only the read/write loop: every kernel path off.
    pub const fn buffered_only() -> Self {
        Copier::new()
            .copy_file_range(false)
            .sendfile(false)
            .splice(false)
    }

    /// Allows or forbids `copy_file_range(2)`.
    pub const fn copy_file_range(mut self, on: bool) -> Self {
        self.copy_file_range = on;
        self
    }

    /// Allows or forbids `sendfile(2)`.
    pub const fn sendfile(mut self, on: bool) -> Self {
        self.sendfile = on;
        self
    }

    /// Allows or forbids `splice(2)`.
    pub const fn splice(mut self, on: bool) -> Self {
        self.splice = on;
        self
    }

    /// Allows or forbids handing a regular file's pages to a socket or pipe (`sendfile`,
    /// `splice`).
    ///
    /// Those pages are referenced, not copied: if the file is written before the socket or
    /// pipe drains, the reader may see the new bytes (rust-lang/rust#108283). Pass `false` when
    /// a source file may change during or right after the copy; file→file copies keep their
    /// kernel paths, which do copy.
    pub const fn share_file_pages(mut self, on: bool) -> Self {
        self.share_file_pages = on;
        self
    }

    /// Allows or forbids `splice(2)` out of a pipe the caller gave as the source (default:
    /// forbidden; a socket relay's own pipe is not affected).
    ///
    /// Splicing out of a pipe holds the pipe's lock while the sink takes the bytes, so the
    /// process writing into the pipe waits; the read/write loop, reading at most half the pipe
    /// at a time, lets it refill the other half meanwhile. With a writer feeding a 64 KiB pipe,
    /// the loop moved 1.4–2× the bytes per second of splice into a tmpfs file, a TCP socket or
    /// another pipe here (see the README's Performance section). Turn it on for a pipe that is
    /// filled before the copy starts.
    pub const fn splice_from_pipe(mut self, on: bool) -> Self {
        self.splice_from_pipe = on;
        self
    }

    /// The most bytes one kernel call is asked for (default and maximum [`MAX_CHUNK`]).
    ///
    /// Values above `MAX_CHUNK` are lowered to it and 0 is raised to 1.
    pub const fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = if bytes == 0 {
            1
        } else if bytes > MAX_CHUNK {
            MAX_CHUNK
        } else {
            bytes
        };
        self
    }

    /// The size of the read/write loop's buffer (default [`DEFAULT_BUFFER_SIZE`]); 0 is raised
    /// to 1.
    pub const fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = if bytes == 0 { 1 } else { bytes };
        self
    }

    /// The capacity asked for a splice relay's pipe (default [`DEFAULT_PIPE_SIZE`]); the kernel
    /// rounds it and caps it at `/proc/sys/fs/pipe-max-size`.
    pub const fn pipe_size(mut self, bytes: usize) -> Self {
        self.pipe_size = bytes;
        self
    }

    /// Copies whose limit (from [`copy_n`](Copier::copy_n), [`Take`](std::io::Take) or
    /// [`copy_range`](Copier::copy_range)) is below `bytes` take the read/write loop at once,
    /// without probing the descriptors (default [`DEFAULT_SMALL_COPY`]); 0 sends every copy to the
    /// kernel paths. A regular file copied into a [`File`](std::fs::File) is the exception: one
    /// `copy_file_range` costs less than a read and a write, so it takes that.
    pub const fn small_copy(mut self, bytes: u64) -> Self {
        self.small_copy = bytes;
        self
    }

    /// Copies everything from `reader` to `writer`, as [`copy`](crate::copy) does, and reports
    /// how.
    ///
    /// # Errors
    ///
    /// The first error that is not "fall back" (see the crate documentation), or
    /// [`io::ErrorKind::InvalidInput`] for a buffer size of 0. The [`CopyError`] carries the
    /// report of what moved before it.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut src: &[u8] = b"abc";
    /// let mut dst = Vec::new();
    /// let report = io_copy::Copier::new().copy(&mut src, &mut dst)?;
    /// assert_eq!((report.written(), &dst[..]), (3, &b"abc"[..]));
    /// # Ok::<(), io_copy::CopyError>(())
    /// ```
    pub fn copy<R, W>(&self, reader: &mut R, writer: &mut W) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        self.run(reader, writer, u64::MAX, None)
    }

    /// Copies exactly `n` bytes, as [`copy_n`](crate::copy_n) does, and reports how.
    ///
    /// # Errors
    ///
    /// As [`Copier::copy`], and [`io::ErrorKind::UnexpectedEof`] when the reader ends first;
    /// the report then says how many bytes arrived.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut src: &[u8] = b"abcdef";
    /// let mut dst = Vec::new();
    /// io_copy::Copier::new().copy_n(&mut src, &mut dst, 4)?;
    /// assert_eq!((&dst[..], src), (&b"abcd"[..], &b"ef"[..]));
    /// # Ok::<(), io_copy::CopyError>(())
    /// ```
    pub fn copy_n<R, W>(&self, reader: &mut R, writer: &mut W, n: u64) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        let report = self.run(reader, writer, n, None)?;
        if report.written() < n {
            let err = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "copy_n: reader ended after {} of {n} bytes",
                    report.written()
                ),
            );
            return Err(CopyError::new(err, report));
        }
        Ok(report)
    }

    /// Copies everything, using `buf` for the read/write loop, as
    /// [`copy_buffer`](crate::copy_buffer) does, and reports how.
    ///
    /// # Errors
    ///
    /// As [`Copier::copy`], and [`io::ErrorKind::InvalidInput`] for an empty `buf`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = [0u8; 2];
    /// let mut src = io_copy::Plain(&b"abcde"[..]);
    /// let mut dst = Vec::new();
    /// let report = io_copy::Copier::new().copy_buffer(&mut src, &mut dst, &mut buf)?;
    /// assert_eq!(report.path_stats(io_copy::Path::Buffered).calls, 7); // 4 reads, 3 writes
    /// # Ok::<(), io_copy::CopyError>(())
    /// ```
    pub fn copy_buffer<R, W>(
        &self,
        reader: &mut R,
        writer: &mut W,
        buf: &mut [u8],
    ) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        if buf.is_empty() {
            let err = io::Error::new(io::ErrorKind::InvalidInput, "copy_buffer: empty buffer");
            return Err(CopyError::new(err, Report::default()));
        }
        self.run(reader, writer, u64::MAX, Some(buf))
    }

    /// [`Copier::run`] for the functions that return only the count: a copy that succeeds
    /// moves no report around.
    #[inline]
    pub(crate) fn run_count<R, W>(
        &self,
        reader: &mut R,
        writer: &mut W,
        limit: u64,
        buf: Option<&mut [u8]>,
    ) -> io::Result<u64>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        let mut t = Transfer::new(self, limit, buf);
        match reader.write_to(writer, &mut t) {
            Ok(_) => Ok(t.release()),
            Err(e) => Err(CopyError::new(e, t.finish()).into()),
        }
    }

    fn run<R, W>(
        &self,
        reader: &mut R,
        writer: &mut W,
        limit: u64,
        buf: Option<&mut [u8]>,
    ) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        let mut t = Transfer::new(self, limit, buf);
        let res = reader.write_to(writer, &mut t);
        t.outcome(res)
    }
}

thread_local! {
    static SPARE_BUFFER: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

pub(crate) enum Buffer<'a> {
    Unset,
    Caller(&'a mut [u8]),
    Owned(Box<[u8]>),
}

/// One copy in flight: its policy, the bytes it may still read, and its [`Report`] so far.
///
/// [`WriterTo::write_to`] and [`ReaderFrom::read_from`] receive it. An implementation moves bytes
/// only through its methods, which keep the count and the limit exact; to find out how many bytes
/// a nested call moved, compare [`Transfer::written`] before and after, which stays right when
/// the call fails.
pub struct Transfer<'a> {
    copier: &'a Copier,
    limit: u64,
    buffer: Buffer<'a>,
    report: Report,
    /// Where bytes read but not written go instead of being lost: a [`Resumable`](crate::Resumable)'s store.
    pub(crate) held: Option<&'a mut Held>,
    /// Explicit offsets of a positional copy: the descriptor paths use `pread`/`pwrite` and the
    /// offset arguments of the kernel calls, and leave the file positions alone.
    pub(crate) src_off: Option<u64>,
    pub(crate) dst_off: Option<u64>,
    /// The sink is a [`File`](std::fs::File), so probably a regular file.
    pub(crate) sink_is_file: bool,
}

impl<'a> Transfer<'a> {
    #[inline]
    pub(crate) fn new(copier: &'a Copier, limit: u64, buf: Option<&'a mut [u8]>) -> Self {
        Transfer {
            copier,
            limit,
            buffer: buf.map_or(Buffer::Unset, Buffer::Caller),
            report: Report::default(),
            held: None,
            src_off: None,
            dst_off: None,
            sink_is_file: false,
        }
    }

    /// The policy of this copy.
    pub fn copier(&self) -> &Copier {
        self.copier
    }

    /// Bytes this copy may still take from its source; `u64::MAX` means no limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes that have reached the sink so far.
    #[inline]
    pub fn written(&self) -> u64 {
        self.report.written()
    }

    /// Bytes taken from the source so far: [`written`](Self::written) plus any that a failed
    /// write stranded or left held.
    pub fn consumed(&self) -> u64 {
        self.report.written() + self.report.stranded() + self.report.held()
    }

    /// The report so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Runs `f` with the limit lowered to `n`, then restores the outer limit less what `f`
    /// consumed. This is how [`Take`](std::io::Take) passes its limit down.
    pub fn limited<T>(&mut self, n: u64, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.limit;
        let before = self.consumed();
        self.limit = outer.min(n);
        let out = f(self);
        let used = self.consumed() - before;
        self.limit = outer.saturating_sub(used);
        out
    }

    /// Copies with the read/write loop from `reader` to `writer`, within the limit.
    ///
    /// # Errors
    ///
    /// The first error of `reader` or `writer` other than [`io::ErrorKind::Interrupted`], or
    /// [`io::ErrorKind::WriteZero`] when `writer` accepts nothing.
    pub fn copy_buffered<R, W>(&mut self, reader: &mut R, writer: &mut W) -> io::Result<u64>
    where
        R: Read + ?Sized,
        W: Write + ?Sized,
    {
        let before = self.written();
        let res = pump::pump(self, &mut pump::Reader(reader), &mut pump::Writer(writer));
        res.map(|()| self.written() - before)
    }

    /// Copies from the descriptor `src` into `writer` with the read/write loop, within the
    /// limit. A regular-file source is moved back over bytes a failed write left.
    ///
    /// Reading `src` directly must be the same as reading the value it came from (see
    /// [`WriterTo::source_fd`]).
    ///
    /// # Errors
    ///
    /// As [`Transfer::copy_buffered`].
    #[cfg(unix)]
    pub fn copy_fd_buffered<W: Write + ?Sized>(
        &mut self,
        src: std::os::fd::BorrowedFd<'_>,
        writer: &mut W,
    ) -> io::Result<u64> {
        let before = self.written();
        let res = crate::sys::copy_fd_to_writer(self, src, &mut pump::Writer(writer));
        res.map(|()| self.written() - before)
    }

    /// Copies from the descriptor `src` to the descriptor `dst` within the limit: the kernel
    /// paths where the platform has them, then the read/write loop.
    ///
    /// Reading `src` and writing `dst` directly must be the same as reading and writing the
    /// values they came from (see [`WriterTo::source_fd`]).
    ///
    /// # Errors
    ///
    /// The first error that does not mean "fall back" (see the crate documentation).
    #[cfg(unix)]
    pub fn copy_fds(
        &mut self,
        src: std::os::fd::BorrowedFd<'_>,
        dst: std::os::fd::BorrowedFd<'_>,
    ) -> io::Result<u64> {
        let before = self.written();
        let res = crate::sys::copy_fds(self, src, dst);
        res.map(|()| self.written() - before)
    }

    /// Bytes read from the source that a failed write left: kept by a [`Resumable`](crate::Resumable) if this copy
    /// has one with room, otherwise counted as stranded.
    pub(crate) fn strand(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len() as u64;
        match self.held.as_deref_mut() {
            // Bytes stranded after bytes already held come after them in the stream.
            Some(Held::Bytes(held, _)) => held.extend_from_slice(bytes),
            Some(h @ Held::Empty) => *h = Held::Bytes(bytes.to_vec(), 0),
            _ => return self.report.add_stranded(len),
        }
        self.report.add_held(len);
    }

    /// Writes bytes that the caller still holds (a `BufReader`'s buffer) and takes them out of
    /// the limit as they are written; the caller keeps what was not written.
    ///
    /// # Errors
    ///
    /// The first error of `writer` other than [`io::ErrorKind::Interrupted`].
    pub fn write_held<W: Write + ?Sized>(
        &mut self,
        writer: &mut W,
        bytes: &[u8],
    ) -> io::Result<usize> {
        let bytes = &bytes[..clamp(self.limit, bytes.len())];
        let mut off = 0;
        let res = self.write_some(writer, bytes, &mut off);
        self.limit -= off as u64;
        res.map(|()| off)
    }

    fn write_some<W: Write + ?Sized>(
        &mut self,
        writer: &mut W,
        bytes: &[u8],
        off: &mut usize,
    ) -> io::Result<()> {
        while *off < bytes.len() {
            self.report.count_call(Path::Buffered);
            match writer.write(&bytes[*off..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "io_copy: the writer accepted no bytes",
                    ))
                }
                Ok(n) => {
                    let n = n.min(bytes.len() - *off);
                    *off += n;
                    self.report.record(Path::Buffered, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(pump::blocked(self, e, End::Sink)),
            }
        }
        Ok(())
    }

    pub(crate) fn take_buffer(&mut self) -> Buffer<'a> {
        match std::mem::replace(&mut self.buffer, Buffer::Unset) {
            Buffer::Unset => {
                let size = self.copier.buffer_size;
                let spare = SPARE_BUFFER.with(Cell::take);
                match spare {
                    Some(b) if b.len() == size => Buffer::Owned(b),
                    other => {
                        SPARE_BUFFER.with(|c| c.set(other));
                        Buffer::Owned(vec![0u8; size].into_boxed_slice())
                    }
                }
            }
            b => b,
        }
    }

    pub(crate) fn put_buffer(&mut self, b: Buffer<'a>) {
        self.buffer = b;
    }

    pub(crate) fn report_mut(&mut self) -> &mut Report {
        &mut self.report
    }

    pub(crate) fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn fall_back(&mut self, from: Path, reason: Reason) {
        self.report.fall_back(from, reason);
    }

    /// The report, or the error with it.
    pub(crate) fn outcome<T>(self, res: io::Result<T>) -> Result<Report, CopyError> {
        let report = self.finish();
        match res {
            Ok(_) => Ok(report),
            Err(e) => Err(CopyError::new(e, report)),
        }
    }

    pub(crate) fn finish(mut self) -> Report {
        if matches!(self.buffer, Buffer::Owned(_)) {
            self.keep_buffer();
        }
        self.report
    }

    /// Ends the copy and returns its count, dropping the report.
    #[inline]
    pub(crate) fn release(mut self) -> u64 {
        if matches!(self.buffer, Buffer::Owned(_)) {
            self.keep_buffer();
        }
        self.report.written()
    }

    /// Keeps an owned loop buffer for the thread's next copy.
    fn keep_buffer(&mut self) {
        if let Buffer::Owned(b) = std::mem::replace(&mut self.buffer, Buffer::Unset) {
            if b.len() <= CACHED_BUFFER_MAX {
                SPARE_BUFFER.with(|c| c.set(Some(b)));
            }
        }
    }
}

impl Buffer<'_> {
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            Buffer::Unset => &mut [],
            Buffer::Caller(b) => b,
            Buffer::Owned(b) => b,
        }
    }
}

/// `min(limit, len)` as a `usize`.
pub(crate) fn clamp(limit: u64, len: usize) -> usize {
    usize::try_from(limit).map_or(len, |l| l.min(len))
}
