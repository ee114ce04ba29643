//! Go's `io.Copy` zero-copy machinery for Rust, with a report of every path taken.
//!
//! [`copy`], [`copy_n`] and [`copy_buffer`] drop in beside [`std::io::copy`]. Between two file
//! descriptors on Linux they move bytes inside the kernel where it can (`copy_file_range`,
//! `sendfile`, `splice`, and for socket relays `splice` through a pooled pipe), fall back step by
//! step where it cannot, and keep counts and file positions exact on every path, also after
//! partial progress and on error. [`copy_range`] and [`copy_at`] copy at explicit offsets without
//! moving file positions, and [`Resumable`] carries a copy between non-blocking descriptors across
//! `WouldBlock` without losing the bytes it had taken.
//!
//! # How a copy is dispatched
//!
//! As in Go: the source's [`WriterTo::write_to`] runs first; by default it defers to the sink's
//! [`ReaderFrom::read_from`], which takes a kernel path when both ends are file descriptors and
//! the read/write loop otherwise. std's descriptor types (`File`, `TcpStream`, `UnixStream`,
//! pipes, child stdio, stdio locks), the wrappers `&mut T`, `Box<T>`, `Take<T>`, `BufReader<T>`
//! (its buffer is drained first) and `BufWriter<T>` (flushed first), and the in-memory types
//! implement the traits. Any other type opts in with one line (see [`WriterTo`]), or is wrapped in
//! [`Plain`].
//!
//! # Reports and errors
//!
//! [`Copier`] holds the policy (which kernel paths may run, chunk, buffer and pipe sizes) and its
//! methods return a [`Report`]: the bytes moved, each path's share and calls, and why each
//! fallback happened. A failed copy gives a [`CopyError`] carrying that report; it converts into
//! an [`io::Error`] of the same kind from which [`CopyError::from_io`] recovers it, so even
//! [`copy`]'s plain `io::Result` never loses the count.
//!
//! Nothing is lost: a byte is counted when it reaches the sink. When a write fails after a read,
//! a regular-file source is moved back over the bytes not written, so its position is where the
//! written bytes end; other sources report those bytes as [stranded](Report::stranded).
//!
//! # The zero-copy contract
//!
//! `sendfile` hands the page cache of the source file to the socket or pipe instead of copying
//! it. If the file is modified before the peer has read those bytes, the peer may receive the new
//! contents (rust-lang/rust#108283). A copy of a file that may change while or soon after it is
//! sent should use [`Copier::share_file_pages(false)`](Copier::share_file_pages). File-to-file
//! copies are real copies on every path.
//!
//! # Platform-specific behavior
//!
//! Linux has the kernel paths; its module documents the order, the thresholds and the table of
//! errnos that mean "fall back". Every other Unix builds and takes the read/write loop. On
//! non-Unix targets only the in-memory and user types take part.
//!
//! # Examples
//!
//! ```
//! use std::fs::File;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("in"), b"hello, kernel")?;
//! let mut src = File::open(dir.path().join("in"))?;
//! let mut dst = File::create(dir.path().join("out"))?;
//! let n = io_copy::copy(&mut src, &mut dst)?;
//! assert_eq!(n, 13);
//! assert_eq!(std::fs::read(dir.path().join("out"))?, b"hello, kernel");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # References
//!
//! - [copy_file_range(2)](https://man7.org/linux/man-pages/man2/copy_file_range.2.html)
//! - [sendfile(2)](https://man7.org/linux/man-pages/man2/sendfile.2.html)
//! - [splice(2)](https://man7.org/linux/man-pages/man2/splice.2.html)
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

use std::io;

// The modules from the top down; each uses only those below it. The entry points (`copy`,
// `resume`, `offset`) and std's descriptor types (`fd_types`) use the traits; the traits hand a
// copy to the Linux chain or the read/write loop of `sys`, which runs on `pump`'s loop; both keep
// their accounts in `transfer`, one copy in flight; at the bottom are the policy (`copier`), the
// `report`, and the leaves of `sys` (its syscall wrappers and the pipe pool).
mod cache;
mod copier;
mod copy;
#[cfg(unix)]
mod fd_types;
#[cfg(unix)]
mod offset;
mod prefixed;
mod pump;
mod report;
mod resume;
#[cfg(unix)]
mod sys;
#[cfg(all(unix, feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod traits;
mod transfer;

pub use cache::{Cache, CacheMode};
pub use copier::{
    Copier, DEFAULT_BUFFER_SIZE, DEFAULT_FIRST_READ, DEFAULT_PIPE_SIZE, DEFAULT_SMALL_COPY,
    MAX_CHUNK,
};
pub use prefixed::Prefixed;
pub use report::{CopyError, End, Fallback, Path, PathStats, Reason, Report};
pub use resume::Resumable;
#[cfg(all(unix, feature = "fault-injection"))]
#[doc(hidden)]
pub use sys::fault;
#[cfg(all(kernel_paths, feature = "fault-injection"))]
#[doc(hidden)]
pub use sys::idle_pipes;
pub use traits::{Plain, ReaderFrom, WriterTo};
pub use transfer::Transfer;

const DEFAULT: Copier = Copier::new();

/// Copies everything from `reader` to `writer` and returns the bytes copied: [`std::io::copy`]
/// with Go's zero-copy paths.
///
/// # Errors
///
/// The first error of either end that does not mean "fall back". The returned `io::Error` keeps
/// the kind of the original and carries a [`CopyError`] with the bytes that reached `writer`:
/// see [`CopyError::from_io`]. Unlike std's, its `raw_os_error()` is `None`; the errno is
/// [`CopyError::raw_os_error`].
///
/// # Platform-specific behavior
///
/// On Linux, file to file uses `copy_file_range`, a file to anything uses `sendfile`, a stream
/// socket to a pipe uses `splice`, a stream socket to a stream socket or a file uses `splice`
/// through a pooled pipe, a pipe source the read/write loop reading half the pipe at a time, and
/// the rest the read/write loop with a 64 KiB buffer. Other platforms use the read/write loop.
///
/// # Examples
///
/// ```
/// let mut src: &[u8] = b"hello";
/// let mut dst: Vec<u8> = Vec::new();
/// assert_eq!(io_copy::copy(&mut src, &mut dst)?, 5);
/// assert_eq!(dst, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: WriterTo + ?Sized,
    W: ReaderFrom + ?Sized,
{
    DEFAULT.run_count(reader, writer, u64::MAX, None)
}

/// Copies exactly `n` bytes from `reader` to `writer`: Go's `io.CopyN`.
///
/// # Errors
///
/// [`io::ErrorKind::UnexpectedEof`] when `reader` ends before `n` bytes, and otherwise as
/// [`copy`]; in both cases the error carries the bytes that arrived (see
/// [`CopyError::from_io`]).
///
/// # Examples
///
/// ```
/// let mut src: &[u8] = b"hello";
/// let mut dst = Vec::new();
/// assert_eq!(io_copy::copy_n(&mut src, &mut dst, 4)?, 4);
/// let err = io_copy::copy_n(&mut src, &mut dst, 4).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
/// assert_eq!(io_copy::CopyError::from_io(&err).unwrap().written(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_n<R, W>(reader: &mut R, writer: &mut W, n: u64) -> io::Result<u64>
where
    R: WriterTo + ?Sized,
    W: ReaderFrom + ?Sized,
{
    Ok(DEFAULT.copy_n(reader, writer, n)?.written())
}

/// Copies everything from `reader` to `writer`, using `buf` where the read/write loop runs: Go's
/// `io.CopyBuffer`. As in Go, a kernel path does not use `buf`.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] for an empty `buf`, and otherwise as [`copy`].
///
/// # Examples
///
/// ```
/// let mut buf = [0u8; 4096];
/// let mut dst = Vec::new();
/// io_copy::copy_buffer(&mut &b"abc"[..], &mut dst, &mut buf)?;
/// assert_eq!(dst, b"abc");
/// assert!(io_copy::copy_buffer(&mut &b"abc"[..], &mut dst, &mut []).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_buffer<R, W>(reader: &mut R, writer: &mut W, buf: &mut [u8]) -> io::Result<u64>
where
    R: WriterTo + ?Sized,
    W: ReaderFrom + ?Sized,
{
    if buf.is_empty() {
        return Ok(DEFAULT.copy_buffer(reader, writer, buf)?.written());
    }
    DEFAULT.run_count(reader, writer, u64::MAX, Some(buf))
}

/// Copies up to `len` bytes of `src` from `offset` on into `writer`, leaving the position of
/// `src` alone: [`Copier::copy_range`] with the default policy.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] when `offset + len` exceeds `i64::MAX`, and otherwise as
/// [`copy`].
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("f"), b"hello world")?;
/// let f = std::fs::File::open(dir.path().join("f"))?;
/// let mut out = Vec::new();
/// assert_eq!(io_copy::copy_range(&f, 6, 100, &mut out)?, 5); // past the end: short
/// assert_eq!(out, b"world");
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(unix)]
pub fn copy_range<W>(src: &std::fs::File, offset: u64, len: u64, writer: &mut W) -> io::Result<u64>
where
    W: ReaderFrom + ?Sized,
{
    Ok(DEFAULT.copy_range(src, offset, len, writer)?.written())
}

/// Copies up to `len` bytes of `src` at `src_offset` into `dst` at `dst_offset`, leaving both
/// positions alone: [`Copier::copy_at`] with the default policy.
///
/// # Errors
///
/// As [`Copier::copy_at`].
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a"), b"xyz")?;
/// let a = std::fs::File::open(dir.path().join("a"))?;
/// let b = std::fs::File::create(dir.path().join("b"))?;
/// assert_eq!(io_copy::copy_at(&a, 0, &b, 4, 3)?, 3);
/// assert_eq!(std::fs::read(dir.path().join("b"))?, b"\0\0\0\0xyz");
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(unix)]
pub fn copy_at(
    src: &std::fs::File,
    src_offset: u64,
    dst: &std::fs::File,
    dst_offset: u64,
    len: u64,
) -> io::Result<u64> {
    Ok(DEFAULT
        .copy_at(src, src_offset, dst, dst_offset, len)?
        .written())
}
