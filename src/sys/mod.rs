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

pub(crate) mod calls;
pub(crate) mod fd_loop;

#[cfg(feature = "fault-injection")]
pub mod fault;

#[cfg_attr(kernel_paths, path = "linux/mod.rs")]
#[cfg_attr(not(kernel_paths), path = "unsupported.rs")]
mod imp;

pub(crate) use fd_loop::copy_fd_to_writer;
pub(crate) use imp::copy_fds;
#[cfg(all(kernel_paths, feature = "fault-injection"))]
pub use imp::pipe::idle as idle_pipes;
#[cfg(kernel_paths)]
pub(crate) use imp::pipe::{give as give_pipe, Pipe};
#[cfg(kernel_paths)]
pub(crate) use imp::{read_pipe, splice_out};
