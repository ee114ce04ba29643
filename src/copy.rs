//! The copy entry points of [`Copier`]: they start a [`Transfer`] and hand it to the source's
//! [`WriterTo::write_to`].

use std::io;

use crate::copier::Copier;
use crate::report::{CopyError, Report};
use crate::traits::{ReaderFrom, WriterTo};
use crate::transfer::Transfer;

impl Copier {
    /// Copies everything from `reader` to `writer`, as [`copy`](crate::copy) does, and reports
    /// how.
    ///
    /// # Errors
    ///
    /// The first error that is not "fall back" (see the crate documentation), or
    /// [`io::ErrorKind::InvalidInput`] for a buffer size of 0. The [`CopyError`] carries the
    /// report of what moved before it.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut src: &[u8] = b"abc";
    /// let mut dst = Vec::new();
    /// let report = io_copy::Copier::new().copy(&mut src, &mut dst)?;
    /// assert_eq!((report.written(), &dst[..]), (3, &b"abc"[..]));
    /// # Ok::<(), io_copy::CopyError>(())
    /// ```
    pub fn copy<R, W>(&self, reader: &mut R, writer: &mut W) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        self.run(reader, writer, u64::MAX, None)
    }

    /// Copies exactly `n` bytes, as [`copy_n`](crate::copy_n) does, and reports how.
    ///
    /// # Errors
    ///
    /// As [`Copier::copy`], and [`io::ErrorKind::UnexpectedEof`] when the reader ends first;
    /// the report then says how many bytes arrived.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut src: &[u8] = b"abcdef";
    /// let mut dst = Vec::new();
    /// io_copy::Copier::new().copy_n(&mut src, &mut dst, 4)?;
    /// assert_eq!((&dst[..], src), (&b"abcd"[..], &b"ef"[..]));
    /// # Ok::<(), io_copy::CopyError>(())
    /// ```
    pub fn copy_n<R, W>(&self, reader: &mut R, writer: &mut W, n: u64) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        let report = self.run(reader, writer, n, None)?;
        if report.written() < n {
            let err = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "copy_n: reader ended after {} of {n} bytes",
                    report.written()
                ),
            );
            return Err(CopyError::new(err, report));
        }
        Ok(report)
    }

    /// Copies everything, using `buf` for the read/write loop, as
    /// [`copy_buffer`](crate::copy_buffer) does, and reports how.
    ///
    /// # Errors
    ///
    /// As [`Copier::copy`], and [`io::ErrorKind::InvalidInput`] for an empty `buf`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = [0u8; 2];
    /// let mut src = io_copy::Plain(&b"abcde"[..]);
    /// let mut dst = Vec::new();
    /// let report = io_copy::Copier::new().copy_buffer(&mut src, &mut dst, &mut buf)?;
    /// assert_eq!(report.path_stats(io_copy::Path::Buffered).calls, 7); // 4 reads, 3 writes
    /// # Ok::<(), io_copy::CopyError>(())
    /// ```
    pub fn copy_buffer<R, W>(
        &self,
        reader: &mut R,
        writer: &mut W,
        buf: &mut [u8],
    ) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        if buf.is_empty() {
            let err = io::Error::new(io::ErrorKind::InvalidInput, "copy_buffer: empty buffer");
            return Err(CopyError::new(err, Report::default()));
        }
        self.run(reader, writer, u64::MAX, Some(buf))
    }

    /// [`Copier::run`] for the functions that return only the count: a copy that succeeds
    /// moves no report around.
    #[inline]
    pub(crate) fn run_count<R, W>(
        &self,
        reader: &mut R,
        writer: &mut W,
        limit: u64,
        buf: Option<&mut [u8]>,
    ) -> io::Result<u64>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        let mut t = Transfer::new(self, limit, buf);
        match reader.write_to(writer, &mut t) {
            Ok(_) => Ok(t.release()),
            Err(e) => Err(CopyError::new(e, t.finish()).into()),
        }
    }

    fn run<R, W>(
        &self,
        reader: &mut R,
        writer: &mut W,
        limit: u64,
        buf: Option<&mut [u8]>,
    ) -> Result<Report, CopyError>
    where
        R: WriterTo + ?Sized,
        W: ReaderFrom + ?Sized,
    {
        let mut t = Transfer::new(self, limit, buf);
        let res = reader.write_to(writer, &mut t);
        t.outcome(res)
    }
}
