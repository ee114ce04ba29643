//! Copies at explicit offsets, which leave file positions alone: Go's `io.SectionReader` and
//! `io.NewOffsetWriter`, done in the kernel.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;

use crate::copier::Copier;
use crate::report::{CopyError, Report};
use crate::sys::calls;
use crate::traits::{ReaderFrom, WriterTo};
use crate::transfer::Transfer;

/// Refuses an offset range the kernel would see as a negative `off_t`.
fn check(what: &str, offset: u64, len: u64) -> io::Result<()> {
    let end = offset.checked_add(len);
    if end.is_none_or(|end| end > i64::MAX as u64) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("io_copy: {what} offset {offset} + length {len} exceeds i64::MAX"),
        ));
    }
    Ok(())
}

fn invalid(e: io::Error) -> CopyError {
    CopyError::new(e, Report::default())
}

/// A file read at an offset of its own with `pread`.
struct Section<'a> {
    file: &'a File,
    offset: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = calls::pread(self.file.as_fd(), buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl WriterTo for Section<'_> {
    /// The sink's `read_from` runs with the transfer's source offset set: a sink with a
    /// descriptor gets the positional kernel paths, any other `pread` and its `Write`, both at
    /// that offset, which a failed write moves back.
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        t.src_off = Some(self.offset);
        let res = w.read_from(self, t);
        self.offset = t.src_off.take().unwrap_or(self.offset);
        res
    }

    /// The file's descriptor, read at the transfer's source offset: every descriptor path of a
    /// transfer reads at that offset while it is set, which it is for the whole of `write_to`.
    fn source_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        Some(self.file.as_fd())
    }
}

impl Copier {
    /// Copies up to `len` bytes of `src` from `offset` on into `sink`, without moving the
    /// position of `src`; a range past the end of `src` gives a short count.
    ///
    /// A sink with a descriptor gets the kernel paths with `src`'s offset passed to them
    /// (`copy_file_range`, `sendfile`, `splice`), `pread` in the read/write loop; other sinks get
    /// `pread` and their `Write`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] when `offset + len` exceeds `i64::MAX`, and otherwise as
    /// [`Copier::copy`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Seek;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("f"), b"0123456789")?;
    /// let mut f = std::fs::File::open(dir.path().join("f"))?;
    /// let mut out = Vec::new();
    /// let report = io_copy::Copier::new().copy_range(&f, 3, 4, &mut out)?;
    /// assert_eq!((report.written(), &out[..]), (4, &b"3456"[..]));
    /// assert_eq!(f.stream_position()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn copy_range<W: ReaderFrom + ?Sized>(
        &self,
        src: &File,
        offset: u64,
        len: u64,
        sink: &mut W,
    ) -> Result<Report, CopyError> {
        check("source", offset, len).map_err(invalid)?;
        let mut t = Transfer::new(self, len, None);
        let res = Section { file: src, offset }.write_to(sink, &mut t);
        let report = t.finish();
        res.map(|_| report.clone())
            .map_err(|e| CopyError::new(e, report))
    }

    /// Copies up to `len` bytes of `src` from `src_offset` on into `dst` at `dst_offset`,
    /// without moving either file's position; a range past the end of `src` gives a short count.
    ///
    /// Takes `copy_file_range` with both offsets where it can, then `pread`/`pwrite`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] when an offset plus `len` exceeds `i64::MAX`, or when
    /// `dst` is open with `O_APPEND` (where Linux's `pwrite` appends, ignoring the offset), and
    /// otherwise as [`Copier::copy`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("a"), b"abcdef")?;
    /// std::fs::write(dir.path().join("b"), b"------")?;
    /// let a = std::fs::File::open(dir.path().join("a"))?;
    /// let b = std::fs::OpenOptions::new().write(true).open(dir.path().join("b"))?;
    /// io_copy::Copier::new().copy_at(&a, 1, &b, 2, 3)?;
    /// assert_eq!(std::fs::read(dir.path().join("b"))?, b"--bcd-");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn copy_at(
        &self,
        src: &File,
        src_offset: u64,
        dst: &File,
        dst_offset: u64,
        len: u64,
    ) -> Result<Report, CopyError> {
        check("source", src_offset, len).map_err(invalid)?;
        check("sink", dst_offset, len).map_err(invalid)?;
        if calls::is_append(dst.as_fd()) {
            return Err(invalid(io::Error::new(
                io::ErrorKind::InvalidInput,
                "io_copy: copy_at into an O_APPEND file would append, not write at the offset",
            )));
        }
        let mut t = Transfer::new(self, len, None);
        t.src_off = Some(src_offset);
        t.dst_off = Some(dst_offset);
        let res = t.copy_fds(src.as_fd(), dst.as_fd());
        let report = t.finish();
        res.map(|_| report.clone())
            .map_err(|e| CopyError::new(e, report))
    }
}
