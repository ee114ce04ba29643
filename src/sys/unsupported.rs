//! Platforms without kernel copy paths here: every descriptor copy is the read/write loop.

use std::io;
use std::os::fd::BorrowedFd;

use crate::copier::Transfer;
use crate::sys::fd_loop::{self, Source};

pub(crate) fn copy_fds(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
) -> io::Result<()> {
    fd_loop::run(t, Source::probe(src), dst)
}
