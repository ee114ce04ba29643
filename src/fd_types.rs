//! [`WriterTo`] and [`ReaderFrom`] for std's file-descriptor types, so that copies between them
//! take the kernel paths.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::io::{PipeReader, PipeWriter};
use std::io::{Stderr, StderrLock, Stdin, StdinLock, Stdout, StdoutLock};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::report::End;
use crate::traits::{ReaderFrom, WriterTo};
use crate::transfer::{Hint, Transfer};

/// Types whose reads are plain `read(2)` calls on their descriptor. Those whose std type says
/// what the descriptor is pass that on as a [`Hint`], so the Linux layer can skip asking.
macro_rules! fd_source {
    ($hint:expr; $($ty:ty),*) => {$(
        impl WriterTo for $ty {
            fn write_to<W: ReaderFrom + ?Sized>(
                &mut self,
                w: &mut W,
                t: &mut Transfer<'_>,
            ) -> io::Result<u64> {
                let fd = self.as_fd().as_raw_fd();
                t.with_hint(End::Source, fd, $hint, |t| w.read_from(self, t))
            }

            fn source_fd(&self) -> Option<BorrowedFd<'_>> {
                Some(self.as_fd())
            }
        }
    )*};
}

/// Types whose writes are plain `write(2)` calls on their descriptor, with what their std type
/// says the descriptor is, if it says.
macro_rules! fd_sink {
    ($hint:expr; $($ty:ty),*) => {$(
        impl ReaderFrom for $ty {
            fn read_from<R: WriterTo + ?Sized>(
                &mut self,
                r: &mut R,
                t: &mut Transfer<'_>,
            ) -> io::Result<u64> {
                let fd = self.as_fd().as_raw_fd();
                t.with_hint(End::Sink, fd, $hint, |t| crate::traits::read_from_default(self, r, t))
            }

            fn sink_fd(&self) -> Option<BorrowedFd<'_>> {
                Some(self.as_fd())
            }
        }
    )*};
}

// A `File` is most often a regular file: a copy from a regular file into it tries
// `copy_file_range` before asking what the sink is (see the Linux module).
fd_source!(Hint::File; File, &File);
fd_sink!(Hint::File; File, &File);
fd_source!(Hint::Tcp; TcpStream, &TcpStream);
fd_sink!(Hint::Tcp; TcpStream, &TcpStream);
fd_source!(Hint::Unix; UnixStream, &UnixStream);
fd_sink!(Hint::Unix; UnixStream, &UnixStream);
fd_source!(Hint::Pipe; PipeReader, &PipeReader, ChildStdout, ChildStderr);
fd_sink!(Hint::Pipe; PipeWriter, &PipeWriter, ChildStdin);

/// Standard error is a descriptor the process was given: nothing is known of it.
macro_rules! unknown_sink {
    ($($ty:ty),*) => {$(
        impl ReaderFrom for $ty {
            fn sink_fd(&self) -> Option<BorrowedFd<'_>> {
                Some(self.as_fd())
            }
        }
    )*};
}

unknown_sink!(StderrLock<'_>, Stderr, &Stderr);

/// A descriptor read with `read(2)`: what a source with a buffer in front becomes once the
/// buffer is drained.
pub(crate) struct FdReader<'a>(pub(crate) BorrowedFd<'a>);

impl Read for FdReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::sys::calls::read(self.0, buf)
    }
}

impl WriterTo for FdReader<'_> {
    fn source_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0)
    }
}

/// A descriptor written with `write(2)`: what a sink with a buffer in front becomes once the
/// buffer is flushed.
pub(crate) struct FdWriter<'a>(pub(crate) BorrowedFd<'a>);

impl Write for FdWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::sys::calls::write(self.0, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ReaderFrom for FdWriter<'_> {
    fn sink_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0)
    }
}

/// Standard input has a buffer shared by the whole process, and only `fill_buf` shows what it
/// holds (reading the descriptor when it holds nothing). A regular file or block device takes
/// those bytes back by moving its position back over them, as `BufReader::seek` does, so that
/// the kernel path moves every byte and a copy of a file onto itself (`prog < f >> f`) sees the
/// end the file had; from any other descriptor the held bytes are written first, through user
/// space, then the descriptor is read directly.
impl WriterTo for StdinLock<'_> {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        let before = t.written();
        if t.limit() == 0 {
            return Ok(0);
        }
        let held = loop {
            match self.fill_buf() {
                Ok(b) => break b.len(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if held == 0 {
            return Ok(0);
        }
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        if give_back(fd, held) {
            self.consume(held);
        } else {
            let start = t.written();
            let res = t.write_held(w, self.fill_buf()?);
            self.consume((t.written() - start) as usize);
            res?;
        }
        if t.limit() > 0 {
            w.read_from(&mut FdReader(fd), t)?;
        }
        Ok(t.written() - before)
    }
}

/// Moves the position of a regular file or block device back over the `held` bytes a buffer in
/// front of it read ahead; whether it did.
fn give_back(fd: BorrowedFd<'_>, held: usize) -> bool {
    crate::sys::calls::Meta::of(fd).is_seekable()
        && i64::try_from(held).is_ok_and(|back| crate::sys::calls::seek_cur(fd, -back).is_ok())
}

impl WriterTo for Stdin {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        self.lock().write_to(w, t)
    }
}

/// Standard output is line-buffered by the process: it is flushed before the descriptor is
/// written directly.
impl ReaderFrom for StdoutLock<'_> {
    fn read_from<R: WriterTo + ?Sized>(
        &mut self,
        r: &mut R,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        if r.source_fd().is_some() {
            self.flush()?;
            let stdout = io::stdout();
            return FdWriter(stdout.as_fd()).read_from(r, t);
        }
        t.copy_buffered(r, self)
    }
}

impl ReaderFrom for Stdout {
    fn read_from<R: WriterTo + ?Sized>(
        &mut self,
        r: &mut R,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        self.lock().read_from(r, t)
    }
}
