//! [`AsyncWriterTo`] and [`AsyncReaderFrom`] for every tokio type that implements
//! [`AsyncRead`] or [`AsyncWrite`]: the descriptor ends on the kernel paths, the wrappers passing
//! the copy on, everything else on the buffered loop.

use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::{tcp, unix, TcpStream, UnixStream};

use super::{AsyncReaderFrom, AsyncWriterTo, Flow, Plain, SinkEnd, SourceEnd};

// ---------------------------------------------------------------------------------------------
// Descriptor ends

macro_rules! source {
    ($($ty:ty => |$s:ident| $end:expr;)*) => {$(
        impl AsyncWriterTo for $ty {
            fn source_end(&mut self) -> Option<SourceEnd<'_>> {
                let $s = self;
                Some($end)
            }
        }
    )*};
}

macro_rules! sink {
    ($($ty:ty => |$s:ident| $end:expr;)*) => {$(
        impl AsyncReaderFrom for $ty {
            fn sink_end(&mut self) -> Option<SinkEnd<'_>> {
                let $s = self;
                Some($end)
            }
        }
    )*};
}

source! {
    TcpStream => |s| SourceEnd::Tcp(s);
    tcp::ReadHalf<'_> => |s| SourceEnd::Tcp(AsRef::<TcpStream>::as_ref(&*s));
    tcp::OwnedReadHalf => |s| SourceEnd::Tcp(AsRef::<TcpStream>::as_ref(&*s));
    UnixStream => |s| SourceEnd::Unix(s);
    unix::ReadHalf<'_> => |s| SourceEnd::Unix(AsRef::<UnixStream>::as_ref(&*s));
    unix::OwnedReadHalf => |s| SourceEnd::Unix(AsRef::<UnixStream>::as_ref(&*s));
    unix::pipe::Receiver => |s| SourceEnd::Pipe(s);
    ::tokio::process::ChildStdout => |s| SourceEnd::ChildPipe((*s).as_fd());
    ::tokio::process::ChildStderr => |s| SourceEnd::ChildPipe((*s).as_fd());
    ::tokio::fs::File => |s| SourceEnd::File(s);
}

sink! {
    TcpStream => |s| SinkEnd::Tcp(s);
    tcp::WriteHalf<'_> => |s| SinkEnd::Tcp(AsRef::<TcpStream>::as_ref(&*s));
    tcp::OwnedWriteHalf => |s| SinkEnd::Tcp(AsRef::<TcpStream>::as_ref(&*s));
    UnixStream => |s| SinkEnd::Unix(s);
    unix::WriteHalf<'_> => |s| SinkEnd::Unix(AsRef::<UnixStream>::as_ref(&*s));
    unix::OwnedWriteHalf => |s| SinkEnd::Unix(AsRef::<UnixStream>::as_ref(&*s));
    unix::pipe::Sender => |s| SinkEnd::Pipe(s);
    ::tokio::process::ChildStdin => |s| SinkEnd::ChildPipe((*s).as_fd());
    ::tokio::fs::File => |s| SinkEnd::File(s);
}

// ---------------------------------------------------------------------------------------------
// Wrappers that keep the path of what they wrap

/// Forwards both traits to `**self`.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<T: AsyncWriterTo + ?Sized> AsyncWriterTo for $ty {
            fn poll_write_to<W: AsyncReaderFrom + ?Sized>(
                &mut self,
                cx: &mut Context<'_>,
                w: &mut W,
                flow: &mut Flow,
            ) -> Poll<io::Result<()>> {
                (**self).poll_write_to(cx, w, flow)
            }
            fn source_end(&mut self) -> Option<SourceEnd<'_>> {
                (**self).source_end()
            }
        }
        impl<T: AsyncReaderFrom + ?Sized> AsyncReaderFrom for $ty {
            fn poll_read_from<R: AsyncWriterTo + ?Sized>(
                &mut self,
                cx: &mut Context<'_>,
                r: &mut R,
                flow: &mut Flow,
            ) -> Poll<io::Result<()>> {
                (**self).poll_read_from(cx, r, flow)
            }
            fn sink_end(&mut self) -> Option<SinkEnd<'_>> {
                (**self).sink_end()
            }
        }
    )*};
}
forward!(&mut T, Box<T>);

/// Passes its limit down, and takes what moved off it.
impl<R: AsyncWriterTo> AsyncWriterTo for ::tokio::io::Take<R> {
    fn poll_write_to<W: AsyncReaderFrom + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: &mut W,
        flow: &mut Flow,
    ) -> Poll<io::Result<()>> {
        let limit = self.limit();
        let before = flow.taken();
        let res = flow.limited(limit, |flow| self.get_mut().poll_write_to(cx, w, flow));
        self.set_limit(limit.saturating_sub(flow.taken() - before));
        res
    }
}

/// Writes what the `BufReader` holds first, then lets the reader it wraps go on.
impl<R: AsyncWriterTo> AsyncWriterTo for ::tokio::io::BufReader<R> {
    fn poll_write_to<W: AsyncReaderFrom + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: &mut W,
        flow: &mut Flow,
    ) -> Poll<io::Result<()>> {
        loop {
            let buf = self.buffer();
            let n = crate::transfer::clamp(flow.limit(), buf.len());
            if n == 0 {
                break;
            }
            let m = ready!(Pin::new(&mut *w).poll_write(cx, &buf[..n]))?;
            if m == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let m = m.min(n);
            flow.record_held(m);
            Pin::new(&mut *self).consume(m);
        }
        if flow.limit() == 0 {
            return Poll::Ready(Ok(()));
        }
        self.get_mut().poll_write_to(cx, w, flow)
    }

    /// The wrapped reader's end once the buffer is empty.
    fn source_end(&mut self) -> Option<SourceEnd<'_>> {
        if self.buffer().is_empty() {
            self.get_mut().source_end()
        } else {
            None
        }
    }
}

/// A `BufReader`'s writes go straight to what it wraps.
impl<W: AsyncReaderFrom + AsyncRead> AsyncReaderFrom for ::tokio::io::BufReader<W> {
    fn poll_read_from<R: AsyncWriterTo + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        flow: &mut Flow,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_from(cx, r, flow)
    }

    fn sink_end(&mut self) -> Option<SinkEnd<'_>> {
        self.get_mut().sink_end()
    }
}

/// Flushes what the writer holds, then passes the copy to the writer it wraps.
impl<W: AsyncReaderFrom> AsyncReaderFrom for ::tokio::io::BufWriter<W> {
    fn poll_read_from<R: AsyncWriterTo + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        flow: &mut Flow,
    ) -> Poll<io::Result<()>> {
        if !self.buffer().is_empty() {
            ready!(Pin::new(&mut *self).poll_flush(cx))?;
        }
        self.get_mut().poll_read_from(cx, r, flow)
    }

    fn sink_end(&mut self) -> Option<SinkEnd<'_>> {
        if self.buffer().is_empty() {
            self.get_mut().sink_end()
        } else {
            None
        }
    }
}

/// A `BufWriter`'s reads come straight from what it wraps.
impl<R: AsyncWriterTo + AsyncWrite> AsyncWriterTo for ::tokio::io::BufWriter<R> {
    fn poll_write_to<W: AsyncReaderFrom + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: &mut W,
        flow: &mut Flow,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_to(cx, w, flow)
    }

    fn source_end(&mut self) -> Option<SourceEnd<'_>> {
        self.get_mut().source_end()
    }
}

// ---------------------------------------------------------------------------------------------
// The buffered loop: every other tokio type

macro_rules! buffered_source {
    ($($ty:ty),*) => {$( impl AsyncWriterTo for $ty {} )*};
}
macro_rules! buffered_sink {
    ($($ty:ty),*) => {$( impl AsyncReaderFrom for $ty {} )*};
}

buffered_source!(
    ::tokio::io::Stdin,
    ::tokio::io::Empty,
    ::tokio::io::Repeat,
    ::tokio::io::DuplexStream,
    ::tokio::io::SimplexStream,
    &[u8]
);
buffered_sink!(
    ::tokio::io::Stdout,
    ::tokio::io::Stderr,
    ::tokio::io::Empty,
    ::tokio::io::Sink,
    ::tokio::io::DuplexStream,
    ::tokio::io::SimplexStream,
    Vec<u8>,
    std::io::Cursor<&mut [u8]>,
    std::io::Cursor<&mut Vec<u8>>,
    std::io::Cursor<Vec<u8>>,
    std::io::Cursor<Box<[u8]>>
);

impl<T: AsRef<[u8]> + Unpin> AsyncWriterTo for std::io::Cursor<T> {}
impl<T, U> AsyncWriterTo for ::tokio::io::Chain<T, U> where Self: AsyncRead + Unpin {}
impl<R, W> AsyncWriterTo for ::tokio::io::Join<R, W> where Self: AsyncRead + Unpin {}
impl<R, W> AsyncReaderFrom for ::tokio::io::Join<R, W> where Self: AsyncWrite + Unpin {}
impl<T> AsyncWriterTo for ::tokio::io::ReadHalf<T> where Self: AsyncRead + Unpin {}
impl<T> AsyncReaderFrom for ::tokio::io::WriteHalf<T> where Self: AsyncWrite + Unpin {}
impl<RW> AsyncWriterTo for ::tokio::io::BufStream<RW> where Self: AsyncRead + Unpin {}
impl<RW> AsyncReaderFrom for ::tokio::io::BufStream<RW> where Self: AsyncWrite + Unpin {}
impl<P> AsyncWriterTo for Pin<P> where Self: AsyncRead + Unpin {}
impl<P> AsyncReaderFrom for Pin<P> where Self: AsyncWrite + Unpin {}

impl AsyncWriterTo for dyn AsyncRead + Unpin + '_ {}
impl AsyncWriterTo for dyn AsyncRead + Unpin + Send + '_ {}
impl AsyncWriterTo for dyn AsyncRead + Unpin + Send + Sync + '_ {}
impl AsyncReaderFrom for dyn AsyncWrite + Unpin + '_ {}
impl AsyncReaderFrom for dyn AsyncWrite + Unpin + Send + '_ {}
impl AsyncReaderFrom for dyn AsyncWrite + Unpin + Send + Sync + '_ {}

impl<T: AsyncRead + Unpin> AsyncRead for Plain<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Plain<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncWriterTo for Plain<T> {}
impl<T: AsyncWrite + Unpin> AsyncReaderFrom for Plain<T> {}
