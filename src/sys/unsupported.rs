//! Platforms without kernel copy paths here: every descriptor copy is the read/write loop.

use std::io;
use std::os::fd::BorrowedFd;

use crate::sys::calls::Meta;
use crate::sys::fd_loop::{self, FdIn, FdOut};
use crate::transfer::Transfer;

pub(crate) fn copy_fds(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
) -> io::Result<()> {
    let s = Meta::of(src);
    if t.src_off.is_none() && t.dst_off.is_none() && s.same_file(&Meta::of(dst)) {
        fd_loop::cap_at_initial_end(t, src, s.size);
    }
    let rewind = Some(s.is_seekable());
    fd_loop::run(
        t,
        FdIn {
            rewind,
            ..FdIn::plain(src)
        },
        FdOut::plain(dst),
    )
}
