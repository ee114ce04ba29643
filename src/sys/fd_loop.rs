//! The read/write loop on descriptors: the last path of every chain, on every platform.

use std::io;
use std::os::fd::BorrowedFd;

use crate::copier::{clamp, Transfer};
use crate::report::Path;
use crate::sys::calls;

/// The source of the loop.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    /// The source is a regular file or block device: bytes read but not written can be given
    /// back by moving its position back, so a failed write loses nothing.
    pub(crate) rewind: bool,
}

/// Reads from `src` and writes to `dst` until the source ends, the limit is reached or an error.
///
/// With the transfer's explicit offsets it uses `pread`/`pwrite` and advances those instead of
/// the file positions.
pub(crate) fn run(t: &mut Transfer<'_>, src: Source<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    let mut buffer = t.take_buffer();
    let res = run_with(t, buffer.as_mut_slice(), src, dst);
    t.put_buffer(buffer);
    res
}

fn run_with(
    t: &mut Transfer<'_>,
    buf: &mut [u8],
    src: Source<'_>,
    dst: BorrowedFd<'_>,
) -> io::Result<()> {
    while t.limit() > 0 {
        let want = clamp(t.limit(), buf.len());
        t.report_mut().count_call(Path::Buffered);
        let read = match t.src_off {
            Some(off) => calls::pread(src.fd, &mut buf[..want], off),
            None => calls::read(src.fd, &mut buf[..want]),
        };
        let n = match read {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        t.set_limit(t.limit() - n as u64);
        if let Some(off) = &mut t.src_off {
            *off += n as u64;
        }
        if let Err((e, off)) = write_all(t, &buf[..n], dst) {
            give_back(t, src, &buf[off..n]);
            return Err(e);
        }
    }
    Ok(())
}

/// Writes `bytes` to `dst`, recording each write; on failure also says how far it got.
pub(crate) fn write_all(
    t: &mut Transfer<'_>,
    bytes: &[u8],
    dst: BorrowedFd<'_>,
) -> Result<(), (io::Error, usize)> {
    let mut off = 0;
    while off < bytes.len() {
        t.report_mut().count_call(Path::Buffered);
        let written = match t.dst_off {
            Some(at) => calls::pwrite(dst, &bytes[off..], at),
            None => calls::write(dst, &bytes[off..]),
        };
        match written {
            Ok(0) => {
                let e = io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_copy: the sink accepted no bytes",
                );
                return Err((e, off));
            }
            Ok(m) => {
                off += m;
                if let Some(at) = &mut t.dst_off {
                    *at += m as u64;
                }
                t.report_mut().record(Path::Buffered, m as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, off)),
        }
    }
    Ok(())
}

/// Accounts for `left`, bytes that were read but not written.
fn give_back(t: &mut Transfer<'_>, src: Source<'_>, left: &[u8]) {
    let n = left.len() as u64;
    if let Some(off) = &mut t.src_off {
        *off -= n;
    } else if !(src.rewind
        && i64::try_from(n).is_ok_and(|back| calls::seek_cur(src.fd, -back).is_ok()))
    {
        t.strand(left);
        return;
    }
    t.set_limit(t.limit() + n);
}

/// A copy of a file onto itself reads no further than the end the file had when the copy began,
/// so a sink ahead of the source cannot feed the copy forever.
pub(crate) fn cap_at_initial_end(t: &mut Transfer<'_>, src: BorrowedFd<'_>, size: u64) {
    if let Ok(pos) = calls::seek_cur(src, 0) {
        t.set_limit(t.limit().min(size.saturating_sub(pos)));
    }
}
