//! One copy in flight ([`Transfer`]): its policy, the bytes it may still read, its buffer and
//! its [`Report`] so far, and where bytes read but not written go ([`Held`]).
//!
//! This module only keeps the accounts. The loops that move bytes take a `Transfer` from
//! below: `pump.rs` (the read/write loop, [`Transfer::copy_buffered`]) and `sys/`
//! ([`Transfer::copy_fds`], [`Transfer::copy_fd_buffered`]).

use std::cell::Cell;
use std::io::{self, Write};

use crate::copier::Copier;
use crate::report::{CopyError, End, Path, Reason, Report};

/// Buffers up to this size are kept per thread between copies, so a copy allocates nothing.
const CACHED_BUFFER_MAX: usize = 1024 * 1024;

/// Bytes taken from a source and not yet written to the sink, kept by a
/// [`Resumable`](crate::Resumable) for its next call.
#[derive(Default)]
pub(crate) enum Held {
    #[default]
    Empty,
    /// Bytes a read/write loop read, from this offset on.
    Bytes(Vec<u8>, usize),
    /// A splice relay's pipe, holding `len` bytes.
    #[cfg(kernel_paths)]
    Pipe(crate::sys::pipe::Pipe),
}

impl Held {
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Held::Empty => 0,
            Held::Bytes(b, pos) => (b.len() - pos) as u64,
            #[cfg(kernel_paths)]
            Held::Pipe(p) => p.len as u64,
        }
    }
}

thread_local! {
    static SPARE_BUFFER: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

pub(crate) enum Buffer<'a> {
    Unset,
    Caller(&'a mut [u8]),
    /// [`BUFFER_ALIGN`] bytes more than the loop's buffer, which is the aligned part of it.
    Owned(Box<[u8]>),
}

/// The alignment of the loop's own buffer: a page, as reads and writes of files opened with
/// `O_DIRECT` need it.
const BUFFER_ALIGN: usize = 4096;

/// One copy in flight: its policy, the bytes it may still read, and its [`Report`] so far.
///
/// [`WriterTo::write_to`](crate::WriterTo::write_to) and
/// [`ReaderFrom::read_from`](crate::ReaderFrom::read_from) receive it. An implementation moves bytes
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
    /// What the std types of the source and the sink say their descriptors are (by raw
    /// descriptor, so that a hint never describes another descriptor).
    pub(crate) src_hint: Option<(i32, Hint)>,
    pub(crate) dst_hint: Option<(i32, Hint)>,
    /// How the syscalls that can wait run: directly (`None`, blocking copies), or through the
    /// readiness of the end they wait on (an async runtime's non-blocking descriptors).
    pub(crate) gate: Option<&'a mut dyn Gate>,
    /// The paths that moved bytes in earlier rounds of the same async copy (by `Path` index):
    /// their first call here is not a first call, so an answer of 0 is the end.
    pub(crate) proven: u8,
}

/// Runs each syscall of a copy on non-blocking descriptors the way their runtime wants, and
/// says which end of the copy it could wait on.
///
/// The Linux layer calls it for every syscall that can answer `EAGAIN`, naming the end whose
/// readiness that answer is about: the read side of a read or of a splice into an empty pipe,
/// the write side of a write, a sendfile or a splice out of a pipe holding bytes. With a gate
/// it never splices between two ends that can both answer `EAGAIN`, so every `EAGAIN` has one
/// end to wait for. An answer of `WouldBlock` (from the call, or from the gate without making
/// it) ends the copy with [`Report::blocked_on`] naming that end.
pub(crate) trait Gate {
    /// Makes the call `f`, which may wait on `end`.
    fn call(&mut self, end: End, f: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>;
}

/// What a descriptor is, by the std type it came from: a `File` is most often a regular file,
/// a `TcpStream` a TCP and a `UnixStream` a Unix stream socket, a `PipeReader`, `PipeWriter` or
/// child stdio a pipe. The Linux layer takes a `File`'s in place of an `fstat` only where a
/// wrong guess costs a refused call, and the others, which the types promise, in place of the
/// `fstat` and `getsockopt`s it would make to learn the same (as std's `io::copy` does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) enum Hint {
    File,
    Pipe,
    Tcp,
    Unix,
}

impl Hint {
    /// A `SOCK_STREAM` socket.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn is_stream(self) -> bool {
        matches!(self, Hint::Tcp | Hint::Unix)
    }
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
            src_hint: None,
            dst_hint: None,
            gate: None,
            proven: 0,
        }
    }

    /// Runs `f` with `hint` saying what the descriptor `fd` at `end` is.
    #[cfg_attr(not(unix), allow(dead_code))]
    #[inline]
    pub(crate) fn with_hint<T>(
        &mut self,
        end: End,
        fd: i32,
        hint: Hint,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let slot = match end {
            End::Source => &mut self.src_hint,
            End::Sink => &mut self.dst_hint,
        };
        let outer = slot.replace((fd, hint));
        let out = f(self);
        match end {
            End::Source => self.src_hint = outer,
            End::Sink => self.dst_hint = outer,
        }
        out
    }

    /// What the std type of `fd` at `end` says it is, if `fd` is that end's descriptor.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn hint(&self, end: End, fd: i32) -> Option<Hint> {
        let slot = match end {
            End::Source => self.src_hint,
            End::Sink => self.dst_hint,
        };
        slot.and_then(|(at, hint)| (at == fd).then_some(hint))
    }

    /// Makes the syscall `f`, which may wait on `end`: through the gate when the copy has one.
    #[cfg_attr(not(unix), allow(dead_code))]
    #[inline]
    pub(crate) fn io(
        &mut self,
        end: End,
        mut f: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        match self.gate.as_deref_mut() {
            None => f(),
            Some(gate) => gate.call(end, &mut f),
        }
    }

    /// Whether `path` moved bytes in an earlier round of this copy.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn proven(&self, path: Path) -> bool {
        self.proven & (1 << path as u8) != 0
    }

    /// Whether the copy runs on non-blocking descriptors through a gate.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn gated(&self) -> bool {
        self.gate.is_some()
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
                Err(e) => return Err(self.blocked(e, End::Sink)),
            }
        }
        Ok(())
    }

    /// Notes which end was not ready when `e` is `WouldBlock`, and returns `e`.
    pub(crate) fn blocked(&mut self, e: io::Error, end: End) -> io::Error {
        if e.kind() == io::ErrorKind::WouldBlock {
            self.report.set_blocked_on(Some(end));
        }
        e
    }

    pub(crate) fn take_buffer(&mut self) -> Buffer<'a> {
        match std::mem::replace(&mut self.buffer, Buffer::Unset) {
            Buffer::Unset => {
                let size = self.copier.buffer_size;
                let spare = SPARE_BUFFER.with(Cell::take);
                match spare {
                    Some(b) if b.len() == size.saturating_add(BUFFER_ALIGN) => Buffer::Owned(b),
                    other => {
                        SPARE_BUFFER.with(|c| c.set(other));
                        Buffer::Owned(
                            vec![0u8; size.saturating_add(BUFFER_ALIGN)].into_boxed_slice(),
                        )
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
    #[inline]
    pub(crate) fn outcome<T>(self, res: io::Result<T>) -> Result<Report, CopyError> {
        let report = self.finish();
        match res {
            Ok(_) => Ok(report),
            Err(e) => Err(CopyError::new(e, report)),
        }
    }

    #[inline]
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
            if b.len() - BUFFER_ALIGN <= CACHED_BUFFER_MAX {
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
            Buffer::Owned(b) => {
                let size = b.len() - BUFFER_ALIGN;
                let pad = b.as_ptr().align_offset(BUFFER_ALIGN).min(BUFFER_ALIGN);
                &mut b[pad..pad + size]
            }
        }
    }
}

/// `min(limit, len)` as a `usize`.
#[inline]
pub(crate) fn clamp(limit: u64, len: usize) -> usize {
    usize::try_from(limit).map_or(len, |l| l.min(len))
}
