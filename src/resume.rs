//! Copies that survive `WouldBlock`: bytes already taken from the source are kept and delivered
//! first on the next call.

use std::io;

use crate::copier::Copier;
use crate::report::{CopyError, Report};
use crate::traits::{ReaderFrom, WriterTo};
use crate::transfer::{Held, Transfer};

impl Held {
    /// Writes what is held to `w`, outside any limit of the source (these bytes left it already),
    /// and keeps what was not written.
    fn deliver<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<()> {
        let outer = t.limit();
        t.set_limit(u64::MAX);
        let res = self.deliver_within(w, t);
        t.set_limit(outer);
        if self.is_empty() {
            #[cfg(kernel_paths)]
            if let Held::Pipe(pipe) = std::mem::take(self) {
                crate::sys::give_pipe(pipe);
            }
            *self = Held::Empty;
        }
        res
    }

    fn deliver_within<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<()> {
        // Only splice moves a held pipe's bytes without a buffer a failed write could strand
        // them in; a sink without a descriptor, or one that refuses splice, gets them as bytes.
        #[cfg(kernel_paths)]
        if let Held::Pipe(pipe) = self {
            if let Some(dst) = w.sink_fd() {
                if crate::sys::splice_out(t, pipe, dst)? {
                    return Ok(());
                }
            }
            let bytes = crate::sys::read_pipe(pipe)?;
            if let Held::Pipe(pipe) = std::mem::replace(self, Held::Bytes(bytes, 0)) {
                crate::sys::give_pipe(pipe);
            }
        }
        if let Held::Bytes(buf, pos) = self {
            let before = t.written();
            // Into a descriptor the bytes go by the descriptor loop's writes, which a gate sees.
            #[cfg(unix)]
            let res = match w.sink_fd() {
                Some(fd) => crate::sys::write_fd(t, fd, &buf[*pos..]),
                None => t.write_held(w, &buf[*pos..]).map(drop),
            };
            #[cfg(not(unix))]
            let res = t.write_held(w, &buf[*pos..]).map(drop);
            *pos += (t.written() - before) as usize;
            res?;
        }
        Ok(())
    }
}

/// One round of a copy between descriptors for an async driver: delivers what `held` holds,
/// then copies from `src` to `dst` within `limit`, every syscall that can wait going through
/// `gate`; `hints` say what the std-like types of the two ends promise. Returns the round's
/// report, the bytes it took from the source (not counting the held ones delivered), and how
/// it ended. Bytes the round took and could not deliver are in `held` afterwards. `proven`
/// carries the paths that moved bytes from round to round.
#[cfg(all(unix, feature = "tokio"))]
pub(crate) fn fd_round(
    copier: &Copier,
    held: &mut Held,
    (src, dst): (std::os::fd::BorrowedFd<'_>, std::os::fd::BorrowedFd<'_>),
    hints: (Option<crate::transfer::Hint>, Option<crate::transfer::Hint>),
    limit: u64,
    gate: &mut dyn crate::transfer::Gate,
    proven: &mut u8,
) -> (Report, u64, io::Result<()>) {
    use std::os::fd::AsRawFd;
    let mut pending = std::mem::take(held);
    let mut t = Transfer::new(copier, u64::MAX, None);
    t.gate = Some(gate);
    t.proven = *proven;
    t.src_hint = hints.0.map(|h| (src.as_raw_fd(), h));
    t.dst_hint = hints.1.map(|h| (dst.as_raw_fd(), h));
    if let Err(e) = pending.deliver(&mut crate::fd_types::FdWriter(dst), &mut t) {
        *held = pending;
        let mut report = t.finish();
        report.add_held(held.len());
        return (report, 0, Err(e));
    }
    t.held = Some(held);
    let base = t.consumed();
    t.set_limit(limit);
    let res = t.copy_fds(src, dst).map(drop);
    let taken = t.consumed() - base;
    let report = t.finish();
    for (path, stats) in report.paths() {
        if stats.bytes > 0 {
            *proven |= 1 << path as u8;
        }
    }
    (report, taken, res)
}

/// A copy that can be called again after it fails with [`io::ErrorKind::WouldBlock`], for
/// non-blocking descriptors.
///
/// A splice relay moves bytes from the source into a pipe before it writes them to the sink; a
/// read/write loop reads them into a buffer. When the sink then answers `EAGAIN`, a plain copy
/// can only report those bytes as [stranded](Report::stranded). A `Resumable` keeps them
/// ([`Report::held`]) and writes them before anything else on its next call. Dropping it drops
/// what it holds.
///
/// After `WouldBlock`, [`Report::blocked_on`] names the end to wait for: the source to become
/// readable or the sink writable.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use std::io::{ErrorKind, Read};
/// use std::os::unix::net::UnixStream;
///
/// let (mut feed, mut src) = UnixStream::pair()?;
/// let (mut dst, mut out) = UnixStream::pair()?;
/// src.set_nonblocking(true)?;
/// std::io::Write::write_all(&mut feed, b"first ")?;
///
/// let mut copy = io_copy::Copier::new().resumable();
/// let err = copy.copy(&mut src, &mut dst).unwrap_err(); // the source has no more for now
/// assert_eq!((err.kind(), err.written()), (ErrorKind::WouldBlock, 6));
///
/// std::io::Write::write_all(&mut feed, b"second")?;
/// drop(feed);
/// copy.copy(&mut src, &mut dst)?; // to the end
/// drop(dst);
/// let mut got = String::new();
/// out.read_to_string(&mut got)?;
/// assert_eq!(got, "first second");
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Resumable {
    copier: Copier,
    held: Held,
}

impl Copier {
    /// A [`Resumable`] copy with this policy.
    pub fn resumable(self) -> Resumable {
        Resumable {
            copier: self,
            held: Held::Empty,
        }
    }
}

impl Resumable {
    /// Bytes taken from the source and not yet delivered.
    pub fn held(&self) -> u64 {
        self.held.len()
    }

    /// Delivers what is held, then copies everything from `reader` to `writer`.
    ///
    /// # Errors
    ///
    /// As [`Copier::copy`]; after [`io::ErrorKind::WouldBlock`], call again when the descriptors
    /// are ready (the report's [`held`](Report::held) says what waits).
    pub fn copy<R, W>(&mut self, reader: &mut R, writer: &mut W) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        let Resumable { copier, held } = self;
        let mut pending = std::mem::take(held);
        let mut t = Transfer::new(copier, u64::MAX, None);
        let delivered = pending.deliver(writer, &mut t);
        if let Err(e) = delivered {
            *held = pending;
            let mut report = t.finish();
            report.add_held(held.len());
            return Err(CopyError::new(e, report));
        }
        debug_assert!(
            pending.is_empty(),
            "a delivery that returns Ok wrote everything"
        );
        t.held = Some(held);
        let res = reader.write_to(writer, &mut t);
        t.outcome(res)
    }
}
