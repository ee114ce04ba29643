//! The model and harness of the fuzz targets, shared by `fuzz/` (cargo-fuzz) and
//! `tests/fuzz_replay.rs` (which replays the committed corpus on stable).
//!
//! Each entry point takes the raw input, decodes one case with the small decoder below (so the
//! main crate needs no `arbitrary`), runs it through real descriptors — tmpfs files in
//! `/dev/shm`, pipes, Unix stream sockets — and panics on any difference from the model:
//!
//! - [`offsets`]: source and sink offsets, lengths, `Take` limits, chunk, buffer and pipe sizes
//!   and the path policy, against slice arithmetic; offsets near `i64::MAX` and `u64::MAX`.
//! - [`fallbacks`]: a script of syscall results per call index through the fault seam, against
//!   the fallback table of `src/sys/linux/mod.rs`: whatever the script, the sink holds exactly the
//!   first `count` bytes, positions agree with the count, and an error has the kind of a fault
//!   that was hit and is not a fallback.
//! - [`wrappers`]: nested `Take`, `BufReader`, `BufWriter`, `LineWriter` and `Box` around file,
//!   pipe and socket ends, against `std::io::copy` on an identically prepared pair.
//!
//! Everything here uses only std and `io_copy` (with `fault-injection`): the fuzz crate depends
//! on nothing else.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, LineWriter, Read, Seek, SeekFrom, Take, Write};
use std::io::{Cursor, PipeReader, PipeWriter};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};

use io_copy::fault::{self, Fault, Syscall};
use io_copy::{Copier, CopyError, Path, ReaderFrom, Report, Transfer, WriterTo, MAX_CHUNK};

// Linux errno values (the generic table: x86, arm, riscv, ...).
const EPERM: i32 = 1;
const EINTR: i32 = 4;
const EIO: i32 = 5;
const EBADF: i32 = 9;
const EAGAIN: i32 = 11;
const ENOMEM: i32 = 12;
const EXDEV: i32 = 18;
const EINVAL: i32 = 22;
const EFBIG: i32 = 27;
const ENOSPC: i32 = 28;
const EPIPE: i32 = 32;
const ENOSYS: i32 = 38;
const EOVERFLOW: i32 = 75;
const EOPNOTSUPP: i32 = 95;
const ECONNRESET: i32 = 104;

const I64_MAX: u64 = i64::MAX as u64;

// ---------------------------------------------------------------------------------------------
// Decoding

/// Reads a case from the front of the fuzz input; past its end every read gives zeros, so every
/// input decodes (as `arbitrary::Unstructured` does).
pub struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input(data)
    }

    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number below `n` (0 for `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        match n {
            0 => 0,
            1..=256 => usize::from(self.u8()) % n,
            _ => self.u32() as usize % n,
        }
    }

    /// An offset or a length, biased towards the values that matter around `len`: 0, small,
    /// just around `len`, and near `i64::MAX` and `u64::MAX`.
    pub fn edgy(&mut self, len: u64) -> u64 {
        let kind = self.u8() % 10;
        let small = u64::from(self.u8());
        match kind {
            0 => 0,
            1 => small,
            2 => len.saturating_sub(small),
            3 => len + small,
            4 => I64_MAX - small,
            5 => I64_MAX + small,
            6 => u64::MAX - small,
            7 => self.u64(),
            8 => u64::from(self.u32()),
            _ => small.saturating_mul(4099),
        }
    }

    /// An [`edgy`](Self::edgy) value that a file position can hold.
    pub fn position(&mut self, len: u64) -> u64 {
        match self.edgy(len) {
            p if p > I64_MAX => I64_MAX - (p % 256),
            p => p,
        }
    }

    /// Source bytes: mostly a few KiB, sometimes up to 256 KiB, rarely up to 4 MiB.
    pub fn content(&mut self) -> Vec<u8> {
        let seed = u64::from(self.u8());
        let len = match self.u8() {
            0..=0xef => usize::from(self.u16()) % 6000,
            0xf0..=0xfd => self.u32() as usize % (256 << 10),
            _ => self.u32() as usize % (4 << 20),
        };
        pattern(len, seed)
    }

    /// A copy policy for a copy of about `len` bytes: which paths, chunk, buffer and pipe
    /// sizes. Returns the buffer size too, which `Copier` does not show. Chunks and buffers are
    /// at least `len / 1024` (when not 0), so one copy makes a few thousand calls at most.
    pub fn copier(&mut self, len: usize) -> (Copier, usize) {
        let floor = len / 1024;
        let flags = self.u8();
        let chunk = match self.u8() % 6 {
            0 => MAX_CHUNK,
            1 => 1 + usize::from(self.u8()),
            2 => usize::from(self.u16()),
            3 => 4096,
            4 => self.u32() as usize,
            _ => 0,
        };
        let buffer = match self.u8() % 5 {
            0 => io_copy::DEFAULT_BUFFER_SIZE,
            1 => 1 + usize::from(self.u8()),
            2 => 1 + usize::from(self.u16()),
            3 => 4096,
            _ => 1 + self.u32() as usize % (1 << 20),
        };
        let pipe = match self.u8() % 4 {
            0 => io_copy::DEFAULT_PIPE_SIZE,
            1 => usize::from(self.u16()),
            2 => self.u32() as usize % (2 << 20),
            _ => 0,
        };
        let (chunk, buffer) = (
            chunk.max(floor),
            if buffer == 0 { 0 } else { buffer.max(floor) },
        );
        let copier = Copier::new()
            .copy_file_range(flags & 1 == 0)
            .sendfile(flags & 2 == 0)
            .splice(flags & 4 == 0)
            .share_file_pages(flags & 8 == 0)
            .splice_from_pipe(flags & 16 != 0)
            .chunk_size(chunk)
            .buffer_size(buffer)
            .pipe_size(pipe);
        (copier, buffer)
    }
}

/// Bytes that differ at every offset, so a shifted or repeated chunk shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Endpoints

/// A source: a descriptor, or std's wrappers around one. Every method passes the call to the
/// type it holds, so a copy through `Src` takes the path the same nesting of static types takes.
pub enum Src {
    File(File),
    Pipe(PipeReader),
    Sock(UnixStream),
    /// In memory: a `Cursor` writes its bytes straight to the sink.
    Mem(Cursor<Vec<u8>>),
    Take(Box<Take<Src>>),
    Buf(Box<BufReader<Src>>),
    Boxed(Box<Src>),
}

impl Read for Src {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Src::File(f) => f.read(buf),
            Src::Pipe(p) => p.read(buf),
            Src::Sock(s) => s.read(buf),
            Src::Mem(c) => c.read(buf),
            Src::Take(t) => t.read(buf),
            Src::Buf(b) => b.read(buf),
            Src::Boxed(b) => b.read(buf),
        }
    }
}

impl WriterTo for Src {
    fn write_to<W: ReaderFrom + ?Sized>(
        &mut self,
        w: &mut W,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        match self {
            Src::File(f) => f.write_to(w, t),
            Src::Pipe(p) => p.write_to(w, t),
            Src::Sock(s) => s.write_to(w, t),
            Src::Mem(c) => c.write_to(w, t),
            Src::Take(x) => x.write_to(w, t),
            Src::Buf(b) => b.write_to(w, t),
            Src::Boxed(b) => b.write_to(w, t),
        }
    }

    fn source_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Src::File(f) => f.source_fd(),
            Src::Pipe(p) => p.source_fd(),
            Src::Sock(s) => s.source_fd(),
            Src::Mem(c) => c.source_fd(),
            Src::Take(x) => x.source_fd(),
            Src::Buf(b) => b.source_fd(),
            Src::Boxed(b) => b.source_fd(),
        }
    }
}

impl Src {
    fn file(&self) -> &File {
        match self {
            Src::File(f) => f,
            _ => panic!("harness: not a file source"),
        }
    }

    /// The `Take` limits from the outside in, each plus the bytes that `BufReader`s outside it
    /// read through it ahead of the copy: the limit as the reader of the whole stack sees it,
    /// which does not depend on how far a `BufReader` happened to read ahead.
    fn take_limits(&self, out: &mut Vec<u128>) {
        self.take_limits_below(0, out);
    }

    fn take_limits_below(&self, ahead: u128, out: &mut Vec<u128>) {
        match self {
            Src::Take(t) => {
                out.push(u128::from(t.limit()) + ahead);
                t.get_ref().take_limits_below(ahead, out);
            }
            Src::Buf(b) => b
                .get_ref()
                .take_limits_below(ahead + b.buffer().len() as u128, out),
            Src::Boxed(b) => b.take_limits_below(ahead, out),
            _ => {}
        }
    }

    /// Everything a reader of the innermost end would still get, `BufReader` buffers included,
    /// `Take` limits ignored; reads pipes and sockets to their end.
    fn rest(&mut self, out: &mut Vec<u8>) {
        match self {
            Src::File(f) => {
                f.read_to_end(out).expect("harness: read the source's rest");
            }
            Src::Pipe(p) => {
                p.read_to_end(out).expect("harness: read the source's rest");
            }
            Src::Sock(s) => {
                s.read_to_end(out).expect("harness: read the source's rest");
            }
            Src::Mem(c) => {
                c.read_to_end(out).expect("harness: read the source's rest");
            }
            Src::Take(t) => t.get_mut().rest(out),
            Src::Buf(b) => {
                out.extend_from_slice(b.buffer());
                b.get_mut().rest(out);
            }
            Src::Boxed(b) => b.rest(out),
        }
    }
}

/// A sink, as [`Src`] is a source.
pub enum Dst {
    File(File),
    Pipe(PipeWriter),
    Sock(UnixStream),
    Vec(Vec<u8>),
    Buf(Box<BufWriter<Dst>>),
    Line(Box<LineWriter<Dst>>),
    Boxed(Box<Dst>),
}

impl Write for Dst {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Dst::File(f) => f.write(buf),
            Dst::Pipe(p) => p.write(buf),
            Dst::Sock(s) => s.write(buf),
            Dst::Vec(v) => v.write(buf),
            Dst::Buf(b) => b.write(buf),
            Dst::Line(l) => l.write(buf),
            Dst::Boxed(b) => b.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Dst::File(f) => f.flush(),
            Dst::Pipe(p) => p.flush(),
            Dst::Sock(s) => s.flush(),
            Dst::Vec(v) => v.flush(),
            Dst::Buf(b) => b.flush(),
            Dst::Line(l) => l.flush(),
            Dst::Boxed(b) => b.flush(),
        }
    }
}

impl ReaderFrom for Dst {
    fn read_from<R: WriterTo + ?Sized>(
        &mut self,
        r: &mut R,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        match self {
            Dst::File(f) => f.read_from(r, t),
            Dst::Pipe(p) => p.read_from(r, t),
            Dst::Sock(s) => s.read_from(r, t),
            Dst::Vec(v) => v.read_from(r, t),
            Dst::Buf(b) => b.read_from(r, t),
            Dst::Line(l) => l.read_from(r, t),
            Dst::Boxed(b) => b.read_from(r, t),
        }
    }

    fn sink_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Dst::File(f) => f.sink_fd(),
            Dst::Pipe(p) => p.sink_fd(),
            Dst::Sock(s) => s.sink_fd(),
            Dst::Vec(v) => v.sink_fd(),
            Dst::Buf(b) => b.sink_fd(),
            Dst::Line(l) => l.sink_fd(),
            Dst::Boxed(b) => b.sink_fd(),
        }
    }
}

impl Dst {
    fn file(&self) -> &File {
        match self {
            Dst::File(f) => f,
            _ => panic!("harness: not a file sink"),
        }
    }

    /// The innermost end, with every wrapper flushed and dropped.
    fn into_end(self) -> Dst {
        match self {
            Dst::Buf(b) => match b.into_inner() {
                Ok(d) => d.into_end(),
                Err(e) => panic!("harness: flush: {}", e.error()),
            },
            Dst::Line(l) => match l.into_inner() {
                Ok(d) => d.into_end(),
                Err(e) => panic!("harness: flush: {}", e.error()),
            },
            Dst::Boxed(b) => b.into_end(),
            end => end,
        }
    }
}

/// A new empty file on tmpfs, open for reading and writing (or appending), already unlinked.
fn scratch_file(append: bool) -> File {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!(
        "io_copy-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let f = OpenOptions::new()
        .read(true)
        .write(!append)
        .append(append)
        .create_new(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("harness: create {}: {e}", path.display()));
    std::fs::remove_file(&path).expect("harness: unlink scratch file");
    f
}

/// A file holding `data`, positioned at `pos`.
fn file_with(data: &[u8], pos: u64, append: bool) -> File {
    let mut f = scratch_file(append);
    f.write_all(data).expect("harness: fill file");
    f.seek(SeekFrom::Start(pos)).expect("harness: seek");
    f
}

/// The kinds of descriptor at the far end of a [`Src`] or [`Dst`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    File,
    Pipe,
    Sock,
    Vec,
}

/// A source end carrying `data` (from `pos` on for a file), and the thread that feeds a pipe or
/// socket. The first `prefill` bytes are in the pipe or socket before this returns; the feeder
/// writes the rest only once [`Feed::start`] is called, so reads made before are deterministic.
struct Feed {
    rest: Vec<u8>,
    writer: Option<Box<dyn Write + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    fn start(&mut self) {
        if let Some(mut w) = self.writer.take() {
            let rest = std::mem::take(&mut self.rest);
            self.thread = Some(thread::spawn(move || {
                // The reader may stop early; then it drains, so this always ends.
                let _ = w.write_all(&rest);
            }));
        }
    }

    fn join(mut self) {
        self.start();
        if let Some(t) = self.thread.take() {
            t.join().expect("harness: feeder");
        }
    }
}

fn source(end: End, data: &[u8], pos: u64, prefill: usize) -> (Src, Feed) {
    let split = prefill.min(data.len());
    let (src, mut w): (Src, Box<dyn Write + Send>) = match end {
        End::Vec => {
            let mut c = Cursor::new(data.to_vec());
            c.set_position(pos);
            let feed = Feed {
                rest: Vec::new(),
                writer: None,
                thread: None,
            };
            return (Src::Mem(c), feed);
        }
        End::File => {
            let f = file_with(data, pos, false);
            let feed = Feed {
                rest: Vec::new(),
                writer: None,
                thread: None,
            };
            return (Src::File(f), feed);
        }
        End::Pipe => {
            let (r, w) = io::pipe().expect("harness: pipe");
            (Src::Pipe(r), Box::new(w))
        }
        End::Sock => {
            let (r, w) = UnixStream::pair().expect("harness: socketpair");
            (Src::Sock(r), Box::new(w))
        }
    };
    w.write_all(&data[..split]).expect("harness: prefill");
    // All of it in already: close now, so a read that wants more sees the end, not a wait.
    let writer = (split < data.len()).then_some(w);
    let feed = Feed {
        rest: data[split..].to_vec(),
        writer,
        thread: None,
    };
    (src, feed)
}

/// A sink end; a pipe or socket is drained by a thread from the start.
fn sink(end: End, pre: &[u8], pos: u64, append: bool) -> (Dst, Option<JoinHandle<Vec<u8>>>) {
    fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).expect("harness: drain the sink");
            v
        })
    }
    match end {
        End::File => (Dst::File(file_with(pre, pos, append)), None),
        End::Vec => (Dst::Vec(pre.to_vec()), None),
        End::Pipe => {
            let (r, w) = io::pipe().expect("harness: pipe");
            (Dst::Pipe(w), Some(drain(r)))
        }
        End::Sock => {
            let (w, r) = UnixStream::pair().expect("harness: socketpair");
            (Dst::Sock(w), Some(drain(r)))
        }
    }
}

/// What reached a sink: for a file its handle (read it with [`check_file`]), otherwise the bytes.
enum Landed {
    File(File),
    Bytes(Vec<u8>),
}

fn land(dst: Dst, drain: Option<JoinHandle<Vec<u8>>>) -> Landed {
    match dst.into_end() {
        Dst::File(f) => Landed::File(f),
        Dst::Vec(v) => Landed::Bytes(v),
        end => {
            drop(end);
            Landed::Bytes(drain.expect("harness: drain").join().expect("drain"))
        }
    }
}

fn position(f: &mut File) -> u64 {
    f.stream_position().expect("harness: position")
}

/// Checks that `f` is `base` with `data` written at `at` (holes read as zeros), reading only
/// the regions that matter so a file that reaches `i64::MAX` costs nothing.
fn check_file(f: &File, base: &[u8], at: u64, data: &[u8], what: &str) {
    let blen = base.len() as u64;
    let end = at + data.len() as u64;
    let size = if data.is_empty() { blen } else { blen.max(end) };
    let got_size = f.metadata().expect("harness: fstat").len();
    assert_eq!(got_size, size, "{what}: sink file size");
    let read = |off: u64, len: u64| {
        let mut v = vec![0u8; len as usize];
        f.read_exact_at(&mut v, off).expect("harness: read sink");
        v
    };
    let head = blen.min(at);
    assert!(
        read(0, head) == base[..head as usize],
        "{what}: sink bytes before the copy's"
    );
    assert!(
        read(at, data.len() as u64) == data,
        "{what}: the copied bytes at the sink"
    );
    if end < blen {
        assert!(
            read(end, blen - end) == base[end as usize..],
            "{what}: sink bytes after the copy's"
        );
    }
    if at > blen && at - blen <= 1 << 20 && !data.is_empty() {
        let hole = read(blen, at - blen);
        assert!(
            hole.iter().all(|&b| b == 0),
            "{what}: the hole before the copy's bytes"
        );
    }
}

/// Prints the decoded case when `IO_COPY_FUZZ_DEBUG` is set, to triage an input.
fn trace(what: &str) {
    if std::env::var_os("IO_COPY_FUZZ_DEBUG").is_some() {
        eprintln!("{what}");
    }
}

fn outcome(res: &Result<Report, CopyError>) -> (u64, Option<io::ErrorKind>, &Report) {
    match res {
        Ok(r) => (r.written(), None, r),
        Err(e) => (e.written(), Some(e.kind()), e.report()),
    }
}

/// What every report must say of itself.
fn check_report(r: &Report, what: &str) {
    let sum: u64 = Path::ALL.iter().map(|p| r.path_stats(*p).bytes).sum();
    assert_eq!(
        sum,
        r.written(),
        "{what}: the paths' bytes add up to the count: {r}"
    );
    for fb in r.fallbacks() {
        assert!(
            fb.at <= r.written(),
            "{what}: fallback recorded past the count: {r}"
        );
    }
    if r.written() > 0 {
        assert!(
            r.main_path().is_some(),
            "{what}: bytes moved by no path: {r}"
        );
    }
}

fn prefix(v: &[u8], n: u64) -> &[u8] {
    &v[..usize::try_from(n).map_or(v.len(), |n| n.min(v.len()))]
}

fn skip(v: &[u8], n: u64) -> &[u8] {
    &v[usize::try_from(n).map_or(v.len(), |n| n.min(v.len()))..]
}

// ---------------------------------------------------------------------------------------------
// offsets

#[derive(Clone, Copy, Debug)]
enum Op {
    Copy,
    CopyN(u64),
    CopyBuffer(usize),
    Range {
        off: u64,
        len: u64,
    },
    At {
        src_off: u64,
        dst_off: u64,
        len: u64,
    },
}

fn run_op(copier: &Copier, op: Op, src: &mut Src, dst: &mut Dst) -> Result<Report, CopyError> {
    match op {
        Op::Copy => copier.copy(src, dst),
        Op::CopyN(n) => copier.copy_n(src, dst, n),
        Op::CopyBuffer(len) => copier.copy_buffer(src, dst, &mut vec![0u8; len]),
        Op::Range { off, len } => copier.copy_range(src.file(), off, len, dst),
        Op::At {
            src_off,
            dst_off,
            len,
        } => copier.copy_at(src.file(), src_off, dst.file(), dst_off, len),
    }
}

/// One copy with arbitrary offsets, lengths, limits and sizes, through tmpfs files, pipes and
/// Unix sockets, against slice arithmetic: bytes, count, both positions, `Take`'s remainder and
/// the error kind.
pub fn offsets(data: &[u8]) {
    let mut u = Input::new(data);
    let content = u.content();
    let clen = content.len() as u64;
    let (copier, buffer_size) = u.copier(content.len());
    let op = match u.u8() % 6 {
        0 | 1 => Op::Copy,
        2 => Op::CopyN(u.edgy(clen)),
        3 => Op::CopyBuffer(
            match u.u8() % 4 {
                0 => 0,
                1 => 1 + usize::from(u.u8()),
                _ => 1 + usize::from(u.u16()),
            }
            .max(content.len() / 1024),
        ),
        4 => Op::Range {
            off: u.edgy(clen),
            len: u.edgy(clen),
        },
        _ => Op::At {
            src_off: u.edgy(clen),
            dst_off: u.edgy(0),
            len: u.edgy(clen),
        },
    };
    let positional = matches!(op, Op::Range { .. } | Op::At { .. });
    let src_end = if positional {
        End::File
    } else {
        [End::File, End::Pipe, End::Sock][u.below(3)]
    };
    let src_pos = if src_end == End::File {
        u.position(clen)
    } else {
        0
    };
    let take = (!positional && u.u8().is_multiple_of(3)).then(|| u.edgy(clen));
    let (dst_end, append) = match (op, u.u8() % 6) {
        (Op::At { .. }, k) => (End::File, k == 0),
        (_, 0 | 1) => (End::File, false),
        (_, 2) => (End::File, true),
        (_, 3) => (End::Pipe, false),
        (_, 4) => (End::Sock, false),
        _ => (End::Vec, false),
    };
    let pre = pattern(usize::from(u.u8()), 0x5eed);
    let dst_pos = if dst_end == End::File {
        u.position(pre.len() as u64)
    } else {
        0
    };
    let what = format!(
        "offsets: {op:?} of {clen} bytes from {src_end:?} at {src_pos} (take {take:?}) to \
         {dst_end:?} (append {append}) at {dst_pos} after {} bytes, {copier:?}",
        pre.len()
    );
    trace(&what);

    // The model.
    let avail = match op {
        Op::Range { off, .. } => skip(&content, off),
        Op::At { src_off, .. } => skip(&content, src_off),
        _ if src_end == End::File => skip(&content, src_pos),
        _ => &content[..],
    };
    let mut limit = match op {
        Op::CopyN(n) => n,
        Op::Range { len, .. } | Op::At { len, .. } => len,
        _ => u64::MAX,
    };
    if let Some(t) = take {
        limit = limit.min(t);
    }
    let out = prefix(avail, limit);
    let olen = out.len() as u64;
    let past = |off: u64, len: u64| off.checked_add(len).is_none_or(|e| e > I64_MAX);
    let invalid = match op {
        Op::Range { off, len } => past(off, len),
        Op::At {
            src_off,
            dst_off,
            len,
        } => past(src_off, len) || past(dst_off, len) || append,
        Op::CopyBuffer(n) => n == 0,
        _ => false,
    };
    // Where the bytes land in a sink file, and how many fit below the kernel's i64::MAX.
    let land_at = match op {
        Op::At { dst_off, .. } => dst_off,
        _ if append => pre.len() as u64,
        _ => dst_pos,
    };
    // The kernel refuses a read or write whose end would pass i64::MAX with EINVAL
    // (rw_verify_area), before looking at the file's size. A source positioned near i64::MAX is
    // past its end, so every kernel path answers 0 or EINVAL and falls back: the read/write loop
    // decides, and its first read asks for min(limit, buffer) bytes.
    let read_size = match op {
        Op::CopyBuffer(n) => n as u64,
        _ => buffer_size as u64,
    };
    let read_past_max = src_end == End::File
        && !positional
        && limit > 0
        && src_pos
            .checked_add(limit.min(read_size))
            .is_none_or(|e| e > I64_MAX);
    // A sink file takes at most this many bytes below i64::MAX; past it a write fails with
    // EINVAL (or EFBIG), and how much arrived before depends on how the copy cut its writes.
    let room = if dst_end == End::File {
        I64_MAX.saturating_sub(land_at)
    } else {
        u64::MAX
    };
    let (want_count, want_kind) = if invalid || read_past_max {
        (0, Some(io::ErrorKind::InvalidInput))
    } else {
        match op {
            Op::CopyN(n) if olen < n => (olen, Some(io::ErrorKind::UnexpectedEof)),
            _ => (olen, None),
        }
    };

    // The real copy.
    let (mut src, mut feed) = source(src_end, &content, src_pos, 0);
    if let Some(t) = take {
        src = Src::Take(Box::new(src.take(t)));
    }
    feed.start();
    let (mut dst, drain) = sink(dst_end, &pre, dst_pos, append);
    let res = run_op(&copier, op, &mut src, &mut dst);
    let (count, kind, report) = outcome(&res);
    check_report(report, &what);
    // An O_APPEND sink writes at its end, but the kernel checks the write against the file
    // position first: positioned near i64::MAX, the first write fails (EINVAL) or, if it is
    // short enough to pass, moves the position to the end and the copy goes on normally.
    let append_edge = append && dst_end == End::File && olen > I64_MAX - dst_pos;
    let failed_at_edge = count == 0
        && matches!(
            kind,
            Some(io::ErrorKind::InvalidInput | io::ErrorKind::FileTooLarge)
        );
    if !invalid && !read_past_max && append_edge && failed_at_edge {
        // The first write did not pass the check.
    } else if !invalid && !read_past_max && olen > room {
        assert!(
            count <= room
                && matches!(
                    kind,
                    Some(io::ErrorKind::InvalidInput | io::ErrorKind::FileTooLarge)
                ),
            "{what}: past i64::MAX at the sink: at most {room} bytes, then EINVAL or EFBIG \
             ({res:?})"
        );
    } else {
        assert_eq!(
            (count, kind),
            (want_count, want_kind),
            "{what}: count and error kind ({res:?})"
        );
    }
    let stranded = report.stranded();
    if src_end == End::File {
        assert_eq!(stranded, 0, "{what}: a file source strands nothing");
    }
    if kind.is_none() {
        assert_eq!(stranded, 0, "{what}: a copy that succeeded strands nothing");
    }
    let consumed = count + stranded;

    // Positions and what is left in the source.
    let mut limits = Vec::new();
    src.take_limits(&mut limits);
    if let Some(t) = take {
        assert_eq!(
            limits,
            [u128::from(t - consumed)],
            "{what}: Take's remainder"
        );
    }
    let src_fd_pos = (src_end == End::File).then(|| match &src {
        Src::Take(t) => file_pos(t.get_ref().file()),
        f => file_pos(f.file()),
    });
    if let Some(p) = src_fd_pos {
        let want = if positional {
            src_pos
        } else {
            src_pos + consumed
        };
        assert_eq!(p, want, "{what}: source position");
    } else {
        let mut rest = Vec::new();
        src.rest(&mut rest);
        assert!(
            rest == skip(&content, consumed),
            "{what}: the bytes left in the source"
        );
    }
    drop(src);
    feed.join();

    match land(dst, drain) {
        Landed::File(mut f) => {
            let want_pos = match op {
                Op::At { .. } => dst_pos,
                _ if append && count > 0 => pre.len() as u64 + count,
                _ => dst_pos + count,
            };
            assert_eq!(position(&mut f), want_pos, "{what}: sink position");
            check_file(&f, &pre, land_at, prefix(out, count), &what);
        }
        Landed::Bytes(got) => {
            let want = if dst_end == End::Vec {
                [&pre[..], prefix(out, count)].concat()
            } else {
                prefix(out, count).to_vec()
            };
            assert!(
                got == want,
                "{what}: the bytes at the sink ({} vs {})",
                got.len(),
                want.len()
            );
        }
    }
}

fn file_pos(mut f: &File) -> u64 {
    f.stream_position().expect("harness: position")
}

// ---------------------------------------------------------------------------------------------
// fallbacks

/// The errnos a script draws from: each fallback errno, EINTR, EAGAIN, and others.
const ERRNOS: [i32; 15] = [
    ENOSYS, EXDEV, EINVAL, EOPNOTSUPP, EPERM, EIO, EBADF, EINTR, EAGAIN, ENOSPC, EPIPE, ECONNRESET,
    EFBIG, ENOMEM, EOVERFLOW,
];

const SYSCALLS: [Syscall; 5] = [
    Syscall::CopyFileRange,
    Syscall::Sendfile,
    Syscall::Splice,
    Syscall::Read,
    Syscall::Write,
];

/// The fallback table of `src/sys/linux/mod.rs`: which errnos of which call mean "not here".
pub fn is_fallback(call: Syscall, errno: i32) -> bool {
    match call {
        Syscall::CopyFileRange => [
            ENOSYS, EXDEV, EINVAL, EOPNOTSUPP, EPERM, EIO, EBADF, EOVERFLOW,
        ]
        .contains(&errno),
        Syscall::Sendfile | Syscall::Splice => {
            [ENOSYS, EINVAL, EOPNOTSUPP, EPERM, EOVERFLOW].contains(&errno)
        }
        // A refused F_SETPIPE_SZ leaves the pipe as it was: not a fallback, not an error.
        Syscall::Read | Syscall::Write | Syscall::GrowBuffer => false,
        _ => false,
    }
}

fn fault(u: &mut Input<'_>) -> Fault {
    match u.u8() % 8 {
        0 | 1 => Fault::Pass,
        2 => Fault::Short(usize::from(u.u8())),
        3 => Fault::Short(usize::from(u.u16())),
        4 => Fault::Zero,
        _ => Fault::Errno(ERRNOS[u.below(ERRNOS.len())]),
    }
}

/// What the hit part of a script allows the copy to end with.
#[derive(Debug, Default)]
struct Allowed {
    /// Error kinds of faults that were hit and end the copy.
    kinds: Vec<io::ErrorKind>,
    /// A data call answered 0 after the first: the copy may end there, short and successful.
    short_end: bool,
}

/// A result of 0 bytes.
fn is_zero(f: &Fault) -> bool {
    matches!(f, Fault::Zero | Fault::Short(0))
}

fn allowed(hit: &[(Syscall, Vec<Fault>)]) -> Allowed {
    let mut a = Allowed::default();
    for (call, faults) in hit {
        for f in faults {
            match *f {
                Fault::Errno(EINTR) | Fault::Pass => {}
                Fault::Short(n) if n > 0 => {}
                Fault::Errno(e) if is_fallback(*call, e) => {}
                Fault::Errno(e) => a.kinds.push(io::Error::from_raw_os_error(e).kind()),
                Fault::Zero | Fault::Short(_) => match call {
                    Syscall::Write => a.kinds.push(io::ErrorKind::WriteZero),
                    // The relay's splice into the sink, or the relay's read of its own pipe.
                    Syscall::Splice => {
                        a.kinds.push(io::ErrorKind::WriteZero);
                        a.short_end = true;
                    }
                    Syscall::Read => {
                        a.kinds.push(io::ErrorKind::Other);
                        a.short_end = true;
                    }
                    _ => a.short_end = true,
                },
            }
        }
    }
    a
}

/// One copy between descriptors with a script of results for each data syscall: whatever the
/// script, the sink holds exactly the first `count` bytes, positions agree with the count, an
/// error has the kind of a fault that was hit, and a script that lets the copy finish gives
/// the whole output.
///
/// Runs on a thread of its own: the fault seam and the "ENOSYS seen" memory are per thread.
pub fn fallbacks(data: &[u8]) {
    let data = data.to_vec();
    let res = thread::spawn(move || fallbacks_case(&data)).join();
    if let Err(panic) = res {
        std::panic::resume_unwind(panic);
    }
}

fn fallbacks_case(data: &[u8]) {
    let mut u = Input::new(data);
    let mut content = u.content();
    content.truncate(300 << 10);
    let clen = content.len() as u64;
    let (mut copier, _) = u.copier(content.len());
    // Small chunks and buffers make many calls, so the scripts reach further.
    match u.u8() % 3 {
        0 => {
            copier = copier.chunk_size((1 + usize::from(u.u16()) % 9000).max(content.len() / 1024))
        }
        1 => {
            copier = copier.buffer_size((1 + usize::from(u.u16()) % 9000).max(content.len() / 1024))
        }
        _ => copier = copier.buffer_size(io_copy::DEFAULT_BUFFER_SIZE),
    }
    let small = |u: &mut Input<'_>| u64::from(u.u16()) % (clen + 2);
    let pick = u.u8() % 7;
    // A Resumable copy, called again without faults after it stops.
    let resumable = pick >= 5;
    let op = match pick {
        0 | 1 => Op::Copy,
        2 => Op::CopyN(small(&mut u)),
        3 => Op::Range {
            off: small(&mut u),
            len: small(&mut u),
        },
        4 => Op::At {
            src_off: small(&mut u),
            dst_off: small(&mut u),
            len: small(&mut u),
        },
        _ => Op::Copy,
    };
    let positional = matches!(op, Op::Range { .. } | Op::At { .. });
    let src_end = if positional {
        End::File
    } else {
        [End::File, End::Pipe, End::Sock][u.below(3)]
    };
    let src_pos = if src_end == End::File {
        small(&mut u)
    } else {
        0
    };
    let take = (!positional && !resumable && u.u8().is_multiple_of(4)).then(|| small(&mut u));
    let dst_end = match op {
        Op::At { .. } => End::File,
        _ => [End::File, End::Pipe, End::Sock][u.below(3)],
    };
    let pre = pattern(usize::from(u.u8() % 64), 0x5eed);
    let dst_pos = if dst_end == End::File {
        u64::from(u.u8()) % (pre.len() as u64 + 8)
    } else {
        0
    };
    let mut script = Vec::new();
    for call in SYSCALLS {
        let n = usize::from(u.u8() % 8);
        script.push((call, (0..n).map(|_| fault(&mut u)).collect::<Vec<_>>()));
    }
    let what = format!(
        "fallbacks: {op:?} (resumable {resumable}) of {clen} bytes from {src_end:?} at \
         {src_pos} (take {take:?}) to {dst_end:?} at {dst_pos}, {copier:?}, script {script:?}"
    );

    // The whole output, as if nothing failed.
    let avail = match op {
        Op::Range { off, .. } => skip(&content, off),
        Op::At { src_off, .. } => skip(&content, src_off),
        _ if src_end == End::File => skip(&content, src_pos),
        _ => &content[..],
    };
    let mut limit = match op {
        Op::CopyN(n) => n,
        Op::Range { len, .. } | Op::At { len, .. } => len,
        _ => u64::MAX,
    };
    if let Some(t) = take {
        limit = limit.min(t);
    }
    let out = prefix(avail, limit);
    let olen = out.len() as u64;
    let land_at = match op {
        Op::At { dst_off, .. } => dst_off,
        _ => dst_pos,
    };

    let (mut src, mut feed) = source(src_end, &content, src_pos, 0);
    if let Some(t) = take {
        src = Src::Take(Box::new(src.take(t)));
    }
    feed.start();
    let (mut dst, drain) = sink(dst_end, &pre, dst_pos, false);

    for (call, faults) in &script {
        fault::inject(*call, faults.clone());
    }
    let mut resume = copier.resumable();
    let res = if resumable {
        resume.copy(&mut src, &mut dst)
    } else {
        run_op(&copier, op, &mut src, &mut dst)
    };
    let hit: Vec<(Syscall, Vec<Fault>)> = script
        .iter()
        .map(|(call, faults)| {
            (
                *call,
                faults[..fault::calls(*call).min(faults.len())].to_vec(),
            )
        })
        .collect();
    fault::clear();
    let allowed = allowed(&hit);
    let what = format!("{what}, hit {hit:?}");
    trace(&format!("{what}: {res:?}"));

    let (mut count, kind, report) = outcome(&res);
    check_report(report, &what);
    let (stranded, mut held) = (report.stranded(), report.held());
    assert!(
        count <= olen,
        "{what}: more bytes than the source had ({res:?})"
    );
    match kind {
        None => {
            if !allowed.short_end {
                assert_eq!(
                    count, olen,
                    "{what}: nothing stopped the copy, so it is complete"
                );
            }
        }
        Some(io::ErrorKind::UnexpectedEof) if matches!(op, Op::CopyN(n) if count < n) => {
            if !allowed.short_end {
                assert_eq!(
                    count, olen,
                    "{what}: copy_n ended short only as the source did"
                );
            }
        }
        Some(k) => assert!(
            allowed.kinds.contains(&k),
            "{what}: error {k:?} from no fault that was hit ({res:?})"
        ),
    }
    if src_end == End::File {
        assert_eq!(
            (stranded, held),
            (0, 0),
            "{what}: a file source keeps nothing back"
        );
    }
    if kind.is_none() {
        assert_eq!(
            (stranded, held),
            (0, 0),
            "{what}: a copy that succeeded keeps nothing back"
        );
    }
    if !resumable {
        assert_eq!(held, 0, "{what}: only a Resumable holds bytes");
    }

    // A Resumable goes on without faults until it completes, and loses nothing on the way,
    // except where its own relay pipe could not be read (only a scripted read error or 0 does
    // that):
    // then it holds what it had read and counts the rest of the pipe as stranded, and the
    // output has exactly those bytes missing after what it held.
    let mut delivered = count;
    let mut sink_want = prefix(out, count).to_vec();
    if resumable {
        let pipe_unreadable = hit.iter().any(|(call, faults)| {
            *call == Syscall::Read
                && faults
                    .iter()
                    .any(|f| matches!(f, Fault::Errno(e) if *e != EINTR) || is_zero(f))
        });
        assert!(
            stranded == 0 || (pipe_unreadable && src_end == End::Sock),
            "{what}: a Resumable keeps what a failed write left (stranded {stranded})"
        );
        assert_eq!(
            resume.held(),
            held,
            "{what}: the Resumable holds what the report says"
        );
        let again = resume.copy(&mut src, &mut dst);
        let (n, kind, report) = outcome(&again);
        check_report(report, &what);
        assert_eq!(kind, None, "{what}: the resumed copy completes ({again:?})");
        assert_eq!(
            (report.stranded(), report.held(), resume.held()),
            (0, 0, 0),
            "{what}: the resumed copy delivers what was held"
        );
        delivered += n;
        assert_eq!(
            delivered + stranded,
            olen,
            "{what}: the copy and its resumption give the whole output, less what was stranded"
        );
        let gap = (count + held) as usize;
        sink_want = [prefix(out, gap as u64), skip(out, gap as u64 + stranded)].concat();
        (count, held) = (delivered, 0);
    }
    let consumed = count + stranded + held;

    let mut limits = Vec::new();
    src.take_limits(&mut limits);
    if let Some(t) = take {
        assert_eq!(
            limits,
            [u128::from(t - consumed)],
            "{what}: Take's remainder"
        );
    }
    if src_end == End::File {
        let pos = match &src {
            Src::Take(t) => file_pos(t.get_ref().file()),
            f => file_pos(f.file()),
        };
        let want = if positional { src_pos } else { src_pos + count };
        assert_eq!(pos, want, "{what}: source position");
    } else {
        let mut rest = Vec::new();
        src.rest(&mut rest);
        assert!(
            rest == skip(&content, consumed),
            "{what}: the bytes left in the source"
        );
    }
    drop(src);
    feed.join();
    drop(resume);

    match land(dst, drain) {
        Landed::File(mut f) => {
            let want_pos = if matches!(op, Op::At { .. }) {
                dst_pos
            } else {
                dst_pos + count
            };
            assert_eq!(position(&mut f), want_pos, "{what}: sink position");
            check_file(&f, &pre, land_at, &sink_want, &what);
        }
        Landed::Bytes(got) => {
            assert!(
                got == sink_want,
                "{what}: the sink holds exactly the first {count} bytes (it has {})",
                got.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// wrappers

#[derive(Clone, Copy, Debug)]
enum SrcLayer {
    Take(u64),
    /// Capacity, then how much of what the first fill reads to consume.
    Buf(usize, usize),
    Boxed,
}

#[derive(Clone, Copy, Debug)]
enum DstLayer {
    /// Capacity, then bytes left unflushed.
    Buf(usize, usize),
    Line(usize),
    Boxed,
}

/// Builds the source: its end, then each layer from the inside out; a `BufReader` reads once
/// and consumes part of what it read before the next layer goes on. Pipes and sockets hold
/// enough bytes that these reads never wait, so two builds from one spec are identical.
fn build_src(end: End, content: &[u8], pos: u64, layers: &[SrcLayer]) -> (Src, Feed) {
    let (mut src, mut feed) = source(end, content, pos, 32 << 10);
    for layer in layers {
        src = match *layer {
            SrcLayer::Take(n) => Src::Take(Box::new(src.take(n))),
            SrcLayer::Boxed => Src::Boxed(Box::new(src)),
            SrcLayer::Buf(cap, consume) => {
                let mut b = BufReader::with_capacity(cap, src);
                let got = b.fill_buf().expect("harness: pre-read").len();
                b.consume(consume % (got + 1));
                Src::Buf(Box::new(b))
            }
        };
    }
    feed.start();
    (src, feed)
}

fn build_dst(
    end: End,
    pos: u64,
    layers: &[DstLayer],
    unflushed: &[u8],
) -> (Dst, Option<JoinHandle<Vec<u8>>>) {
    let (mut dst, drain) = sink(end, b"", pos, false);
    for layer in layers {
        dst = match *layer {
            DstLayer::Boxed => Dst::Boxed(Box::new(dst)),
            DstLayer::Line(cap) => Dst::Line(Box::new(LineWriter::with_capacity(cap, dst))),
            DstLayer::Buf(cap, n) => {
                let mut b = BufWriter::with_capacity(cap, dst);
                b.write_all(prefix(unflushed, n as u64))
                    .expect("harness: unflushed bytes");
                Dst::Buf(Box::new(b))
            }
        };
    }
    (dst, drain)
}

/// After a copy: the count or error kind, what is left in the source, the `Take` limits, and
/// what reached the sink with its position.
#[derive(Debug, PartialEq, Eq)]
struct After {
    result: Result<u64, (io::ErrorKind, u64)>,
    limits: Vec<u128>,
    rest_len: usize,
    rest_hash: u64,
    sink: Vec<u8>,
    sink_pos: Option<u64>,
}

fn hash(v: &[u8]) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn after(
    result: Result<u64, (io::ErrorKind, u64)>,
    mut src: Src,
    feed: Feed,
    dst: Dst,
    drain: Option<JoinHandle<Vec<u8>>>,
) -> After {
    let mut limits = Vec::new();
    src.take_limits(&mut limits);
    let mut rest = Vec::new();
    src.rest(&mut rest);
    drop(src);
    feed.join();
    let (sink, sink_pos) = match land(dst, drain) {
        Landed::File(mut f) => {
            let pos = position(&mut f);
            let mut v = Vec::new();
            f.seek(SeekFrom::Start(0)).expect("harness: rewind sink");
            f.read_to_end(&mut v).expect("harness: read sink");
            (v, Some(pos))
        }
        Landed::Bytes(v) => (v, None),
    };
    After {
        result,
        limits,
        rest_len: rest.len(),
        rest_hash: hash(&rest),
        sink,
        sink_pos,
    }
}

/// Any nesting of `Take`, `BufReader` (holding bytes it read ahead), `Box`, `BufWriter` (holding
/// unflushed bytes) and `LineWriter` around file, pipe and Unix socket ends (and in-memory
/// `Cursor` and `Vec` ends), against
/// `std::io::copy` on an identically built pair: count, bytes, `Take` remainders, what is left
/// in the source and the sink's position.
pub fn wrappers(data: &[u8]) {
    let mut u = Input::new(data);
    let mut content = u.content();
    content.truncate(1 << 20);
    let (copier, _) = u.copier(content.len());
    // End::Vec as a source: a Cursor over the bytes.
    let src_end = [End::File, End::Pipe, End::Sock, End::Vec][u.below(4)];
    let src_pos = if matches!(src_end, End::File | End::Vec) {
        u64::from(u.u16()) % (content.len() as u64 + 16)
    } else {
        0
    };
    let mut src_layers = Vec::new();
    let mut bufs = 0;
    for _ in 0..u.below(6) {
        src_layers.push(match u.u8() % 4 {
            0 => SrcLayer::Boxed,
            1 if bufs < 2 => {
                bufs += 1;
                SrcLayer::Buf(1 + usize::from(u.u16()) % (12 << 10), usize::from(u.u16()))
            }
            _ => SrcLayer::Take(u.edgy(content.len() as u64)),
        });
    }
    let dst_end = [End::File, End::Pipe, End::Sock, End::Vec][u.below(4)];
    let dst_pos = if dst_end == End::File {
        u64::from(u.u8())
    } else {
        0
    };
    let unflushed = pattern(256, 0xb0f);
    let mut dst_layers = Vec::new();
    for _ in 0..u.below(4) {
        dst_layers.push(match u.u8() % 4 {
            0 => DstLayer::Boxed,
            1 => DstLayer::Line(1 + usize::from(u.u16()) % 4096),
            _ => DstLayer::Buf(1 + usize::from(u.u16()) % 4096, usize::from(u.u8())),
        });
    }
    let op = match u.u8() % 4 {
        0 => Op::CopyN(u.edgy(content.len() as u64)),
        1 => Op::CopyBuffer(match usize::from(u.u16()) % 9000 {
            0 => 0,
            n => n.max(content.len() / 1024),
        }),
        _ => Op::Copy,
    };
    let what = format!(
        "wrappers: {op:?} of {} bytes from {src_end:?} at {src_pos} in {src_layers:?} to \
         {dst_end:?} at {dst_pos} in {dst_layers:?}, {copier:?}",
        content.len()
    );
    trace(&what);

    // The oracle: std::io::copy, or nothing at all where io_copy must refuse.
    let refused = matches!(op, Op::CopyBuffer(0));
    let (mut src, feed) = build_src(src_end, &content, src_pos, &src_layers);
    let (mut dst, drain) = build_dst(dst_end, dst_pos, &dst_layers, &unflushed);
    let result = if refused {
        Err((io::ErrorKind::InvalidInput, 0))
    } else {
        let res = match op {
            Op::CopyN(n) => io::copy(&mut (&mut src).take(n), &mut dst),
            _ => io::copy(&mut src, &mut dst),
        };
        let n = res.unwrap_or_else(|e| panic!("{what}: the oracle failed: {e}"));
        match op {
            Op::CopyN(want) if n < want => Err((io::ErrorKind::UnexpectedEof, n)),
            _ => Ok(n),
        }
    };
    let oracle = after(result, src, feed, dst, drain);

    let (mut src, feed) = build_src(src_end, &content, src_pos, &src_layers);
    let (mut dst, drain) = build_dst(dst_end, dst_pos, &dst_layers, &unflushed);
    let res = run_op(&copier, op, &mut src, &mut dst);
    let (count, kind, report) = outcome(&res);
    check_report(report, &what);
    assert_eq!(
        report.stranded(),
        0,
        "{what}: nothing failed, so nothing is stranded"
    );
    let result = match kind {
        None => Ok(count),
        Some(k) => Err((k, count)),
    };
    let got = after(result, src, feed, dst, drain);
    if got != oracle {
        assert_eq!(got.result, oracle.result, "{what}: count or error");
        assert_eq!(got.limits, oracle.limits, "{what}: Take remainders");
        assert_eq!(
            (got.rest_len, got.rest_hash),
            (oracle.rest_len, oracle.rest_hash),
            "{what}: what is left in the source"
        );
        assert_eq!(got.sink_pos, oracle.sink_pos, "{what}: sink position");
        assert_eq!(got.sink.len(), oracle.sink.len(), "{what}: sink length");
        panic!("{what}: the bytes at the sink differ from the oracle's");
    }
}
