//! io_copy on tokio: [`copy`] and [`copy_bidirectional`] in the shape of tokio's own, on the
//! kernel paths of the blocking copies (`splice`, `sendfile`, `copy_file_range`) wherever both
//! ends are descriptors, with the same fallback chain, errno table and [`Report`].
//!
//! # How it works
//!
//! A copy between two descriptors runs the blocking crate's chain in rounds on the
//! non-blocking descriptors tokio registered. Each syscall that can answer `EAGAIN` runs inside
//! the `try_io` of the end it can wait on (the Linux layer names it: the source of a read or of
//! a splice into the empty relay pipe, the sink of a write, a `sendfile` or a splice out of the
//! relay pipe holding bytes), so tokio clears the readiness of that end only, and the copy then
//! waits for that end's readiness. Two ends that could both answer `EAGAIN` are never spliced
//! into each other directly; their bytes go through a pooled relay pipe. No `EAGAIN` is ever
//! retried without a wait (golang/go#75304). A round moves at most 1 MiB, and each round asks
//! tokio's cooperative budget first, so a copy between always-ready ends yields to other tasks.
//!
//! Any other [`AsyncRead`]/[`AsyncWrite`] end takes a buffered loop through tokio's own traits,
//! as `tokio::io::copy` does, with a 64 KiB buffer.
//!
//! # Which path each pair takes (Linux)
//!
//! | source \ sink | `TcpStream`, `UnixStream` (and halves) | `pipe::Sender`, `ChildStdin` | `fs::File` (regular) | other |
//! |---|---|---|---|---|
//! | `fs::File` (regular) | sendfile | sendfile | copy_file_range, on a blocking thread from 64 KiB | buffered |
//! | `TcpStream`, `UnixStream` (and halves) | splice through a pooled pipe, after first reads | splice through a pooled pipe | splice through a pooled pipe, after first reads | buffered |
//! | `pipe::Receiver`, `ChildStdout`, `ChildStderr` | read/write loop, half the pipe per read (splice through a pooled pipe with [`Copier::splice_from_pipe`]) | the same | splice (read/write loop by default) | buffered |
//! | other | buffered | buffered | buffered | buffered |
//!
//! "After first reads": a socket's bytes bound for a socket or a file go by `recv`/`send` while
//! each read comes back short of [`Copier::first_read`] (16 KiB), as a request or a small
//! response does; the first full read hands the rest to the relay, and the copy's later rounds
//! relay at once.
//!
//! tokio exposes no readiness for child stdio: on its first `EAGAIN` such an end is registered
//! with the reactor through a duplicate of its descriptor (`pipe::Sender::from_owned_fd`), for
//! that copy call only, so that dropping the child's handle afterwards still closes the pipe.
//!
//! A `tokio::fs::File` end is first brought to rest (its pending write completed, its read-ahead
//! given back by a seek to its position), and used by its descriptor only when it is a regular
//! file; any other file (a FIFO or a terminal opened as a `File`) takes the buffered loop, since
//! tokio keeps such descriptors blocking.
//!
//! # Disk reads
//!
//! `sendfile` and `copy_file_range` from a file whose pages are not in the page cache wait for
//! the disk on the calling thread. A copy from a `fs::File` therefore checks, before each round,
//! whether the first and last byte of the round's part of the file are cached (`preadv2` with
//! `RWF_NOWAIT`, one byte each); when they are not, that part is read into the page cache on
//! tokio's blocking pool first (`spawn_blocking`), and the round then runs on the runtime
//! thread with the pages in memory. A copy from one file into another of 64 KiB and more runs
//! on the blocking pool whole. A page that leaves the cache between the check and the round is
//! read on the runtime thread.
//!
//! # Cancel safety
//!
//! - [`copy`], [`copy_bidirectional`], [`copy_with`] and [`copy_bidirectional_with`] are not
//!   cancel safe, as tokio's are not: bytes already taken from a socket or pipe (in a relay
//!   pipe, or a loop's buffer) when the future is dropped are lost with it. A file source on the
//!   kernel path loses nothing: `sendfile` takes from the file only what the sink took, and the
//!   descriptor loop moves the file back over what a write did not take.
//! - [`Resumable::copy`] is cancel safe: the bytes it took and has not delivered stay in the
//!   `Resumable` and go first on its next call, and a file copy running on the blocking pool is
//!   waited for by the next call, so that dropping the future and calling again loses nothing
//!   and duplicates nothing.
//!
//! # Examples
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use tokio::net::TcpStream;
//!
//! let mut client = TcpStream::connect("127.0.0.1:8080").await?;
//! let mut server = TcpStream::connect("127.0.0.1:9090").await?;
//! let (up, down) = io_copy::tokio::copy_bidirectional(&mut client, &mut server).await?;
//! println!("{up} bytes up, {down} down");
//! # Ok(()) }
//! # let _ = f;
//! ```

mod ends;
mod flow;
mod impls;

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

pub use ::tokio::io::{AsyncRead, AsyncWrite};

use crate::copier::Copier;
use crate::report::{CopyError, Report};
pub use ends::{SinkEnd, SourceEnd};
pub use flow::Flow;

/// A source that knows how to copy itself into a sink: the async twin of
/// [`WriterTo`](crate::WriterTo).
///
/// Every tokio type that implements [`AsyncRead`] implements it, so each type `tokio::io::copy`
/// takes works with [`copy`] as it is. A type of another crate (a TLS stream, say) opts in with
/// one line, on the buffered loop:
///
/// ```
/// # use std::{io, pin::Pin, task::{Context, Poll}};
/// # struct Tls;
/// # impl tokio::io::AsyncRead for Tls {
/// #     fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> { Poll::Ready(Ok(())) }
/// # }
/// impl io_copy::tokio::AsyncWriterTo for Tls {}
/// # let _ = Tls;
/// ```
///
/// or goes through [`Plain`].
pub trait AsyncWriterTo: AsyncRead + Unpin {
    /// Copies from `self` into `w` within `flow`'s limit, until the source ends or the limit is
    /// reached: `Ready(Ok(()))`. Re-entrant: after `Pending`, call it again with the same
    /// `flow` to go on.
    ///
    /// The default defers to `w.poll_read_from(cx, self, flow)`.
    fn poll_write_to<W: AsyncReaderFrom + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: &mut W,
        flow: &mut Flow,
    ) -> Poll<io::Result<()>> {
        w.poll_read_from(cx, self, flow)
    }

    /// The descriptor end reading `self` reads, if reading it directly is the same as
    /// [`AsyncRead::poll_read`]: no buffer in front, no limit. The default is `None`: the
    /// buffered loop.
    fn source_end(&mut self) -> Option<SourceEnd<'_>> {
        None
    }
}

/// A sink that knows how to fill itself from a source: the async twin of
/// [`ReaderFrom`](crate::ReaderFrom).
///
/// Every tokio type that implements [`AsyncWrite`] implements it; a type of another crate opts
/// in with one line, `impl io_copy::tokio::AsyncReaderFrom for MyType {}`, on the buffered
/// loop.
pub trait AsyncReaderFrom: AsyncWrite + Unpin {
    /// Copies from `r` into `self` within `flow`'s limit: the kernel paths when both ends name
    /// a descriptor end, the buffered loop otherwise. Re-entrant, as
    /// [`AsyncWriterTo::poll_write_to`].
    fn poll_read_from<R: AsyncWriterTo + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        flow: &mut Flow,
    ) -> Poll<io::Result<()>> {
        flow.poll_between(cx, r, self)
    }

    /// The descriptor end writing `self` writes, if writing it directly is the same as
    /// [`AsyncWrite::poll_write`]: no buffer in front. The default is `None`.
    fn sink_end(&mut self) -> Option<SinkEnd<'_>> {
        None
    }
}

/// Lets any [`AsyncRead`] or [`AsyncWrite`] value take part in a copy, on the buffered loop: for
/// types of other crates, which cannot implement [`AsyncWriterTo`] or [`AsyncReaderFrom`] here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Plain<T>(pub T);

/// Copies everything from `reader` to `writer`, flushes `writer`, and returns the bytes copied:
/// [`tokio::io::copy`] with the kernel paths.
///
/// # Errors
///
/// The first error of either end that does not mean "fall back". The `io::Error` keeps the kind
/// and carries a [`CopyError`] with the count and the [`Report`] (see [`CopyError::from_io`]).
///
/// # Cancel safety
///
/// Not cancel safe, as tokio's is not: use [`Resumable::copy`] (see the module documentation).
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncWriterTo + ?Sized,
    W: AsyncReaderFrom + ?Sized,
{
    Ok(copy_with(&Copier::new(), reader, writer).await?.written())
}

/// [`copy`] with the policy `copier`, returning its [`Report`].
///
/// # Errors
///
/// As [`copy`], as a [`CopyError`] that carries the report.
///
/// # Cancel safety
///
/// Not cancel safe (see the module documentation).
pub async fn copy_with<R, W>(
    copier: &Copier,
    reader: &mut R,
    writer: &mut W,
) -> Result<Report, CopyError>
where
    R: AsyncWriterTo + ?Sized,
    W: AsyncReaderFrom + ?Sized,
{
    let mut flow = Flow::new(*copier);
    let res = poll_fn(|cx| flow.poll_copy(cx, reader, writer)).await;
    flow.end_call();
    flow.outcome(res)
}

/// A copy that can be dropped and called again without losing or repeating a byte: the async
/// twin of [`crate::Resumable`], made by [`Resumable::new`].
///
/// # Examples
///
/// ```no_run
/// # async fn f(mut src: tokio::net::TcpStream, mut dst: tokio::net::TcpStream) -> std::io::Result<()> {
/// use std::time::Duration;
///
/// let mut copy = io_copy::tokio::Resumable::new(io_copy::Copier::new());
/// loop {
///     match tokio::time::timeout(Duration::from_secs(1), copy.copy(&mut src, &mut dst)).await {
///         Ok(done) => break done.map(drop).map_err(Into::into),
///         // Dropped mid-copy: what it took and did not deliver waits in `copy`.
///         Err(_elapsed) => println!("{} bytes held", copy.held()),
///     }
/// }
/// # }
/// # let _ = f;
/// ```
pub struct Resumable {
    flow: Flow,
}

impl Resumable {
    /// A resumable copy with the policy `copier`.
    pub fn new(copier: Copier) -> Self {
        Resumable {
            flow: Flow::new(copier),
        }
    }

    /// Bytes taken from the source and not yet delivered.
    pub fn held(&self) -> u64 {
        self.flow.held()
    }

    /// What the copies so far did, over all calls.
    pub fn report(&self) -> &Report {
        self.flow.report()
    }

    /// Delivers what is held, then copies everything from `reader` to `writer` and flushes it.
    ///
    /// # Errors
    ///
    /// As [`copy_with`]; the copy can be called again after any error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped, the bytes it had taken and not delivered stay
    /// here and go first on the next call (with the same ends), and a file copy running on the
    /// blocking pool is waited for then. The report keeps counting across calls.
    pub async fn copy<R, W>(&mut self, reader: &mut R, writer: &mut W) -> Result<Report, CopyError>
    where
        R: AsyncWriterTo + ?Sized,
        W: AsyncReaderFrom + ?Sized,
    {
        let flow = &mut self.flow;
        flow.begin_call();
        let guard = CallGuard(flow);
        let res = poll_fn(|cx| guard.0.poll_copy(cx, reader, writer)).await;
        guard.0.end_call();
        guard.0.outcome_keep(res)
    }
}

/// Ends a call's per-call state (registrations for child stdio) also when its future is
/// dropped.
struct CallGuard<'a>(&'a mut Flow);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.end_call();
    }
}

/// Copies both ways between `a` and `b` until both directions have ended, as
/// [`tokio::io::copy_bidirectional`] does: when one side
/// reaches its end, the other side's write half is shut down (after flushing), and the copy
/// goes on the other way. Returns the bytes copied from `a` to `b` and from `b` to `a`.
///
/// # Errors
///
/// The first error of either direction; the `io::Error` carries the [`CopyError`] of that
/// direction (see [`CopyError::from_io`]). As tokio's, it shuts nothing down on an error.
///
/// # Cancel safety
///
/// Not cancel safe (see the module documentation).
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncWriterTo + AsyncReaderFrom + ?Sized,
    B: AsyncWriterTo + AsyncReaderFrom + ?Sized,
{
    match copy_bidirectional_with(&Copier::new(), a, b).await {
        Ok((ab, ba)) => Ok((ab.written(), ba.written())),
        Err(e) => Err(e.into()),
    }
}

/// [`copy_bidirectional`] with the policy `copier`, returning each direction's [`Report`].
///
/// # Errors
///
/// As [`copy_bidirectional`]: a [`BidiError`] with the failed direction's error and both
/// directions' reports.
///
/// # Cancel safety
///
/// Not cancel safe (see the module documentation).
pub async fn copy_bidirectional_with<A, B>(
    copier: &Copier,
    a: &mut A,
    b: &mut B,
) -> Result<(Report, Report), BidiError>
where
    A: AsyncWriterTo + AsyncReaderFrom + ?Sized,
    B: AsyncWriterTo + AsyncReaderFrom + ?Sized,
{
    let mut ab = Direction::new(*copier);
    let mut ba = Direction::new(*copier);
    let res = poll_fn(|cx| {
        let a_to_b = ab.poll(cx, a, b);
        if let Poll::Ready(Err(e)) = a_to_b {
            return Poll::Ready(Err((e, true)));
        }
        let b_to_a = ba.poll(cx, b, a);
        if let Poll::Ready(Err(e)) = b_to_a {
            return Poll::Ready(Err((e, false)));
        }
        if a_to_b.is_ready() && b_to_a.is_ready() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await;
    ab.flow.end_call();
    ba.flow.end_call();
    let (ab, ba) = (ab.flow.into_report(), ba.flow.into_report());
    match res {
        Ok(()) => Ok((ab, ba)),
        Err((error, a_to_b)) => Err(BidiError {
            error,
            a_to_b_failed: a_to_b,
            a_to_b: ab,
            b_to_a: ba,
        }),
    }
}

/// One direction of [`copy_bidirectional`]: copying, then shutting the sink down, then done.
struct Direction {
    flow: Flow,
    state: DirState,
}

#[derive(PartialEq, Eq)]
enum DirState {
    Copying,
    ShuttingDown,
    Done,
}

impl Direction {
    fn new(copier: Copier) -> Self {
        Direction {
            flow: Flow::new(copier),
            state: DirState::Copying,
        }
    }

    fn poll<R, W>(&mut self, cx: &mut Context<'_>, r: &mut R, w: &mut W) -> Poll<io::Result<()>>
    where
        R: AsyncWriterTo + ?Sized,
        W: AsyncReaderFrom + ?Sized,
    {
        loop {
            match self.state {
                DirState::Copying => {
                    std::task::ready!(self.flow.poll_copy(cx, r, w))?;
                    self.state = DirState::ShuttingDown;
                }
                DirState::ShuttingDown => {
                    std::task::ready!(std::pin::Pin::new(&mut *w).poll_shutdown(cx))?;
                    self.state = DirState::Done;
                }
                DirState::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// A failed [`copy_bidirectional_with`]: the error, which direction it came from, and what
/// each direction had moved.
#[derive(Debug)]
pub struct BidiError {
    /// The error.
    pub error: io::Error,
    /// Whether it came from the copy from `a` to `b` (else from `b` to `a`).
    pub a_to_b_failed: bool,
    /// What the copy from `a` to `b` did.
    pub a_to_b: Report,
    /// What the copy from `b` to `a` did.
    pub b_to_a: Report,
}

impl std::fmt::Display for BidiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (way, report) = if self.a_to_b_failed {
            ("a to b", &self.a_to_b)
        } else {
            ("b to a", &self.b_to_a)
        };
        write!(
            f,
            "{} (copying {way}) after {} bytes; {} bytes a to b, {} b to a",
            self.error,
            report.written(),
            self.a_to_b.written(),
            self.b_to_a.written()
        )
    }
}

impl std::error::Error for BidiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The `io::Error` of the failed direction, carrying its [`CopyError`].
impl From<BidiError> for io::Error {
    fn from(e: BidiError) -> io::Error {
        let report = if e.a_to_b_failed { e.a_to_b } else { e.b_to_a };
        CopyError::new(e.error, report).into()
    }
}
