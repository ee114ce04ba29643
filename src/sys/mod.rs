//! Everything that makes a syscall.
//!
//! Every platform module provides:
//! - `copy_fds(t, src, dst)`: copies from the descriptor `src` to the descriptor `dst` within
//!   `t`'s limit, recording every byte in `t`'s report as it reaches `dst`, and returns when the
//!   source ends, the limit is reached or an error that is not a fallback occurs. It may use any
//!   kernel path the platform has, and must end on the read/write loop of [`fd_loop`].
//!
//! Linux has the kernel paths (`cfg(kernel_paths)`, set by `build.rs`); every other Unix gets
//! `unsupported.rs`, which goes straight to the read/write loop. `IO_COPY_PORTABLE=1` at build
//! time selects that layer on Linux too, so CI compiles and tests it here.

use std::io::{self, Write};
use std::os::fd::BorrowedFd;

use crate::pump::Writer;
use crate::transfer::Transfer;

pub(crate) mod calls;
pub(crate) mod fd_loop;

pub mod fault;
#[cfg(kernel_paths)]
pub(crate) mod pipe;

#[cfg_attr(kernel_paths, path = "linux/mod.rs")]
#[cfg_attr(not(kernel_paths), path = "unsupported.rs")]
mod imp;

#[cfg(kernel_paths)]
pub(crate) use imp::{read_pipe, splice_out};
#[cfg(kernel_paths)]
pub(crate) use pipe::give as give_pipe;
#[cfg(all(kernel_paths, feature = "fault-injection"))]
pub use pipe::idle as idle_pipes;

/// Writes `bytes` to the descriptor `dst` with the descriptor loop's writes (`send` for a
/// stream socket, as its hint says; through the transfer's gate), counting them as the loop's.
pub(crate) fn write_fd(t: &mut Transfer<'_>, dst: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let socket = t
        .hint(crate::report::End::Sink, dst.as_raw_fd())
        .is_some_and(|h| h.is_stream());
    let out = fd_loop::FdOut {
        socket,
        ..fd_loop::FdOut::plain(dst)
    };
    crate::pump::write_all(t, &mut { out }, bytes)
}

impl Transfer<'_> {
    /// Copies from the descriptor `src` into `writer` with the read/write loop, within the
    /// limit. A regular-file source is moved back over bytes a failed write left.
    ///
    /// Reading `src` directly must be the same as reading the value it came from (see
    /// [`WriterTo::source_fd`](crate::WriterTo::source_fd)).
    ///
    /// # Errors
    ///
    /// As [`Transfer::copy_buffered`].
    pub fn copy_fd_buffered<W: Write + ?Sized>(
        &mut self,
        src: BorrowedFd<'_>,
        writer: &mut W,
    ) -> io::Result<u64> {
        let before = self.written();
        let res = fd_loop::copy_fd_to_writer(self, src, &mut Writer(writer));
        res.map(|()| self.written() - before)
    }

    /// Copies from the descriptor `src` to the descriptor `dst` within the limit: the kernel
    /// paths where the platform has them, then the read/write loop.
    ///
    /// Reading `src` and writing `dst` directly must be the same as reading and writing the
    /// values they came from (see [`WriterTo::source_fd`](crate::WriterTo::source_fd)).
    ///
    /// # Errors
    ///
    /// The first error that does not mean "fall back" (see the crate documentation).
    pub fn copy_fds(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<u64> {
        let before = self.written();
        let res = imp::copy_fds(self, src, dst);
        res.map(|()| self.written() - before)
    }
}
