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

impl<'a> Source<'a> {
    /// A source whose kind `fstat` tells.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    pub(crate) fn probe(fd: BorrowedFd<'a>) -> Self {
        Source {
            fd,
            rewind: calls::Meta::of(fd).is_seekable(),
        }
    }
}

/// Reads from `src` and writes to `dst` until the source ends, the limit is reached or an error.
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
        let n = match calls::read(src.fd, &mut buf[..want]) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        t.set_limit(t.limit() - n as u64);
        let mut off = 0;
        while off < n {
            t.report_mut().count_call(Path::Buffered);
            let err = match calls::write(dst, &buf[off..n]) {
                Ok(0) => io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_copy: the sink accepted no bytes",
                ),
                Ok(m) => {
                    off += m;
                    t.report_mut().record(Path::Buffered, m as u64);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            give_back(t, src, n - off);
            return Err(err);
        }
    }
    Ok(())
}

/// Accounts for `left` bytes that were read but not written.
fn give_back(t: &mut Transfer<'_>, src: Source<'_>, left: usize) {
    let Ok(back) = i64::try_from(left) else {
        t.report_mut().add_stranded(left as u64);
        return;
    };
    if src.rewind && calls::seek_cur(src.fd, -back).is_ok() {
        t.set_limit(t.limit() + left as u64);
    } else {
        t.report_mut().add_stranded(left as u64);
    }
}
