//! A sink that sends a prefix (a response head, a frame header) before the copy's first byte,
//! in the same TCP segment where the kernel allows.

use std::io::{self, Write};
#[cfg(unix)]
use std::os::fd::BorrowedFd;

use crate::report::End;
use crate::traits::{ReaderFrom, WriterTo};
use crate::transfer::Transfer;

/// Wraps a sink so that a copy into it first sends `prefix`, then the copy's bytes.
///
/// Into a TCP socket the prefix goes with `MSG_MORE` when the copy has bytes to follow, so the
/// kernel holds it until the body's first bytes join it in one segment, as nginx's
/// `tcp_nopush` does with `sendfile`; the body then takes its usual path (`sendfile` from a
/// file). Served over loopback with `TCP_NODELAY`, a head sent this way gave 3–29% more
/// requests per second than `write_all` of the head before the copy, for files of 1–64 KiB
/// (`examples/serve.rs` under wrk; the README has the figures). Into anything else the prefix
/// is written first.
///
/// Works with every copy of this crate: [`copy`](crate::copy), [`copy_n`](crate::copy_n),
/// [`copy_range`](crate::copy_range), a [`Resumable`](crate::Resumable). The copy's count and
/// its [`Report`](crate::Report) are the source's bytes only; [`Prefixed::sent`] says how much
/// of the prefix went out, also after an error or `WouldBlock` (the next copy sends the rest
/// first).
///
/// # Errors
///
/// A copy fails as it would without the prefix, and also with the sink's error while the
/// prefix was being sent (then the report shows 0 bytes and [`Prefixed::sent`] the prefix's
/// share).
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use std::io::Read;
/// use std::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut client = TcpStream::connect(listener.local_addr()?)?;
/// let (mut server, _) = listener.accept()?;
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("body"), b"hello")?;
/// let body = std::fs::File::open(dir.path().join("body"))?;
/// let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
/// let mut sink = io_copy::Prefixed::new(head, &mut server);
/// assert_eq!(io_copy::copy_range(&body, 0, 5, &mut sink)?, 5);
/// assert_eq!(sink.sent(), head.len());
/// drop(server);
///
/// let mut got = Vec::new();
/// client.read_to_end(&mut got)?;
/// assert_eq!(got, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Prefixed<'p, W> {
    prefix: &'p [u8],
    sent: usize,
    /// The prefix went out with `MSG_MORE`: the kernel holds it until more bytes follow.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    corked: bool,
    /// `send` answered `ENOTSOCK`: the prefix is written instead.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    not_socket: bool,
    inner: W,
}

impl<'p, W> Prefixed<'p, W> {
    /// `inner`, with `prefix` to send before the first byte of the next copy.
    pub fn new(prefix: &'p [u8], inner: W) -> Self {
        Prefixed {
            prefix,
            sent: 0,
            corked: false,
            not_socket: false,
            inner,
        }
    }

    /// Bytes of the prefix sent so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// The part of the prefix not sent yet.
    pub fn pending(&self) -> &'p [u8] {
        &self.prefix[self.sent..]
    }

    /// The sink.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The sink. Writing it directly before the prefix is sent puts those bytes first.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The sink, and whatever of the prefix was not sent.
    pub fn into_inner(self) -> (W, &'p [u8]) {
        let rest = &self.prefix[self.sent..];
        (self.inner, rest)
    }
}

impl<W: Write> Prefixed<'_, W> {
    /// Writes what is left of the prefix through the sink's `Write`.
    fn write_prefix(&mut self) -> io::Result<()> {
        while self.sent < self.prefix.len() {
            match self.inner.write(&self.prefix[self.sent..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "io_copy: the sink accepted no bytes of the prefix",
                    ))
                }
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<W: ReaderFrom> Prefixed<'_, W> {
    /// Sends what is left of the prefix: with `MSG_MORE` into a socket when the copy may have
    /// bytes to follow, else through the sink's `Write`.
    fn send_prefix(&mut self, t: &mut Transfer<'_>) -> io::Result<()> {
        #[cfg(kernel_paths)]
        while self.sent < self.prefix.len() && !self.not_socket && t.limit() > 0 {
            let Some(fd) = self.inner.sink_fd() else {
                break;
            };
            match crate::sys::calls::send_more(fd, &self.prefix[self.sent..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "io_copy: the sink accepted no bytes of the prefix",
                    ))
                }
                Ok(n) => {
                    self.sent += n;
                    self.corked = true;
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTSOCK.raw_os_error()) => {
                    self.not_socket = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(t.blocked(e, End::Sink)),
            }
        }
        self.write_prefix().map_err(|e| t.blocked(e, End::Sink))
    }
}

impl<W: ReaderFrom> ReaderFrom for Prefixed<'_, W> {
    fn read_from<R: WriterTo + ?Sized>(
        &mut self,
        r: &mut R,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        self.send_prefix(t)?;
        let before = t.written();
        let res = self.inner.read_from(r, t);
        // A prefix held back by `MSG_MORE` goes out now if nothing followed it.
        if std::mem::take(&mut self.corked) && t.written() == before {
            #[cfg(kernel_paths)]
            if let Some(fd) = self.inner.sink_fd() {
                crate::sys::calls::push_corked(fd);
            }
        }
        res
    }

    /// The sink's descriptor once the prefix is out: until then every byte goes through
    /// [`read_from`](ReaderFrom::read_from) or `Write`, which send the prefix first.
    #[cfg(unix)]
    fn sink_fd(&self) -> Option<BorrowedFd<'_>> {
        if self.sent == self.prefix.len() {
            self.inner.sink_fd()
        } else {
            None
        }
    }
}

impl<W: Write> Write for Prefixed<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_prefix()?;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_prefix()?;
        self.inner.flush()
    }
}
