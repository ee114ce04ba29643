//! Go's `io.WriterTo` and `io.ReaderFrom`, and their implementations for std's wrappers and
//! in-memory types. The file-descriptor types are in `fd_types.rs`.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, BufWriter, Cursor, LineWriter, Read, Take, Write};
#[cfg(unix)]
use std::os::fd::BorrowedFd;

use crate::transfer::Transfer;

/// A source that knows how to copy itself into a sink: Go's `io.WriterTo`.
///
/// [`copy`](crate::copy) calls the source's [`write_to`](WriterTo::write_to) first. The default
/// implementation defers to the sink's [`ReaderFrom::read_from`], which takes a kernel path when
/// both ends name a file descriptor through [`source_fd`](WriterTo::source_fd) and
/// [`ReaderFrom::sink_fd`], and the read/write loop otherwise.
///
/// # Opting in
///
/// Any [`Read`] type takes part with one line, on the read/write loop:
///
/// ```
/// struct Zeros;
/// impl std::io::Read for Zeros {
///     fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
///         buf.fill(0);
///         Ok(buf.len())
///     }
/// }
/// impl io_copy::WriterTo for Zeros {}
///
/// let mut out = Vec::new();
/// io_copy::copy_n(&mut Zeros, &mut out, 10)?;
/// assert_eq!(out, [0; 10]);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A type from another crate, which you cannot implement this trait for, goes through
/// [`Plain`](crate::Plain).
///
/// # Wrappers that keep the kernel path
///
/// A wrapper around a file descriptor keeps the kernel path by passing the copy to what it
/// wraps. To see how many bytes moved, also when the copy fails, compare
/// [`Transfer::written`] before and after:
///
/// ```
/// use std::fs::File;
/// use std::io::{self, Read};
/// use io_copy::{ReaderFrom, Transfer, WriterTo};
///
/// /// Counts the bytes read from a file.
/// struct Counted { file: File, bytes: u64 }
///
/// impl Read for Counted {
///     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
///         let n = self.file.read(buf)?;
///         self.bytes += n as u64;
///         Ok(n)
///     }
/// }
///
/// impl WriterTo for Counted {
///     fn write_to<W: ReaderFrom + ?Sized>(
///         &mut self,
///         w: &mut W,
///         t: &mut Transfer<'_>,
///     ) -> io::Result<u64> {
///         let before = t.written();
///         let res = self.file.write_to(w, t);
///         self.bytes += t.written() - before;
///         res
///     }
/// }
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a"), vec![1u8; 100_000])?;
/// let mut src = Counted { file: File::open(dir.path().join("a"))?, bytes: 0 };
/// let mut dst = File::create(dir.path().join("b"))?;
/// let report = io_copy::Copier::new().copy(&mut src, &mut dst)?;
/// assert_eq!(src.bytes, 100_000);
/// # #[cfg(target_os = "linux")]
/// assert_ne!(report.main_path(), Some(io_copy::Path::Buffered));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait WriterTo: Read {
    /// Copies from `self` into `w` within `t`'s limit and returns the bytes this call moved.
    ///
    /// The default defers to `w.read_from(self, t)`. An implementation moves bytes only through
    /// `t` (or by passing `t` on), so the count stays exact.
    ///
    /// # Errors
    ///
    /// The first error of either end that is not a fallback; `t` holds the count until then.
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        w.read_from(self, t)
    }

    /// The file descriptor that reading `self` reads, if reading it directly is the same as
    /// calling [`Read::read`]: no buffer in front, no limit, no count to keep.
    ///
    /// The default is `None`: the read/write loop.
    #[cfg(unix)]
    fn source_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A sink that knows how to fill itself from a source: Go's `io.ReaderFrom`.
///
/// [`copy`](crate::copy) reaches it when the source's [`WriterTo::write_to`] defers. The
/// default implementation takes a kernel path when both ends name a file descriptor, and the
/// read/write loop otherwise. Opting in takes one line, `impl io_copy::ReaderFrom for T {}`; see
/// [`WriterTo`] for a wrapper that keeps the kernel path.
///
/// # Examples
///
/// ```
/// struct Upper(Vec<u8>);
/// impl std::io::Write for Upper {
///     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
///         self.0.extend(buf.iter().map(u8::to_ascii_uppercase));
///         Ok(buf.len())
///     }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
/// impl io_copy::ReaderFrom for Upper {}
///
/// let mut out = Upper(Vec::new());
/// io_copy::copy(&mut &b"shout"[..], &mut out)?;
/// assert_eq!(out.0, b"SHOUT");
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ReaderFrom: Write {
    /// Copies from `r` into `self` within `t`'s limit and returns the bytes this call moved.
    ///
    /// # Errors
    ///
    /// The first error of either end that is not a fallback; `t` holds the count until then.
    fn read_from<R: WriterTo + ?Sized>(
        &mut self,
        r: &mut R,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        read_from_default(self, r, t)
    }

    /// The file descriptor that writing `self` writes, if writing it directly is the same as
    /// calling [`Write::write`]: no buffer in front.
    ///
    /// The default is `None`: the read/write loop.
    #[cfg(unix)]
    fn sink_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// The default [`ReaderFrom::read_from`], also for the implementations that add to it.
pub(crate) fn read_from_default<W, R>(w: &mut W, r: &mut R, t: &mut Transfer<'_>) -> io::Result<u64>
where
    W: ReaderFrom + ?Sized,
    R: WriterTo + ?Sized,
{
    #[cfg(unix)]
    if let Some(src) = r.source_fd() {
        return match w.sink_fd() {
            Some(dst) => t.copy_fds(src, dst),
            // Reading the descriptor directly lets a file source take back what a failed
            // write left.
            None => t.copy_fd_buffered(src, w),
        };
    }
    t.copy_buffered(r, w)
}

/// Lets any [`Read`] or [`Write`] value take part in a copy, on the read/write loop.
///
/// For types of other crates, which cannot implement [`WriterTo`] or [`ReaderFrom`] here.
///
/// # Examples
///
/// ```
/// use io_copy::Plain;
/// # struct Foreign(std::io::Cursor<Vec<u8>>);
/// # impl std::io::Read for Foreign {
/// #     fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> { self.0.read(b) }
/// # }
/// let mut src = Foreign(std::io::Cursor::new(b"data".to_vec()));
/// let mut dst = Vec::new();
/// io_copy::copy(&mut Plain(&mut src), &mut dst)?;
/// assert_eq!(dst, b"data");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Plain<T>(pub T);

impl<T: Read> Read for Plain<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<T: Write> Write for Plain<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<T: Read> WriterTo for Plain<T> {}
impl<T: Write> ReaderFrom for Plain<T> {}

impl WriterTo for dyn Read + '_ {}
impl WriterTo for dyn Read + Send + '_ {}
impl WriterTo for dyn Read + Send + Sync + '_ {}
impl ReaderFrom for dyn Write + '_ {}
impl ReaderFrom for dyn Write + Send + '_ {}
impl ReaderFrom for dyn Write + Send + Sync + '_ {}

/// Forwards every method of the two traits to `**self`.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<T: WriterTo + ?Sized> WriterTo for $ty {
            fn write_to<W: ReaderFrom + ?Sized>(
                &mut self,
                w: &mut W,
                t: &mut Transfer<'_>,
            ) -> io::Result<u64> {
                (**self).write_to(w, t)
            }
            #[cfg(unix)]
            fn source_fd(&self) -> Option<BorrowedFd<'_>> {
                (**self).source_fd()
            }
        }
        impl<T: ReaderFrom + ?Sized> ReaderFrom for $ty {
            fn read_from<R: WriterTo + ?Sized>(
                &mut self,
                r: &mut R,
                t: &mut Transfer<'_>,
            ) -> io::Result<u64> {
                (**self).read_from(r, t)
            }
            #[cfg(unix)]
            fn sink_fd(&self) -> Option<BorrowedFd<'_>> {
                (**self).sink_fd()
            }
        }
    )*};
}
forward!(&mut T, Box<T>);

impl<T: WriterTo> WriterTo for Take<T> {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        let limit = self.limit();
        let before = t.consumed();
        let res = t.limited(limit, |t| self.get_mut().write_to(w, t));
        self.set_limit(limit.saturating_sub(t.consumed() - before));
        res
    }
}

/// Drains what the `BufReader` holds, then lets the reader it wraps go on.
impl<R: WriterTo> WriterTo for BufReader<R> {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        let before = t.written();
        let res = t.write_held(w, self.buffer());
        self.consume((t.written() - before) as usize);
        res?;
        if self.buffer().is_empty() {
            self.get_mut().write_to(w, t)?;
        }
        Ok(t.written() - before)
    }
}

/// Flushes what the writer holds, then passes a file-descriptor copy to the writer it wraps.
macro_rules! flush_then_forward {
    ($($ty:ident),*) => {$(
        impl<W: ReaderFrom> ReaderFrom for $ty<W> {
            fn read_from<R: WriterTo + ?Sized>(
                &mut self,
                r: &mut R,
                t: &mut Transfer<'_>,
            ) -> io::Result<u64> {
                #[cfg(unix)]
                if r.source_fd().is_some() {
                    self.flush()?;
                    return self.get_mut().read_from(r, t);
                }
                t.copy_buffered(r, self)
            }
        }
    )*};
}
flush_then_forward!(BufWriter, LineWriter);

/// In-memory sources write their bytes straight to the sink, with no buffer between.
impl WriterTo for &[u8] {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        let before = t.written();
        let res = t.write_held(w, self);
        let n = (t.written() - before) as usize;
        *self = &self[n..];
        res.map(|n| n as u64)
    }
}

impl<T: AsRef<[u8]>> WriterTo for Cursor<T> {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        let len = self.get_ref().as_ref().len() as u64;
        let start = self.position().min(len);
        let mut rest = &self.get_ref().as_ref()[start as usize..];
        let res = rest.write_to(w, t);
        let moved = len - start - rest.len() as u64;
        if moved > 0 {
            self.set_position(start + moved);
        }
        res
    }
}

impl WriterTo for VecDeque<u8> {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        let before = t.written();
        while !self.is_empty() && t.limit() > 0 {
            let start = t.written();
            let res = t.write_held(w, self.as_slices().0);
            self.drain(..(t.written() - start) as usize);
            res?;
        }
        Ok(t.written() - before)
    }
}

impl WriterTo for io::Empty {}
impl WriterTo for io::Repeat {}

impl ReaderFrom for Vec<u8> {}
impl ReaderFrom for VecDeque<u8> {}
impl ReaderFrom for io::Sink {}
impl ReaderFrom for io::Empty {}
impl ReaderFrom for Cursor<Vec<u8>> {}
impl ReaderFrom for Cursor<&mut Vec<u8>> {}
impl ReaderFrom for Cursor<&mut [u8]> {}
impl ReaderFrom for Cursor<Box<[u8]>> {}
impl<const N: usize> ReaderFrom for Cursor<[u8; N]> {}
impl ReaderFrom for &mut [u8] {}
