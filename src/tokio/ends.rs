//! The descriptor ends of an async copy, and the gate that runs each syscall inside the
//! `try_io` of the end it can wait on.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::task::{Context, Poll};

use ::tokio::net::unix::pipe;
use ::tokio::net::{TcpStream, UnixStream};

use crate::report::End;
use crate::transfer::Hint;

/// The descriptor end of a source: what [`AsyncWriterTo::source_end`](super::AsyncWriterTo)
/// returns for a type whose reads are plain reads of a descriptor tokio knows, so that a copy
/// can run the kernel paths on it. A wrapper that keeps the kernel path returns what it wraps
/// returns.
#[derive(Debug)]
#[non_exhaustive]
pub enum SourceEnd<'a> {
    /// A TCP socket, read with its readiness.
    Tcp(&'a TcpStream),
    /// A Unix stream socket, read with its readiness.
    Unix(&'a UnixStream),
    /// The read end of a pipe, read with its readiness.
    Pipe(&'a pipe::Receiver),
    /// A non-blocking pipe tokio exposes no readiness for (a child's stdout or stderr): it is
    /// registered through a duplicate of its descriptor at its first `EAGAIN`.
    ChildPipe(BorrowedFd<'a>),
    /// A `tokio::fs::File`, brought to rest first; a regular file only, else the buffered loop.
    File(&'a mut ::tokio::fs::File),
}

/// The descriptor end of a sink; see [`SourceEnd`].
#[derive(Debug)]
#[non_exhaustive]
pub enum SinkEnd<'a> {
    /// A TCP socket, written with its readiness.
    Tcp(&'a TcpStream),
    /// A Unix stream socket, written with its readiness.
    Unix(&'a UnixStream),
    /// The write end of a pipe, written with its readiness.
    Pipe(&'a pipe::Sender),
    /// A non-blocking pipe tokio exposes no readiness for (a child's stdin).
    ChildPipe(BorrowedFd<'a>),
    /// A `tokio::fs::File`, brought to rest first; a regular file only.
    File(&'a mut ::tokio::fs::File),
}

/// A registration of a child's pipe with the reactor, made for one copy call.
#[derive(Debug)]
pub(crate) enum Registration {
    Read(pipe::Receiver),
    Write(pipe::Sender),
}

impl Registration {
    /// Registers a duplicate of `fd`, a non-blocking pipe, for reading or writing.
    pub(crate) fn new(fd: BorrowedFd<'_>, end: End) -> io::Result<Registration> {
        let dup = fd.try_clone_to_owned()?;
        Ok(match end {
            End::Source => Registration::Read(pipe::Receiver::from_owned_fd(dup)?),
            End::Sink => Registration::Write(pipe::Sender::from_owned_fd(dup)?),
        })
    }
}

/// One end as the engine sees it: its descriptor, what kind it is, and how to wait on it.
pub(crate) struct Waitable<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    pub(crate) hint: Option<Hint>,
    pub(crate) wait: Wait<'a>,
}

/// How an end is waited on.
pub(crate) enum Wait<'a> {
    Tcp(&'a TcpStream),
    Unix(&'a UnixStream),
    Read(&'a pipe::Receiver),
    Write(&'a pipe::Sender),
    /// A child's pipe not registered yet: its calls are made directly, and its first `EAGAIN`
    /// registers it.
    Unregistered,
    /// A regular file: never waits on readiness.
    Never,
}

impl<'a> Waitable<'a> {
    pub(crate) fn tcp(s: &'a TcpStream) -> Self {
        Waitable {
            fd: s.as_fd(),
            hint: Some(Hint::Tcp),
            wait: Wait::Tcp(s),
        }
    }

    pub(crate) fn unix(s: &'a UnixStream) -> Self {
        Waitable {
            fd: s.as_fd(),
            hint: Some(Hint::Unix),
            wait: Wait::Unix(s),
        }
    }

    pub(crate) fn file(fd: BorrowedFd<'a>) -> Self {
        Waitable {
            fd,
            hint: Some(Hint::File),
            wait: Wait::Never,
        }
    }

    /// A child's pipe: through its registration when the call has one.
    pub(crate) fn child(fd: BorrowedFd<'a>, reg: Option<&'a Registration>) -> Self {
        let wait = match reg {
            Some(Registration::Read(r)) => Wait::Read(r),
            Some(Registration::Write(w)) => Wait::Write(w),
            None => Wait::Unregistered,
        };
        Waitable {
            fd,
            hint: Some(Hint::Pipe),
            wait,
        }
    }

    pub(crate) fn reader(r: &'a pipe::Receiver) -> Self {
        Waitable {
            fd: r.as_fd(),
            hint: Some(Hint::Pipe),
            wait: Wait::Read(r),
        }
    }

    pub(crate) fn writer(w: &'a pipe::Sender) -> Self {
        Waitable {
            fd: w.as_fd(),
            hint: Some(Hint::Pipe),
            wait: Wait::Write(w),
        }
    }

    /// Makes `f`, a syscall that may wait on this end (at `end` of the copy), inside its
    /// `try_io`, so that an `EAGAIN` clears this end's readiness and no other.
    fn call(&self, end: End, f: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize> {
        use ::tokio::io::Interest;
        let interest = match end {
            End::Source => Interest::READABLE,
            End::Sink => Interest::WRITABLE,
        };
        match self.wait {
            Wait::Tcp(s) => s.try_io(interest, f),
            Wait::Unix(s) => s.try_io(interest, f),
            Wait::Read(r) => r.try_io(f),
            Wait::Write(w) => w.try_io(f),
            Wait::Unregistered | Wait::Never => f(),
        }
    }

    /// Waits for this end to be ready for `end`'s direction, after a call answered
    /// `WouldBlock`.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, end: End) -> Poll<io::Result<()>> {
        match (&self.wait, end) {
            (Wait::Tcp(s), End::Source) => s.poll_read_ready(cx),
            (Wait::Tcp(s), End::Sink) => s.poll_write_ready(cx),
            (Wait::Unix(s), End::Source) => s.poll_read_ready(cx),
            (Wait::Unix(s), End::Sink) => s.poll_write_ready(cx),
            (Wait::Read(r), _) => r.poll_read_ready(cx),
            (Wait::Write(w), _) => w.poll_write_ready(cx),
            (Wait::Unregistered, _) => unreachable!("registered at its first EAGAIN"),
            (Wait::Never, _) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "io_copy: a file answered EAGAIN (opened non-blocking, or not a regular file)",
            ))),
        }
    }

    pub(crate) fn unregistered(&self) -> bool {
        matches!(self.wait, Wait::Unregistered)
    }
}

/// The two ends of a round, as the Linux layer's gate.
pub(crate) struct Gate<'a, 'b> {
    pub(crate) src: &'b Waitable<'a>,
    pub(crate) dst: &'b Waitable<'a>,
}

impl crate::transfer::Gate for Gate<'_, '_> {
    fn call(&mut self, end: End, f: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize> {
        match end {
            End::Source => self.src.call(end, f),
            End::Sink => self.dst.call(end, f),
        }
    }
}

/// Whether `fd` is open non-blocking: a child's pipe must be, or its calls would block the
/// runtime's thread.
pub(crate) fn check_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    if flags.contains(rustix::fs::OFlags::NONBLOCK) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "io_copy: a blocking descriptor given as an async end (it would block the runtime)",
        ))
    }
}
