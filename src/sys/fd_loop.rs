//! The descriptor ends of the read/write loop ([`crate::pump`]): `read`/`pread` and
//! `write`/`pwrite`, on every platform.

use std::io;
use std::os::fd::BorrowedFd;

use crate::pump::{self, Input, Output};
use crate::report::End;
use crate::sys::calls::{self, Meta};
use crate::transfer::Transfer;

/// A descriptor read with `read(2)`, or `pread(2)` at the transfer's source offset.
pub(crate) struct FdIn<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    /// A regular file or block device: bytes read but not written can be given back by moving
    /// its position back, so a failed write loses nothing. `None`: not known yet, asked of
    /// `fstat` only when a write fails.
    pub(crate) rewind: Option<bool>,
    /// The most bytes one read asks for: half a pipe's capacity, so its writer can refill the
    /// other half while the loop writes (see [`crate::Copier::splice_from_pipe`]).
    pub(crate) max_read: usize,
    /// A socket: read with `recv(2)`, which skips the file layer `read(2)` goes through (as
    /// std's `TcpStream` reads).
    pub(crate) socket: bool,
    /// Read with `preadv2(RWF_DONTCACHE)` at the transfer's offset: the `st_dev` of the file,
    /// remembered as refusing the flag if it answers `EOPNOTSUPP` or `EINVAL` (the read is then
    /// made again without it, and the end is dropped behind instead).
    pub(crate) dontcache: Option<u64>,
}

impl<'a> FdIn<'a> {
    /// A descriptor read from its position, nothing known of it yet.
    pub(crate) fn plain(fd: BorrowedFd<'a>) -> FdIn<'a> {
        FdIn {
            fd,
            rewind: None,
            max_read: usize::MAX,
            socket: false,
            dontcache: None,
        }
    }
}

impl Input for FdIn<'_> {
    fn read_into(&mut self, t: &mut Transfer<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.max_read.min(buf.len());
        let buf = &mut buf[..len];
        let (fd, socket, off) = (self.fd, self.socket, t.src_off);
        if let (Some(dev), Some(at)) = (self.dontcache, off) {
            match t.io(End::Source, || calls::preadv2_dontcache(fd, buf, at)) {
                Err(e) if refuses_dontcache(&e) => {
                    self.dontcache = None;
                    refused_dontcache(t, End::Source, dev, &e);
                }
                res => {
                    let n = res?;
                    t.src_off = Some(at + n as u64);
                    return Ok(n);
                }
            }
        }
        let read = |buf: &mut [u8]| match off {
            Some(off) => calls::pread(fd, buf, off),
            None if socket => calls::recv(fd, buf),
            None => calls::read(fd, buf),
        };
        let first = t.io(End::Source, || read(buf));
        // Through the page cache, from a position off the alignment only to the next boundary,
        // so the next read is aligned again.
        let n = or_without_direct(fd, socket, first, || {
            let pos = off.or_else(|| calls::seek_cur(fd, 0).ok());
            let len = match pos.map_or(0, |p| p % calls::DIRECT_ALIGN) {
                0 => buf.len(),
                h => buf.len().min((calls::DIRECT_ALIGN - h) as usize),
            };
            t.io(End::Source, || read(&mut buf[..len]))
        })?;
        if let Some(off) = off {
            t.src_off = Some(off + n as u64);
        }
        Ok(n)
    }

    fn unread(&mut self, t: &mut Transfer<'_>, n: usize) -> bool {
        if let Some(off) = &mut t.src_off {
            *off -= n as u64;
            return true;
        }
        let rewind = *self
            .rewind
            .get_or_insert_with(|| Meta::of(self.fd).is_seekable());
        rewind && i64::try_from(n).is_ok_and(|back| calls::seek_cur(self.fd, -back).is_ok())
    }
}

/// A descriptor written with `write(2)` (`send(2)` for a socket, as std's `TcpStream` writes),
/// or `pwrite(2)` at the transfer's sink offset.
pub(crate) struct FdOut<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    pub(crate) socket: bool,
    /// Written with `pwritev2(RWF_DONTCACHE)`, as [`FdIn::dontcache`] reads.
    pub(crate) dontcache: Option<u64>,
}

impl<'a> FdOut<'a> {
    /// A descriptor written at its position, nothing known of it yet.
    pub(crate) fn plain(fd: BorrowedFd<'a>) -> FdOut<'a> {
        FdOut {
            fd,
            socket: false,
            dontcache: None,
        }
    }
}

/// Whether a read or write with `RWF_DONTCACHE` was refused for the flag: `EOPNOTSUPP` from a
/// filesystem without it or a kernel before 6.14 (which checks flags before moving a byte),
/// `EINVAL` from one that does not know `preadv2` flags at all.
fn refuses_dontcache(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::OPNOTSUPP, Errno::INVAL]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Records that the filesystem `dev` refused `RWF_DONTCACHE` at `end`: remembered for the
/// process, and the end is dropped behind from here on.
fn refused_dontcache(t: &mut Transfer<'_>, end: End, dev: u64, e: &io::Error) {
    calls::dontcache_refused(dev);
    let report = t.report_mut();
    report.set_cache_fallback(end, crate::Reason::Errno(e.raw_os_error().unwrap_or(0)));
    report.set_cache_mode(end, crate::CacheMode::DropBehind);
}

impl Output for FdOut<'_> {
    fn write_from(&mut self, t: &mut Transfer<'_>, buf: &[u8]) -> io::Result<usize> {
        let (fd, socket, off) = (self.fd, self.socket, t.dst_off);
        if let (Some(dev), Some(at)) = (self.dontcache, off) {
            match t.io(End::Sink, || calls::pwritev2_dontcache(fd, buf, at)) {
                Err(e) if refuses_dontcache(&e) => {
                    self.dontcache = None;
                    refused_dontcache(t, End::Sink, dev, &e);
                }
                res => {
                    let n = res?;
                    t.dst_off = Some(at + n as u64);
                    return Ok(n);
                }
            }
        }
        let write = || match off {
            Some(off) => calls::pwrite(fd, buf, off),
            None if socket => calls::send(fd, buf),
            None => calls::write(fd, buf),
        };
        let first = t.io(End::Sink, write);
        let n = or_without_direct(fd, socket, first, || t.io(End::Sink, write))?;
        if let Some(off) = off {
            t.dst_off = Some(off + n as u64);
        }
        Ok(n)
    }
}

/// `first`, the result of a read or write of `fd`; or, when it is the `EINVAL` with which a
/// file opened with `O_DIRECT` refuses an unaligned buffer, length or position, the result of
/// `again` run with `O_DIRECT` cleared (see [`calls::without_direct`]).
fn or_without_direct(
    fd: BorrowedFd<'_>,
    socket: bool,
    first: io::Result<usize>,
    again: impl FnOnce() -> io::Result<usize>,
) -> io::Result<usize> {
    match first {
        Err(e) if !socket && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
            calls::without_direct(fd, again).unwrap_or(Err(e))
        }
        res => res,
    }
}

/// The read/write loop between two descriptors.
pub(crate) fn run(t: &mut Transfer<'_>, src: FdIn<'_>, dst: FdOut<'_>) -> io::Result<()> {
    pump::pump(t, &mut { src }, &mut { dst })
}

/// The read/write loop from a descriptor into any output.
pub(crate) fn copy_fd_to_writer<O: Output + ?Sized>(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    out: &mut O,
) -> io::Result<()> {
    pump::pump(t, &mut FdIn::plain(src), out)
}

/// A copy of a file onto itself reads no further than the end the file had when the copy began,
/// so a sink ahead of the source cannot feed the copy forever.
pub(crate) fn cap_at_initial_end(t: &mut Transfer<'_>, src: BorrowedFd<'_>, size: u64) {
    let pos = match t.src_off {
        Some(off) => Ok(off),
        None => calls::seek_cur(src, 0),
    };
    if let Ok(pos) = pos {
        t.set_limit(t.limit().min(size.saturating_sub(pos)));
    }
}
