//! One async copy in flight ([`Flow`]): its policy, limit and report, what it holds, and the two
//! engines: rounds of the Linux layer's chain between descriptor ends, and the buffered loop
//! through tokio's traits.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use ::tokio::task::JoinHandle;

use super::ends::{check_nonblocking, Gate, Registration, SinkEnd, SourceEnd, Waitable};
use super::{AsyncReaderFrom, AsyncWriterTo};
use crate::copier::Copier;
use crate::report::{CopyError, End, Path, Report};
use crate::transfer::{clamp, Held};

/// The most bytes one round of the kernel chain is asked for, so that a copy between ready ends
/// comes back to the scheduler's budget between rounds.
const ROUND: u64 = 1024 * 1024;

/// From this size a copy from one `tokio::fs::File` into another runs on the blocking pool.
pub(crate) const BLOCKING_FILE_COPY: u64 = 64 * 1024;

/// One async copy in flight: what [`AsyncWriterTo::poll_write_to`] and
/// [`AsyncReaderFrom::poll_read_from`] receive. An implementation moves bytes only through it
/// (or by passing it on), so the count and the limit stay exact; [`Flow::taken`] before and
/// after a nested call says what that call took from the source.
pub struct Flow {
    copier: Copier,
    /// Bytes this copy may still take from its source; `u64::MAX`: no limit.
    limit: u64,
    /// Bytes taken from the source so far.
    taken: u64,
    report: Report,
    /// Bytes a kernel round took and has not delivered: a relay pipe, or the fd loop's bytes.
    held: Held,
    /// The buffered loop's buffer and the bytes in it not yet written.
    buf: LoopBuf,
    /// For this call: the registrations of child pipes (source, sink).
    regs: [Option<Registration>; 2],
    /// For this call: `tokio::fs::File` ends brought to rest (source, sink), and whether they
    /// are regular files.
    rest: [Option<bool>; 2],
    /// A copy between two files running on the blocking pool, or a source part being read into
    /// the page cache there.
    task: Option<Task>,
    /// The end of the file the last prefetch covered (so each round is checked once).
    prefetched: u64,
    /// The copy has finished; what is left is flushing the sink.
    copied: bool,
    /// The paths that moved bytes in this call's rounds.
    proven: u8,
}

/// A blocking-pool job of this copy.
enum Task {
    /// A whole file-to-file copy: its report, its bytes, its result.
    Copy(JoinHandle<(Report, io::Result<()>)>),
    /// A part of a source file read into the page cache, up to this offset.
    Prefetch(JoinHandle<io::Result<()>>, u64),
}

#[derive(Default)]
struct LoopBuf {
    data: Option<Box<[u8]>>,
    pos: usize,
    cap: usize,
    need_flush: bool,
    read_done: bool,
}

impl Flow {
    pub(crate) fn new(copier: Copier) -> Self {
        Flow {
            copier,
            limit: u64::MAX,
            taken: 0,
            report: Report::default(),
            held: Held::Empty,
            buf: LoopBuf::default(),
            regs: [None, None],
            rest: [None, None],
            task: None,
            prefetched: 0,
            copied: false,
            proven: 0,
        }
    }

    /// The policy of this copy.
    pub fn copier(&self) -> &Copier {
        &self.copier
    }

    /// Bytes this copy may still take from its source; `u64::MAX` means no limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes that have reached the sink so far.
    pub fn written(&self) -> u64 {
        self.report.written()
    }

    /// Bytes taken from the source so far (delivered, or held to be delivered).
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// The report so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Runs `f` with the limit lowered to `n`, then restores the outer limit less what `f` took:
    /// how [`Take`](::tokio::io::Take) passes its limit down.
    pub fn limited<T>(&mut self, n: u64, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.limit;
        let before = self.taken;
        self.limit = outer.min(n);
        let out = f(self);
        self.limit = outer.saturating_sub(self.taken - before);
        out
    }

    /// Counts `n` bytes that a wrapper held (a `BufReader`'s buffer) and has written to the
    /// sink: taken from the source, and delivered.
    pub fn record_held(&mut self, n: usize) {
        let n = n as u64;
        self.report.count_call(Path::Buffered);
        self.report.record(Path::Buffered, n);
        self.taken += n;
        self.limit = self.limit.saturating_sub(n);
    }

    pub(crate) fn held(&self) -> u64 {
        self.held.len() + (self.buf.cap - self.buf.pos) as u64
    }

    pub(crate) fn begin_call(&mut self) {
        self.limit = u64::MAX;
        self.buf.read_done = false;
        self.copied = false;
        self.proven = 0;
    }

    /// Drops what belongs to one call only: child-pipe registrations, the files' rest state.
    pub(crate) fn end_call(&mut self) {
        self.regs = [None, None];
        self.rest = [None, None];
    }

    pub(crate) fn into_report(mut self) -> Report {
        self.sync_held();
        self.report
    }

    pub(crate) fn outcome(mut self, res: io::Result<()>) -> Result<Report, CopyError> {
        self.sync_held();
        match res {
            Ok(()) => Ok(self.report),
            Err(e) => Err(CopyError::new(e, self.report)),
        }
    }

    /// As [`Flow::outcome`], keeping the flow for another call.
    pub(crate) fn outcome_keep(&mut self, res: io::Result<()>) -> Result<Report, CopyError> {
        self.sync_held();
        match res {
            Ok(()) => Ok(self.report.clone()),
            Err(e) => Err(CopyError::new(e, self.report.clone())),
        }
    }

    /// The report's held count is what waits now.
    fn sync_held(&mut self) {
        let now = self.held();
        self.report.set_held(now);
    }

    /// The whole copy: `r` into `w` to the end of `r` or the limit, then a flush of `w`.
    pub(crate) fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncWriterTo + ?Sized,
        W: AsyncReaderFrom + ?Sized,
    {
        if !self.copied {
            ready!(r.poll_write_to(cx, w, self))?;
            self.copied = true;
        }
        Pin::new(&mut *w).poll_flush(cx)
    }

    /// The default [`AsyncReaderFrom::poll_read_from`]: the kernel chain when both ends name a
    /// descriptor end, the buffered loop otherwise.
    pub(crate) fn poll_between<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncWriterTo + ?Sized,
        W: AsyncReaderFrom + ?Sized,
    {
        // What the buffered loop held from an earlier call goes first.
        ready!(self.poll_write_buf(cx, w))?;
        if r.source_end().is_some() && w.sink_end().is_some() {
            let (s, d) = (r.source_end(), w.sink_end());
            if let (Some(s), Some(d)) = (s, d) {
                if ready!(self.poll_kernel(cx, s, d))? {
                    return Poll::Ready(Ok(()));
                }
            }
        }
        if !self.held.is_empty() {
            // Bytes a kernel round held, for a sink that takes no descriptor now: through the
            // buffered loop's buffer.
            self.held_into_buf()?;
            ready!(self.poll_write_buf(cx, w))?;
        }
        self.poll_buffered(cx, r, w)
    }

    /// Moves what a kernel round held into the loop's buffer.
    fn held_into_buf(&mut self) -> io::Result<()> {
        let bytes = match std::mem::take(&mut self.held) {
            Held::Empty => return Ok(()),
            Held::Bytes(b, pos) => b[pos..].to_vec(),
            #[cfg(kernel_paths)]
            Held::Pipe(mut pipe) => {
                let b = crate::sys::read_pipe(&mut pipe)?;
                crate::sys::give_pipe(pipe);
                b
            }
        };
        let size = bytes.len().max(self.copier.buffer_size);
        let mut data = vec![0u8; size].into_boxed_slice();
        data[..bytes.len()].copy_from_slice(&bytes);
        self.buf = LoopBuf {
            data: Some(data),
            pos: 0,
            cap: bytes.len(),
            ..LoopBuf::default()
        };
        Ok(())
    }

    /// Writes what the loop's buffer holds to `w`.
    fn poll_write_buf<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: &mut W,
    ) -> Poll<io::Result<()>> {
        while self.buf.pos < self.buf.cap {
            let data = self.buf.data.as_ref().expect("a buffer holding bytes");
            let n = ready!(Pin::new(&mut *w).poll_write(cx, &data[self.buf.pos..self.buf.cap]))?;
            self.report.count_call(Path::Buffered);
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_copy: the sink accepted no bytes",
                )));
            }
            let n = n.min(self.buf.cap - self.buf.pos);
            self.buf.pos += n;
            self.buf.need_flush = true;
            self.report.record(Path::Buffered, n as u64);
        }
        self.buf.pos = 0;
        self.buf.cap = 0;
        Poll::Ready(Ok(()))
    }

    /// The buffered loop, through tokio's traits, as `tokio::io::copy` runs it: to the end of
    /// `r` or the limit; flushes `w` before waiting on `r` after writing.
    pub(crate) fn poll_buffered<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            ready!(self.poll_write_buf(cx, w))?;
            if self.limit == 0 || self.buf.read_done {
                return Poll::Ready(Ok(()));
            }
            let size = self.copier.buffer_size;
            let data = self
                .buf
                .data
                .get_or_insert_with(|| vec![0u8; size].into_boxed_slice());
            let want = clamp(self.limit, data.len());
            let mut rb = ReadBuf::new(&mut data[..want]);
            match Pin::new(&mut *r).poll_read(cx, &mut rb) {
                Poll::Pending => {
                    if self.buf.need_flush {
                        ready!(Pin::new(&mut *w).poll_flush(cx))?;
                        self.buf.need_flush = false;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.report.set_blocked_on(Some(End::Source));
                    }
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => {
                    self.report.count_call(Path::Buffered);
                    let n = rb.filled().len();
                    if n == 0 {
                        self.buf.read_done = true;
                    } else {
                        self.buf.cap = n;
                        self.taken += n as u64;
                        self.limit -= n as u64;
                    }
                }
            }
        }
    }

    /// Brings a `tokio::fs::File` end to rest, once per call: its pending operation completed
    /// (a write-behind, a read), its read-ahead given back by a seek to its position. Whether
    /// it is a regular file, which alone takes the kernel paths.
    fn poll_rest(
        &mut self,
        cx: &mut Context<'_>,
        file: &mut ::tokio::fs::File,
        slot: usize,
    ) -> Poll<io::Result<bool>> {
        if let Some(regular) = self.rest[slot] {
            return Poll::Ready(Ok(regular));
        }
        let regular = rustix::fs::fstat(file.as_fd()).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
        });
        if regular {
            ready!(Pin::new(&mut *file).poll_flush(cx))?;
            ready!(Pin::new(&mut *file).poll_complete(cx))?;
            Pin::new(&mut *file).start_seek(io::SeekFrom::Current(0))?;
            ready!(Pin::new(&mut *file).poll_complete(cx))?;
        }
        self.rest[slot] = Some(regular);
        Poll::Ready(Ok(regular))
    }

    /// The kernel chain between two descriptor ends, in rounds: `Ready(Ok(true))` when the
    /// copy is done, `Ready(Ok(false))` when these ends cannot take it (a `File` that is not a
    /// regular file) and the buffered loop must.
    fn poll_kernel(
        &mut self,
        cx: &mut Context<'_>,
        mut src: SourceEnd<'_>,
        mut dst: SinkEnd<'_>,
    ) -> Poll<io::Result<bool>> {
        if let SourceEnd::File(f) = &mut src {
            if !ready!(self.poll_rest(cx, f, 0))? {
                return Poll::Ready(Ok(false));
            }
        }
        if let SinkEnd::File(f) = &mut dst {
            if !ready!(self.poll_rest(cx, f, 1))? {
                return Poll::Ready(Ok(false));
            }
        }
        let src_file = match &src {
            SourceEnd::File(f) => Some(f.as_fd()),
            _ => None,
        };
        let dst_file = match &dst {
            SinkEnd::File(f) => Some(f.as_fd()),
            _ => None,
        };
        if let SourceEnd::ChildPipe(fd) = &src {
            check_nonblocking(*fd)?;
        }
        if let SinkEnd::ChildPipe(fd) = &dst {
            check_nonblocking(*fd)?;
        }
        if let (Some(s), Some(d)) = (src_file, dst_file) {
            return self.poll_file_to_file(cx, s, d);
        }
        loop {
            if let Some(s) = src_file {
                ready!(self.poll_prefetch(cx, s))?;
            }
            let coop = ready!(::tokio::task::coop::poll_proceed(cx));
            let (src_w, dst_w) = (
                source_waitable(&src, src_file, self.regs[0].as_ref()),
                sink_waitable(&dst, dst_file, self.regs[1].as_ref()),
            );
            let chunk = self.limit.min(ROUND);
            let mut gate = Gate {
                src: &src_w,
                dst: &dst_w,
            };
            let (report, taken, res) = crate::resume::fd_round(
                &self.copier,
                &mut self.held,
                (src_w.fd, dst_w.fd),
                (src_w.hint, dst_w.hint),
                chunk,
                &mut gate,
                &mut self.proven,
            );
            let moved = report.written() > 0 || taken > 0;
            // `absorb`, field by field: the waitables still borrow the registrations.
            self.report.absorb(&report);
            self.taken += taken;
            self.limit = self.limit.saturating_sub(taken);
            match res {
                Ok(()) => {
                    coop.made_progress();
                    if taken < chunk || self.limit == 0 {
                        return Poll::Ready(Ok(true));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if moved {
                        coop.made_progress();
                    }
                    let Some(end) = report.blocked_on() else {
                        return Poll::Ready(Err(io::Error::other(
                            "io_copy: WouldBlock with no end to wait for",
                        )));
                    };
                    let (waitable, slot) = match end {
                        End::Source => (&src_w, 0),
                        End::Sink => (&dst_w, 1),
                    };
                    if waitable.unregistered() {
                        let reg = Registration::new(waitable.fd, end)?;
                        self.regs[slot] = Some(reg);
                        // Round again through the registration: an EAGAIN now waits on it.
                        continue;
                    }
                    ready!(waitable.poll_ready(cx, end))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Adds a round's report to the copy's.
    fn absorb(&mut self, round: &Report, taken: u64) {
        self.report.absorb(round);
        self.taken += taken;
        self.limit = self.limit.saturating_sub(taken);
    }

    /// A copy from one regular file into another: inline below [`BLOCKING_FILE_COPY`], else
    /// whole on the blocking pool (on duplicates of the descriptors, which share their
    /// positions).
    fn poll_file_to_file(
        &mut self,
        cx: &mut Context<'_>,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
    ) -> Poll<io::Result<bool>> {
        if self.task.is_none() {
            let size = rustix::fs::fstat(src).map_or(0, |st| st.st_size as u64);
            if self.limit.min(size) < BLOCKING_FILE_COPY {
                let mut s = std::fs::File::from(src.try_clone_to_owned()?);
                let mut d = std::fs::File::from(dst.try_clone_to_owned()?);
                let res = copy_limited(&self.copier, &mut s, &mut d, self.limit);
                let (report, res) = match res {
                    Ok(r) => (r, Ok(())),
                    Err(e) => {
                        let (e, r) = e.into_parts();
                        (r, Err(e))
                    }
                };
                let taken = report.written() + report.stranded();
                self.absorb(&report, taken);
                return Poll::Ready(res.map(|()| true));
            }
            let (s, d): (OwnedFd, OwnedFd) = (src.try_clone_to_owned()?, dst.try_clone_to_owned()?);
            let (copier, limit) = (self.copier, self.limit);
            self.task = Some(Task::Copy(::tokio::task::spawn_blocking(move || {
                let (mut s, mut d) = (std::fs::File::from(s), std::fs::File::from(d));
                match copy_limited(&copier, &mut s, &mut d, limit) {
                    Ok(r) => (r, Ok(())),
                    Err(e) => {
                        let (e, r) = e.into_parts();
                        (r, Err(e))
                    }
                }
            })));
        }
        let Some(Task::Copy(handle)) = &mut self.task else {
            return Poll::Ready(Err(io::Error::other("io_copy: a prefetch in a file copy")));
        };
        let joined = ready!(Pin::new(handle).poll(cx));
        self.task = None;
        let (report, res) = joined.map_err(|e| io::Error::other(format!("io_copy: {e}")))?;
        let taken = report.written() + report.stranded();
        self.absorb(&report, taken);
        Poll::Ready(res.map(|()| true))
    }

    /// Before a round from the file `src`: when the first or last byte of the part the round
    /// will send is not in the page cache (`preadv2` with `RWF_NOWAIT`), reads that part into
    /// the cache on the blocking pool, so the round's `sendfile` does not wait for the disk on
    /// the runtime's thread.
    fn poll_prefetch(&mut self, cx: &mut Context<'_>, src: BorrowedFd<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(Task::Prefetch(handle, end)) = &mut self.task {
                let end = *end;
                let joined = ready!(Pin::new(handle).poll(cx));
                self.task = None;
                joined.map_err(|e| io::Error::other(format!("io_copy: {e}")))??;
                self.prefetched = end;
                return Poll::Ready(Ok(()));
            }
            let pos = rustix::fs::seek(src, rustix::fs::SeekFrom::Current(0))?;
            let size = rustix::fs::fstat(src).map_or(0, |st| st.st_size as u64);
            let end = size.min(pos.saturating_add(self.limit.min(ROUND)));
            if end <= pos || end <= self.prefetched {
                return Poll::Ready(Ok(()));
            }
            if crate::sys::calls::cached(src, pos) && crate::sys::calls::cached(src, end - 1) {
                self.prefetched = end;
                return Poll::Ready(Ok(()));
            }
            let fd = src.try_clone_to_owned()?;
            let handle = ::tokio::task::spawn_blocking(move || {
                crate::sys::calls::read_into_cache(fd.as_fd(), pos, end)
            });
            self.task = Some(Task::Prefetch(handle, end));
        }
    }
}

fn source_waitable<'a>(
    src: &'a SourceEnd<'_>,
    file: Option<BorrowedFd<'a>>,
    reg: Option<&'a Registration>,
) -> Waitable<'a> {
    match src {
        SourceEnd::Tcp(s) => Waitable::tcp(s),
        SourceEnd::Unix(s) => Waitable::unix(s),
        SourceEnd::Pipe(r) => Waitable::reader(r),
        SourceEnd::ChildPipe(fd) => Waitable::child(*fd, reg),
        SourceEnd::File(_) => Waitable::file(file.expect("a file end has its descriptor")),
    }
}

fn sink_waitable<'a>(
    dst: &'a SinkEnd<'_>,
    file: Option<BorrowedFd<'a>>,
    reg: Option<&'a Registration>,
) -> Waitable<'a> {
    match dst {
        SinkEnd::Tcp(s) => Waitable::tcp(s),
        SinkEnd::Unix(s) => Waitable::unix(s),
        SinkEnd::Pipe(w) => Waitable::writer(w),
        SinkEnd::ChildPipe(fd) => Waitable::child(*fd, reg),
        SinkEnd::File(_) => Waitable::file(file.expect("a file end has its descriptor")),
    }
}

/// A blocking copy of at most `limit` bytes (all of them for `u64::MAX`).
fn copy_limited(
    copier: &Copier,
    s: &mut std::fs::File,
    d: &mut std::fs::File,
    limit: u64,
) -> Result<Report, CopyError> {
    if limit == u64::MAX {
        copier.copy(s, d)
    } else {
        copier.copy(&mut std::io::Read::take(s, limit), d)
    }
}

use std::future::Future as _;
