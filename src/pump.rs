//! The read/write loop, the last path of every chain: one loop for descriptors and for `Read`
//! and `Write` values alike, so the count, the limit and what happens to bytes read but not
//! written are decided in one place.

use std::io::{self, Read, Write};

use crate::report::{End, Path};
use crate::transfer::{clamp, Transfer};

impl Transfer<'_> {
    /// Copies with the read/write loop from `reader` to `writer`, within the limit.
    ///
    /// # Errors
    ///
    /// The first error of `reader` or `writer` other than [`io::ErrorKind::Interrupted`], or
    /// [`io::ErrorKind::WriteZero`] when `writer` accepts nothing.
    pub fn copy_buffered<R, W>(&mut self, reader: &mut R, writer: &mut W) -> io::Result<u64>
    where
        R: Read + ?Sized,
        W: Write + ?Sized,
    {
        let before = self.written();
        let res = pump(self, &mut Reader(reader), &mut Writer(writer));
        res.map(|()| self.written() - before)
    }
}

/// Where the loop reads.
pub(crate) trait Input {
    /// Reads into `buf` (at the transfer's source offset, if it has one, advancing it).
    fn read_into(&mut self, t: &mut Transfer<'_>, buf: &mut [u8]) -> io::Result<usize>;

    /// Takes back the last `n` bytes read, if this input can: a file source moves its position
    /// (or the transfer's offset) back. Returns whether it did.
    fn unread(&mut self, t: &mut Transfer<'_>, n: usize) -> bool;
}

/// Where the loop writes.
pub(crate) trait Output {
    /// Writes from `buf` (at the transfer's sink offset, if it has one, advancing it).
    fn write_from(&mut self, t: &mut Transfer<'_>, buf: &[u8]) -> io::Result<usize>;
}

/// A `Read` value: what it returned cannot be put back.
pub(crate) struct Reader<'r, R: ?Sized>(pub(crate) &'r mut R);

impl<R: Read + ?Sized> Input for Reader<'_, R> {
    fn read_into(&mut self, _: &mut Transfer<'_>, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    fn unread(&mut self, _: &mut Transfer<'_>, _: usize) -> bool {
        false
    }
}

/// A `Write` value.
pub(crate) struct Writer<'w, W: ?Sized>(pub(crate) &'w mut W);

impl<W: Write + ?Sized> Output for Writer<'_, W> {
    fn write_from(&mut self, _: &mut Transfer<'_>, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
}

/// Writes all of `bytes` (already taken from the source) to `output`, each write counted as it
/// lands; the bytes not written are the caller's to keep.
pub(crate) fn write_all<O: Output + ?Sized>(
    t: &mut Transfer<'_>,
    output: &mut O,
    bytes: &[u8],
) -> io::Result<()> {
    let mut off = 0;
    while off < bytes.len() {
        t.report_mut().count_call(Path::Buffered);
        match output.write_from(t, &bytes[off..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_copy: the sink accepted no bytes",
                ))
            }
            Ok(m) => {
                let m = m.min(bytes.len() - off);
                off += m;
                t.report_mut().record(Path::Buffered, m as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(t.blocked(e, End::Sink)),
        }
    }
    Ok(())
}

/// Copies from `input` to `output` through the transfer's buffer until the input ends, the
/// limit is reached or an error. Each write is counted as it lands; bytes read but not written
/// are given back to the input if it can take them, and otherwise held or counted as stranded.
pub(crate) fn pump<I: Input + ?Sized, O: Output + ?Sized>(
    t: &mut Transfer<'_>,
    input: &mut I,
    output: &mut O,
) -> io::Result<()> {
    with_buffer(t, |t, buf| run(t, buf, input, output, None)).map(|_| ())
}

/// Copies as [`pump`] does, through `buf` instead of the transfer's buffer.
#[cfg_attr(not(kernel_paths), allow(dead_code))]
pub(crate) fn pump_with<I: Input + ?Sized, O: Output + ?Sized>(
    t: &mut Transfer<'_>,
    buf: &mut [u8],
    input: &mut I,
    output: &mut O,
) -> io::Result<()> {
    run(t, buf, input, output, None).map(|_| ())
}

/// Copies as [`pump`] does, with reads of at most `first` bytes, while they come back short of
/// it: `Ok(true)` when the input ended or the limit was reached, `Ok(false)` once a read that
/// filled `first` bytes has been written (the source has bytes queued: a kernel path can take
/// the rest).
#[cfg_attr(not(kernel_paths), allow(dead_code))]
pub(crate) fn pump_while_short<I: Input + ?Sized, O: Output + ?Sized>(
    t: &mut Transfer<'_>,
    input: &mut I,
    output: &mut O,
    first: usize,
) -> io::Result<bool> {
    with_buffer(t, |t, buf| {
        let len = first.min(buf.len());
        run(t, &mut buf[..len], input, output, Some(len))
    })
}

fn with_buffer<T>(
    t: &mut Transfer<'_>,
    f: impl FnOnce(&mut Transfer<'_>, &mut [u8]) -> io::Result<T>,
) -> io::Result<T> {
    let mut buffer = t.take_buffer();
    let res = f(t, buffer.as_mut_slice());
    t.put_buffer(buffer);
    res
}

/// The loop: `Ok(true)` when the input ended or the limit was reached; `Ok(false)` after a
/// read of `stop_when_full` bytes was written.
fn run<I: Input + ?Sized, O: Output + ?Sized>(
    t: &mut Transfer<'_>,
    buf: &mut [u8],
    input: &mut I,
    output: &mut O,
    stop_when_full: Option<usize>,
) -> io::Result<bool> {
    while t.limit() > 0 {
        let want = clamp(t.limit(), buf.len());
        t.report_mut().count_call(Path::Buffered);
        let n = match input.read_into(t, &mut buf[..want]) {
            Ok(0) => return Ok(true),
            Ok(n) => n.min(want),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(t.blocked(e, End::Source)),
        };
        t.set_limit(t.limit() - n as u64);
        let mut off = 0;
        while off < n {
            t.report_mut().count_call(Path::Buffered);
            let err = match output.write_from(t, &buf[off..n]) {
                Ok(0) => io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_copy: the sink accepted no bytes",
                ),
                Ok(m) => {
                    let m = m.min(n - off);
                    off += m;
                    t.report_mut().record(Path::Buffered, m as u64);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => t.blocked(e, End::Sink),
            };
            if input.unread(t, n - off) {
                t.set_limit(t.limit() + (n - off) as u64);
            } else {
                t.strand(&buf[off..n]);
            }
            return Err(err);
        }
        if stop_when_full == Some(n) && t.limit() > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
