//! The source/sink pairs the tour and the benches time, defined once for both
//! (`benches/copy.rs` includes this file), and the far ends that feed and drain them.
//!
//! # Far ends
//!
//! A socket or pipe end of a pair is fed or drained by a far end: a separate process by
//! default ([`Far::Process`]), the same program for every contender, as in `tool | consumer`.
//! That program is the running executable itself, started again with [`FAR_END_ENV`] set; its
//! `main` hands over to [`far_end_main_if_asked`] first thing. The Go peer starts the same
//! program for its pairs. [`Far::Thread`] runs the same loop on a thread of the measuring
//! process instead, for the in-process table.
//!
//! A far end has its data descriptor and a control socket (a Unix socketpair): a drainer reads
//! data on descriptor 0 and talks on descriptor 1, a feeder writes data on descriptor 1 and
//! talks on descriptor 0. Commands, one per line:
//!
//! - `feed <bytes>` (feeder): writes that many bytes of [`pattern`], from its start again after
//!   each [`PATTERN_LEN`] bytes; no reply.
//! - `expect <bytes> <verify>` (drainer): reads exactly that many bytes, or to the end of the
//!   stream, and replies `<bytes read> <checksum>` (the checksum of all of them when `verify` is
//!   1, else 0).
//! - `connect <bytes> <count>` (client, whose descriptor 1 is a listening socket it only reads
//!   the address of): that many times, one after the other, connects to that address, writes
//!   that many bytes of [`pattern`], shuts its write half down and reads to the end of the
//!   stream; replies `<bytes read back>` after the last.
//! - `accept <bytes> <count> <verify>` (server, whose descriptor 0 is a listening socket): that
//!   many times, accepts a connection and reads it to its end, then closes it; replies
//!   `<bytes read> <checksum>` over all of them (the checksum only with `verify` 1 and one
//!   connection, else 0). A client and a server are the ends of a relay that takes one
//!   connection per copy, as a proxy does.
//!
//! A far end exits at the end of its control socket. It clears `O_NONBLOCK` on its data
//! descriptor first: Go's sockets and pipes are non-blocking, and the far end reads and writes
//! like `cat`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use io_copy::{Copier, ReaderFrom, Report, WriterTo};

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;

/// The pattern's length: a feeder repeats it, a source file is a prefix of it.
pub const PATTERN_LEN: usize = 64 * MIB as usize;

// -------------------------------------------------------------------------------------------
// Bytes

/// Pseudo-random bytes (xorshift64, little-endian words), so that a byte out of place changes
/// the checksum; the Go peer makes the same.
pub fn pattern() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut v = Vec::with_capacity(PATTERN_LEN + 8);
        while v.len() < PATTERN_LEN {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.truncate(PATTERN_LEN);
        v
    })
}

/// A cheap order-sensitive checksum: 8 bytes per multiply.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = Checksum::new(bytes.len() as u64);
    h.add(bytes);
    h.finish()
}

/// [`checksum`] over bytes that arrive in pieces of any length.
struct Checksum {
    h: u64,
    word: [u8; 8],
    filled: usize,
}

impl Checksum {
    fn new(len: u64) -> Checksum {
        Checksum {
            h: 0xcbf2_9ce4_8422_2325u64 ^ len,
            word: [0; 8],
            filled: 0,
        }
    }

    fn add(&mut self, mut bytes: &[u8]) {
        while self.filled > 0 && !bytes.is_empty() {
            self.word[self.filled] = bytes[0];
            self.filled += 1;
            bytes = &bytes[1..];
            if self.filled == 8 {
                self.mix(u64::from_le_bytes(self.word));
                self.filled = 0;
            }
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        self.word[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    fn mix(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }

    fn finish(&self) -> u64 {
        let mut h = self.h;
        for &b in &self.word[..self.filled] {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h
    }
}

// -------------------------------------------------------------------------------------------
// Far ends

/// Set in a far end's environment to `feed` or `drain`.
pub const FAR_END_ENV: &str = "IO_COPY_FAR_END";

/// Where a pair's feeder and drainer run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Far {
    /// In a separate process: the running executable, started again as a far end.
    Process,
    /// On a thread of the measuring process.
    Thread,
}

impl Far {
    /// The Go peer's name for it.
    pub fn go_name(self) -> &'static str {
        match self {
            Far::Process => "proc",
            Far::Thread => "thread",
        }
    }
}

/// When this process was started as a far end, runs it and exits; otherwise returns at once.
pub fn far_end_main_if_asked() {
    let Ok(role) = std::env::var(FAR_END_ENV) else {
        return;
    };
    let fd = |which: BorrowedFd<'_>| which.try_clone_to_owned().map(File::from);
    let res = match role.as_str() {
        "feed" => fd(io::stdout().as_fd())
            .and_then(|data| Ok((data, fd(io::stdin().as_fd())?)))
            .and_then(|(data, control)| feeder_loop(data, control)),
        "drain" => fd(io::stdin().as_fd())
            .and_then(|data| Ok((data, fd(io::stdout().as_fd())?)))
            .and_then(|(data, control)| drainer_loop(data, control)),
        "client" => fd(io::stdout().as_fd())
            .and_then(|data| Ok((data, fd(io::stdin().as_fd())?)))
            .and_then(|(data, control)| client_loop(data.into(), control)),
        "server" => fd(io::stdin().as_fd())
            .and_then(|data| Ok((data, fd(io::stdout().as_fd())?)))
            .and_then(|(data, control)| server_loop(data.into(), control)),
        other => Err(io::Error::other(format!(
            "{FAR_END_ENV}={other}: want feed, drain, client or server"
        ))),
    };
    match res {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("far end ({role}): {e}");
            std::process::exit(1);
        }
    }
}

fn blocking(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Writes `n` bytes of [`pattern`] into `w`.
fn write_pattern(w: &mut impl Write, mut left: u64) -> io::Result<()> {
    while left > 0 {
        let chunk = &pattern()[..left.min(PATTERN_LEN as u64) as usize];
        w.write_all(chunk)?;
        left -= chunk.len() as u64;
    }
    Ok(())
}

fn feeder_loop(mut data: File, control: File) -> io::Result<()> {
    blocking(&data)?;
    for line in BufReader::new(control).lines() {
        let line = line?;
        let n: u64 = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["feed", n] => n.parse().map_err(io::Error::other)?,
            _ => return Err(io::Error::other(format!("unknown command {line:?}"))),
        };
        write_pattern(&mut data, n)?;
    }
    Ok(())
}

fn drainer_loop(mut data: File, control: File) -> io::Result<()> {
    blocking(&data)?;
    let mut replies = control.try_clone()?;
    let mut buf = vec![0u8; 256 * 1024];
    for line in BufReader::new(control).lines() {
        let line = line?;
        let (total, verify): (u64, bool) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["expect", n, v] => (n.parse().map_err(io::Error::other)?, v == "1"),
            _ => return Err(io::Error::other(format!("unknown command {line:?}"))),
        };
        let mut sum = Checksum::new(total);
        let mut got = 0u64;
        while got < total {
            let want = (total - got).min(buf.len() as u64) as usize;
            match data.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(k) => {
                    got += k as u64;
                    if verify {
                        sum.add(&buf[..k]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let sum = if verify && got == total {
            sum.finish()
        } else {
            0
        };
        writeln!(replies, "{got} {sum}")?;
    }
    Ok(())
}

/// The address a listening socket, TCP or Unix, was bound to.
enum Address {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

fn listening_address(listener: &OwnedFd) -> io::Result<Address> {
    let addr = socket2::SockRef::from(listener).local_addr()?;
    if let Some(a) = addr.as_socket() {
        return Ok(Address::Tcp(a));
    }
    match addr.as_pathname() {
        Some(path) => Ok(Address::Unix(path.to_path_buf())),
        None => Err(io::Error::other(
            "the client's socket has no TCP or Unix path address",
        )),
    }
}

/// Writes `n` bytes of [`pattern`], shuts the write half down and reads to the end: bytes read.
fn client_exchange<S: Read + Write>(
    mut s: S,
    shutdown: impl FnOnce(&S) -> io::Result<()>,
    n: u64,
    buf: &mut [u8],
) -> io::Result<u64> {
    write_pattern(&mut s, n)?;
    shutdown(&s)?;
    read_to_end_counted(s, buf, None)
}

fn client_loop(listener: OwnedFd, control: File) -> io::Result<()> {
    let address = listening_address(&listener)?;
    drop(listener);
    let mut replies = control.try_clone()?;
    let mut buf = vec![0u8; 64 * 1024];
    for line in BufReader::new(control).lines() {
        let line = line?;
        let (n, count): (u64, u64) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["connect", n, k] => (
                n.parse().map_err(io::Error::other)?,
                k.parse().map_err(io::Error::other)?,
            ),
            _ => return Err(io::Error::other(format!("unknown command {line:?}"))),
        };
        let mut back = 0;
        for _ in 0..count {
            back += match &address {
                Address::Tcp(a) => {
                    let s = TcpStream::connect(a)?;
                    s.set_nodelay(true)?;
                    client_exchange(s, |s| s.shutdown(std::net::Shutdown::Write), n, &mut buf)?
                }
                Address::Unix(p) => client_exchange(
                    UnixStream::connect(p)?,
                    |s| s.shutdown(std::net::Shutdown::Write),
                    n,
                    &mut buf,
                )?,
            };
        }
        writeln!(replies, "{back}")?;
    }
    Ok(())
}

/// Reads `s` to its end into `sum` (when given): bytes read.
fn read_to_end_counted(
    mut s: impl Read,
    buf: &mut [u8],
    mut sum: Option<&mut Checksum>,
) -> io::Result<u64> {
    let mut got = 0u64;
    loop {
        match s.read(buf) {
            Ok(0) => return Ok(got),
            Ok(k) => {
                got += k as u64;
                if let Some(sum) = sum.as_deref_mut() {
                    sum.add(&buf[..k]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn server_loop(listener: OwnedFd, control: File) -> io::Result<()> {
    blocking(&listener)?;
    let unix = matches!(listening_address(&listener)?, Address::Unix(_));
    let tcp = (!unix)
        .then(|| listener.try_clone().map(TcpListener::from))
        .transpose()?;
    let local = unix.then(|| std::os::unix::net::UnixListener::from(listener));
    let mut replies = control.try_clone()?;
    let mut buf = vec![0u8; 256 * 1024];
    for line in BufReader::new(control).lines() {
        let line = line?;
        let (n, count, verify): (u64, u64, bool) =
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["accept", n, k, v] => (
                    n.parse().map_err(io::Error::other)?,
                    k.parse().map_err(io::Error::other)?,
                    v == "1",
                ),
                _ => return Err(io::Error::other(format!("unknown command {line:?}"))),
            };
        let verify = verify && count == 1;
        let mut sum = Checksum::new(n);
        let mut got = 0u64;
        for _ in 0..count {
            let s = verify.then_some(&mut sum);
            got += match (&tcp, &local) {
                (Some(l), _) => read_to_end_counted(l.accept()?.0, &mut buf, s)?,
                (_, Some(l)) => read_to_end_counted(l.accept()?.0, &mut buf, s)?,
                _ => unreachable!("a listener of one kind"),
            };
        }
        let sum = if verify && got == n { sum.finish() } else { 0 };
        writeln!(replies, "{got} {sum}")?;
    }
    Ok(())
}

/// A running far end: its control socket, and the process or thread behind it.
pub struct FarEnd {
    control: BufReader<UnixStream>,
    child: Option<Child>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

/// What a far end does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Feed,
    Drain,
    Client,
    Server,
}

impl FarEnd {
    /// A feeder writing into `data`.
    pub fn feeder(data: impl Into<OwnedFd>, far: Far) -> io::Result<FarEnd> {
        FarEnd::start(Role::Feed, data.into(), far)
    }

    /// A drainer reading `data`.
    pub fn drainer(data: impl Into<OwnedFd>, far: Far) -> io::Result<FarEnd> {
        FarEnd::start(Role::Drain, data.into(), far)
    }

    /// A client connecting to the address `listener` is bound to, once per copy.
    pub fn client(listener: impl Into<OwnedFd>, far: Far) -> io::Result<FarEnd> {
        FarEnd::start(Role::Client, listener.into(), far)
    }

    /// A server accepting connections on `listener`.
    pub fn server(listener: impl Into<OwnedFd>, far: Far) -> io::Result<FarEnd> {
        FarEnd::start(Role::Server, listener.into(), far)
    }

    fn start(role: Role, data: OwnedFd, far: Far) -> io::Result<FarEnd> {
        let (near, there) = UnixStream::pair()?;
        match far {
            Far::Process => {
                let mut cmd = far_end_command(role);
                let (data, there) = (Stdio::from(data), Stdio::from(OwnedFd::from(there)));
                match role {
                    Role::Feed | Role::Client => cmd.stdout(data).stdin(there),
                    Role::Drain | Role::Server => cmd.stdin(data).stdout(there),
                };
                let child = cmd.spawn()?;
                Ok(FarEnd::new(near, Some(child), None))
            }
            Far::Thread => {
                let there = File::from(OwnedFd::from(there));
                let thread = thread::spawn(move || match role {
                    Role::Feed => feeder_loop(data.into(), there),
                    Role::Drain => drainer_loop(data.into(), there),
                    Role::Client => client_loop(data, there),
                    Role::Server => server_loop(data, there),
                });
                Ok(FarEnd::new(near, None, Some(thread)))
            }
        }
    }

    /// A child process that is itself the far end, fed through its stdin: the stdin is the
    /// pair's sink.
    pub fn draining_child() -> io::Result<(FarEnd, ChildStdin)> {
        let (near, there) = UnixStream::pair()?;
        let mut child = far_end_command(Role::Drain)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(OwnedFd::from(there)))
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        Ok((FarEnd::new(near, Some(child), None), stdin))
    }

    /// A child process that is itself the far end, feeding its stdout: the stdout is the pair's
    /// source.
    pub fn feeding_child() -> io::Result<(FarEnd, ChildStdout)> {
        let (near, there) = UnixStream::pair()?;
        let mut child = far_end_command(Role::Feed)
            .stdin(Stdio::from(OwnedFd::from(there)))
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        Ok((FarEnd::new(near, Some(child), None), stdout))
    }

    fn new(
        control: UnixStream,
        child: Option<Child>,
        thread: Option<thread::JoinHandle<io::Result<()>>>,
    ) -> FarEnd {
        FarEnd {
            control: BufReader::new(control),
            child,
            thread,
        }
    }

    fn send(&mut self, command: &str) -> io::Result<()> {
        writeln!(self.control.get_mut(), "{command}")
            .map_err(|e| io::Error::new(e.kind(), format!("the far end is gone: {e}")))
    }

    /// Feeder: writes `total` bytes.
    pub fn feed(&mut self, total: u64) -> io::Result<()> {
        self.send(&format!("feed {total}"))
    }

    /// Drainer: reads `total` bytes, checksummed with `verify`.
    pub fn expect(&mut self, total: u64, verify: bool) -> io::Result<()> {
        self.send(&format!("expect {total} {}", u8::from(verify)))
    }

    /// Client: `count` connections, each writing `n` bytes.
    pub fn connect(&mut self, n: u64, count: u64) -> io::Result<()> {
        self.send(&format!("connect {n} {count}"))
    }

    /// Server: accepts `count` connections, each read to its end, expected to hold `n` bytes.
    pub fn accept(&mut self, n: u64, count: u64, verify: bool) -> io::Result<()> {
        self.send(&format!("accept {n} {count} {}", u8::from(verify)))
    }

    /// Client: waits for the answer to [`FarEnd::connect`]: the bytes read back.
    pub fn wait_client(&mut self) -> io::Result<u64> {
        let mut line = String::new();
        self.control.read_line(&mut line)?;
        line.trim()
            .parse()
            .map_err(|_| io::Error::other(format!("the client answered {line:?}")))
    }

    /// Drainer or server: waits for the answer to [`FarEnd::expect`] or [`FarEnd::accept`]:
    /// bytes read and their checksum.
    pub fn wait(&mut self) -> io::Result<(u64, u64)> {
        let mut line = String::new();
        self.control.read_line(&mut line)?;
        let mut f = line.split_whitespace().map(str::parse::<u64>);
        match (f.next(), f.next()) {
            (Some(Ok(got)), Some(Ok(sum))) => Ok((got, sum)),
            _ => Err(io::Error::other(format!("the far end answered {line:?}"))),
        }
    }
}

impl Drop for FarEnd {
    fn drop(&mut self) {
        // The end of the control socket ends an idle far end; one still busy with data is
        // killed (a process) or ends when the pair's streams close (a thread).
        let _ = self.control.get_ref().shutdown(std::net::Shutdown::Both);
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_millis(200);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(2));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(self.thread.take());
    }
}

/// The far-end program: this executable again, in the role given.
fn far_end_command(role: Role) -> Command {
    let mut cmd = Command::new(far_end_program());
    cmd.env(
        FAR_END_ENV,
        match role {
            Role::Feed => "feed",
            Role::Drain => "drain",
            Role::Client => "client",
            Role::Server => "server",
        },
    )
    .stderr(Stdio::inherit());
    cmd
}

/// The path of the far-end program, for the Go peer too.
pub fn far_end_program() -> PathBuf {
    std::env::current_exe().expect("the path of this executable")
}

// -------------------------------------------------------------------------------------------
// Contenders

/// One way of copying.
#[derive(Clone, Copy, Debug)]
pub enum How {
    /// `io_copy::copy`.
    IoCopy,
    /// `Copier::copy` with this policy, which returns a report; the name says what it is.
    Policy(&'static str, Copier),
    /// `std::io::copy`.
    Std,
    /// `Read::read` / `Write::write_all` with a 64 KiB buffer.
    Loop64K,
    /// A hand-written way from a file source into a descriptor sink.
    Seed(Seed),
}

/// The ways to move a file into a pipe or a socket by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seed {
    /// `read`/`write` with a 64 KiB buffer.
    ReadWrite,
    /// `mmap` the file, `write` the mapping.
    MmapWrite,
    /// `sendfile` until it returns 0.
    Sendfile,
    /// `splice` into the pipe, or through a pipe of io_copy's relay size into anything else.
    Splice,
}

/// The default policy, with its report: what the tour's `io_copy` column runs.
pub const IO_COPY: How = How::Policy("io_copy", Copier::new());

impl How {
    pub fn label(self) -> &'static str {
        match self {
            How::IoCopy => "io_copy::copy",
            How::Policy(name, _) => name,
            How::Std => "std::io::copy",
            How::Loop64K => "read/write 64 KiB",
            How::Seed(Seed::ReadWrite) => "read/write 64 KiB",
            How::Seed(Seed::MmapWrite) => "mmap + write",
            How::Seed(Seed::Sendfile) => "sendfile",
            How::Seed(Seed::Splice) => "splice",
        }
    }
}

thread_local! {
    static LOOP_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
    /// The pipe a splice from a file into a non-pipe goes through, kept like io_copy's pool.
    static RELAY_PIPE: RefCell<Option<(OwnedFd, OwnedFd)>> = const { RefCell::new(None) };
}

/// Runs a contender that works on `Read`/`Write` values: the time of the copy call alone (the
/// clock is read as soon as it returns, before its result is moved anywhere), the bytes moved,
/// and the report of a [`How::Policy`].
fn run_api<R, W>(how: How, r: &mut R, w: &mut W) -> io::Result<(Duration, u64, Option<Report>)>
where
    R: WriterTo + Read,
    W: ReaderFrom + Write,
{
    let t0 = Instant::now();
    match how {
        How::IoCopy => {
            let n = io_copy::copy(r, w);
            let elapsed = t0.elapsed();
            Ok((elapsed, n?, None))
        }
        How::Policy(_, copier) => {
            let res = copier.copy(r, w);
            let elapsed = t0.elapsed();
            let report = res?;
            Ok((elapsed, report.written(), Some(report)))
        }
        How::Std => {
            let n = io::copy(r, w);
            let elapsed = t0.elapsed();
            Ok((elapsed, n?, None))
        }
        How::Loop64K => {
            let n = loop_64k(r, w);
            let elapsed = t0.elapsed();
            Ok((elapsed, n?, None))
        }
        How::Seed(_) => unreachable!("{how:?} runs on descriptors"),
    }
}

/// The plain loop every program starts with.
fn loop_64k<R: Read, W: Write>(r: &mut R, w: &mut W) -> io::Result<u64> {
    LOOP_BUF.with(|b| {
        let buf = &mut b.borrow_mut()[..];
        let mut total = 0;
        loop {
            let n = match r.read(buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            w.write_all(&buf[..n])?;
            total += n as u64;
        }
    })
}

/// Runs a seed from the descriptor `src` (a file, read to its end) to `dst`: the bytes moved
/// and the syscalls made.
fn run_seed(seed: Seed, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let (mut moved, mut calls) = (0u64, 0u64);
    match seed {
        Seed::ReadWrite => LOOP_BUF.with(|b| -> io::Result<()> {
            let buf = &mut b.borrow_mut()[..];
            loop {
                calls += 1;
                let n = rustix::io::read(src, &mut *buf)?;
                if n == 0 {
                    return Ok(());
                }
                calls += write_all(dst, &buf[..n])?;
                moved += n as u64;
            }
        })?,
        Seed::MmapWrite => {
            // SAFETY: the source file is the tour's own and nothing writes it while mapped.
            let map = unsafe { memmap2::Mmap::map(&src)? };
            calls += 3; // fstat for the length, mmap, munmap
            calls += write_all(dst, &map)?;
            moved = map.len() as u64;
        }
        Seed::Sendfile => loop {
            calls += 1;
            match rustix::fs::sendfile(dst, src, None, io_copy::MAX_CHUNK)? {
                0 => break,
                n => moved += n as u64,
            }
        },
        Seed::Splice => {
            let to_pipe = rustix::fs::fstat(dst)
                .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_fifo())?;
            if to_pipe {
                loop {
                    calls += 1;
                    match splice(src, dst, io_copy::MAX_CHUNK)? {
                        0 => break,
                        n => moved += n as u64,
                    }
                }
            } else {
                RELAY_PIPE.with(|p| -> io::Result<()> {
                    let mut p = p.borrow_mut();
                    if p.is_none() {
                        let (r, w) = rustix::pipe::pipe()?;
                        // As large as io_copy's relay pipe; a refusal keeps 64 KiB.
                        let _ = rustix::pipe::fcntl_setpipe_size(&w, io_copy::DEFAULT_PIPE_SIZE);
                        *p = Some((r, w));
                    }
                    let (pr, pw) = p.as_ref().expect("just set");
                    loop {
                        calls += 1;
                        let n = splice(src, pw.as_fd(), io_copy::MAX_CHUNK)?;
                        if n == 0 {
                            return Ok(());
                        }
                        let mut left = n;
                        while left > 0 {
                            calls += 1;
                            left -= splice(pr.as_fd(), dst, left)?;
                        }
                        moved += n as u64;
                    }
                })?;
            }
        }
    }
    Ok((moved, calls))
}

fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    let flags = rustix::pipe::SpliceFlags::empty();
    Ok(rustix::pipe::splice(from, None, to, None, len, flags)?)
}

/// `write(2)` until all of `buf` is written; returns the calls made.
fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<u64> {
    let mut calls = 0;
    while !buf.is_empty() {
        calls += 1;
        let n = rustix::io::write(fd, buf)?;
        buf = &buf[n..];
    }
    Ok(calls)
}

// -------------------------------------------------------------------------------------------
// Sources and sinks
//
// A sample is a batch of copies of `n` bytes each. The far ends stream the whole batch, so a
// copy into a socket or pipe is throttled by its reader as in real use, and the copying thread
// never waits for the far end between two copies of a batch.

/// The source end of a pair.
pub trait Source {
    type Reader<'a>: WriterTo + Read
    where
        Self: 'a;
    /// Untimed, once per batch: makes `total` bytes available.
    fn begin(&mut self, total: u64) -> io::Result<()>;
    /// Untimed, before each copy.
    fn rewind(&mut self) -> io::Result<()>;
    /// The value one copy of `n` bytes reads.
    fn reader(&mut self, n: u64) -> Self::Reader<'_>;
    /// The descriptor of a file source, for the seeds.
    fn file_fd(&self) -> Option<BorrowedFd<'_>>;
}

/// The sink end of a pair.
pub trait Sink {
    type Writer<'a>: ReaderFrom + Write
    where
        Self: 'a;
    /// Untimed, once per batch: readies the far end for `total` bytes.
    fn begin(&mut self, total: u64, verify: bool) -> io::Result<()>;
    /// Untimed, before each copy.
    fn rewind(&mut self) -> io::Result<()>;
    /// The value a copy writes.
    fn writer(&mut self) -> Self::Writer<'_>;
    /// Untimed, once per batch: waits until the far end has every byte; with `verify`, returns
    /// the length and checksum of what it got, or `None` where nothing can be read back
    /// (/dev/null).
    fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>>;
    fn fd(&self) -> Option<BorrowedFd<'_>>;
}

/// A regular file, read from its start to its end by each copy.
pub struct FileSource(File);

impl Source for FileSource {
    type Reader<'a> = &'a mut File;
    fn begin(&mut self, _: u64) -> io::Result<()> {
        Ok(())
    }
    fn rewind(&mut self) -> io::Result<()> {
        self.0.rewind()
    }
    fn reader(&mut self, _: u64) -> &mut File {
        &mut self.0
    }
    fn file_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0.as_fd())
    }
}

/// A stream a feeder writes into; each copy takes `n` bytes of it with [`Read::take`], as a
/// relay of a framed stream does, so the stream stays open between copies.
pub struct Fed<T> {
    stream: T,
    feeder: FarEnd,
}

impl<T: WriterTo + Read> Source for Fed<T> {
    type Reader<'a>
        = io::Take<&'a mut T>
    where
        T: 'a;
    fn begin(&mut self, total: u64) -> io::Result<()> {
        self.feeder.feed(total)
    }
    fn rewind(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn reader(&mut self, n: u64) -> io::Take<&mut T> {
        (&mut self.stream).take(n)
    }
    fn file_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// Bytes in memory.
pub struct Memory;

impl Source for Memory {
    type Reader<'a> = &'a [u8];
    fn begin(&mut self, _: u64) -> io::Result<()> {
        Ok(())
    }
    fn rewind(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn reader(&mut self, n: u64) -> &'static [u8] {
        &pattern()[..n as usize]
    }
    fn file_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A file written from its start by each copy: truncated first (`fresh`), or overwritten; or
/// /dev/null.
pub struct FileSink {
    path: PathBuf,
    file: File,
    fresh: bool,
    regular: bool,
}

impl FileSink {
    fn create(path: PathBuf, fresh: bool) -> io::Result<FileSink> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(FileSink {
            path,
            file,
            fresh,
            regular: true,
        })
    }

    fn dev_null() -> io::Result<FileSink> {
        let file = File::options().write(true).open("/dev/null")?;
        Ok(FileSink {
            path: "/dev/null".into(),
            file,
            fresh: false,
            regular: false,
        })
    }
}

impl Sink for FileSink {
    type Writer<'a> = &'a mut File;
    fn begin(&mut self, _: u64, _: bool) -> io::Result<()> {
        Ok(())
    }
    fn rewind(&mut self) -> io::Result<()> {
        if self.regular && self.fresh {
            self.file.set_len(0)?;
        }
        self.file.rewind()
    }
    fn writer(&mut self) -> &mut File {
        &mut self.file
    }
    fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>> {
        if !(verify && self.regular) {
            return Ok(None);
        }
        // An overwritten sink keeps its old length: the copy is the prefix it wrote.
        let len = self.file.stream_position()?;
        let bytes = fs::read(&self.path)?;
        Ok(Some((len, checksum(&bytes[..len as usize]))))
    }
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.file.as_fd())
    }
}

/// A stream a drainer reads.
pub struct Drained<T> {
    stream: T,
    drainer: FarEnd,
    /// A pipe sink's capacity when the pair was made, set again before each batch: io_copy
    /// grows the pipe it writes (`Copier::grow_buffers`), and every contender's batch starts
    /// from the pipe a shell would have made.
    pipe_capacity: Option<usize>,
}

impl<T: AsFd> Drained<T> {
    fn new(stream: T, drainer: FarEnd) -> Drained<T> {
        let pipe_capacity = rustix::pipe::fcntl_getpipe_size(&stream).ok();
        Drained {
            stream,
            drainer,
            pipe_capacity,
        }
    }
}

impl<T: ReaderFrom + Write + AsFd> Sink for Drained<T> {
    type Writer<'a>
        = &'a mut T
    where
        T: 'a;
    fn begin(&mut self, total: u64, verify: bool) -> io::Result<()> {
        if let Some(size) = self.pipe_capacity {
            // The pipe is empty between batches: the drainer has read every byte.
            rustix::pipe::fcntl_setpipe_size(&self.stream, size)?;
        }
        self.drainer.expect(total, verify)
    }
    fn rewind(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn writer(&mut self) -> &mut T {
        &mut self.stream
    }
    fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>> {
        let got = self.drainer.wait()?;
        Ok(verify.then_some(got))
    }
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.stream.as_fd())
    }
}

/// A `Vec<u8>`, cleared before each copy.
pub struct VecSink(Vec<u8>);

impl Sink for VecSink {
    type Writer<'a> = &'a mut Vec<u8>;
    fn begin(&mut self, _: u64, _: bool) -> io::Result<()> {
        Ok(())
    }
    fn rewind(&mut self) -> io::Result<()> {
        self.0.clear();
        Ok(())
    }
    fn writer(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
    fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>> {
        Ok(verify.then(|| (self.0.len() as u64, checksum(&self.0))))
    }
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

// -------------------------------------------------------------------------------------------
// Pairs

/// What one copy of a batch did.
pub struct Copied {
    /// The copy call alone.
    pub elapsed: Duration,
    /// Data-moving syscalls, where the contender counts them (its report, or a seed's count).
    pub calls: Option<u64>,
    pub report: Option<Report>,
}

/// A source/sink pair at one size, ready to copy again and again.
pub trait Bench {
    /// Makes `copies` copies with `how`, passing each to `each`; returns the time spent in the
    /// copy calls alone. With `verify` (and one copy), checks what the far end got.
    fn batch(
        &mut self,
        how: How,
        copies: u64,
        verify: bool,
        each: &mut dyn FnMut(&Copied),
    ) -> io::Result<Duration>;
    /// Whether the seeds can run (a file source and a descriptor sink).
    fn seedable(&self) -> bool;
}

struct Pair<S, K> {
    src: S,
    dst: K,
    n: u64,
}

impl<S: Source, K: Sink> Pair<S, K> {
    fn once(&mut self, how: How) -> io::Result<(u64, Copied)> {
        self.src.rewind()?;
        self.dst.rewind()?;
        if let How::Seed(seed) = how {
            let (src, dst) = self.src.file_fd().zip(self.dst.fd()).ok_or_else(|| {
                io::Error::other("a seed needs a file source and a descriptor sink")
            })?;
            let t0 = Instant::now();
            let (written, calls) = run_seed(seed, src, dst)?;
            let elapsed = t0.elapsed();
            let copied = Copied {
                elapsed,
                calls: Some(calls),
                report: None,
            };
            return Ok((written, copied));
        }
        let mut r = self.src.reader(self.n);
        let mut w = self.dst.writer();
        let (elapsed, written, report) = run_api(how, &mut r, &mut w)?;
        let calls = report
            .as_ref()
            .map(|r| r.paths().map(|(_, s)| s.calls).sum());
        Ok((
            written,
            Copied {
                elapsed,
                calls,
                report,
            },
        ))
    }
}

impl<S: Source, K: Sink> Bench for Pair<S, K> {
    fn batch(
        &mut self,
        how: How,
        copies: u64,
        verify: bool,
        each: &mut dyn FnMut(&Copied),
    ) -> io::Result<Duration> {
        assert!(!verify || copies == 1, "only a single copy is verified");
        self.src.begin(self.n * copies)?;
        self.dst.begin(self.n * copies, verify)?;
        let mut elapsed = Duration::ZERO;
        for _ in 0..copies {
            let (written, copied) = self.once(how)?;
            if written != self.n {
                let msg = format!("{}: copied {written} of {} bytes", how.label(), self.n);
                return Err(io::Error::other(msg));
            }
            elapsed += copied.elapsed;
            each(&copied);
        }
        if let Some((len, sum)) = self.dst.end(verify)? {
            let want = checksum(&pattern()[..self.n as usize]);
            if (len, sum) != (self.n, want) {
                return Err(io::Error::other(format!(
                    "{}: the far end got {len} bytes with checksum {sum:#x}, expected {} with {want:#x}",
                    how.label(),
                    self.n,
                )));
            }
        }
        Ok(elapsed)
    }

    fn seedable(&self) -> bool {
        self.src.file_fd().is_some() && self.dst.fd().is_some()
    }
}

/// Where a pair's files live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Tmpfs,
    Disk,
    /// No file at all, or only /dev/null.
    Nowhere,
}

/// The scratch directories: one on tmpfs (/dev/shm), one on the disk under the target
/// directory. Removed when dropped.
pub struct Dirs {
    pub tmpfs: Result<tempfile::TempDir, String>,
    pub disk: tempfile::TempDir,
}

impl Dirs {
    pub fn new(prefix: &str) -> Dirs {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let disk_base = if fs::create_dir_all(&target).is_ok() {
            target
        } else {
            std::env::temp_dir()
        };
        let scratch = |dir: &FsPath| tempfile::Builder::new().prefix(prefix).tempdir_in(dir);
        Dirs {
            tmpfs: scratch(FsPath::new("/dev/shm")).map_err(|e| format!("no /dev/shm: {e}")),
            disk: scratch(&disk_base).expect("a scratch directory under the target directory"),
        }
    }

    pub fn dir(&self, place: Place) -> io::Result<&FsPath> {
        match place {
            Place::Tmpfs => match &self.tmpfs {
                Ok(d) => Ok(d.path()),
                Err(why) => Err(io::Error::other(why.clone())),
            },
            Place::Disk => Ok(self.disk.path()),
            Place::Nowhere => Err(io::Error::other("this pair has no files")),
        }
    }

    /// The source file of `n` bytes in `place`, written once.
    fn source(&self, place: Place, n: u64) -> io::Result<FileSource> {
        let path = self.dir(place)?.join(format!("src-{n}"));
        if fs::metadata(&path).map(|m| m.len()).ok() != Some(n) {
            fs::write(&path, &pattern()[..n as usize])?;
        }
        Ok(FileSource(File::open(path)?))
    }

    fn sink(&self, place: Place, fresh: bool) -> io::Result<FileSink> {
        FileSink::create(self.dir(place)?.join("dst"), fresh)
    }
}

/// A connected loopback TCP pair: (client, server).
pub fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    // Small copies must not wait for delayed ACKs between the copy and the drainer.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

/// The pairs, by what the copy reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    FileFile,
    FileTcp,
    TcpTcp,
    TcpFile,
    TcpPipe,
    TcpUnix,
    FilePipe,
    PipeFile,
    FileUnix,
    UnixUnix,
    FileNull,
    FileChild,
    ChildFile,
    MemVec,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::FileFile => "file→file",
            Kind::FileTcp => "file→TCP",
            Kind::TcpTcp => "TCP→TCP relay",
            Kind::TcpFile => "TCP→file",
            Kind::TcpPipe => "TCP→pipe",
            Kind::TcpUnix => "TCP→Unix",
            Kind::FilePipe => "file→pipe",
            Kind::PipeFile => "pipe→file",
            Kind::FileUnix => "file→Unix",
            Kind::UnixUnix => "Unix→Unix relay",
            Kind::FileNull => "file→/dev/null",
            Kind::FileChild => "file→ChildStdin",
            Kind::ChildFile => "ChildStdout→file",
            Kind::MemVec => "&[u8]→Vec<u8>",
        }
    }

    /// The Go peer's name for the pair.
    pub fn go_name(self) -> &'static str {
        match self {
            Kind::FileFile => "file-file",
            Kind::FileTcp => "file-tcp",
            Kind::TcpTcp => "tcp-tcp",
            Kind::TcpFile => "tcp-file",
            Kind::TcpPipe => "tcp-pipe",
            Kind::TcpUnix => "tcp-unix",
            Kind::FilePipe => "file-pipe",
            Kind::PipeFile => "pipe-file",
            Kind::FileUnix => "file-unix",
            Kind::UnixUnix => "unix-unix",
            Kind::FileNull => "file-null",
            Kind::FileChild => "file-child",
            Kind::ChildFile => "child-file",
            Kind::MemVec => "mem-buf",
        }
    }

    /// Whether the far end can read back what arrived (not /dev/null).
    pub fn checkable(self) -> bool {
        self != Kind::FileNull
    }

    /// Whether the pair has a far end at all.
    pub fn has_far_end(self) -> bool {
        !matches!(self, Kind::FileFile | Kind::FileNull | Kind::MemVec)
    }

    /// Builds the pair at `n` bytes: files in `place`, far ends as `far`; a file sink is
    /// truncated before each copy when `fresh`, else overwritten.
    pub fn build(
        self,
        dirs: &Dirs,
        place: Place,
        n: u64,
        far: Far,
        fresh: bool,
    ) -> io::Result<Box<dyn Bench>> {
        fn boxed<S: Source + 'static, K: Sink + 'static>(n: u64, src: S, dst: K) -> Box<dyn Bench> {
            Box::new(Pair { src, dst, n })
        }
        let fed = |stream, feeder| Fed { stream, feeder };
        Ok(match self {
            Kind::FileFile => boxed(n, dirs.source(place, n)?, dirs.sink(place, fresh)?),
            Kind::FileNull => boxed(n, dirs.source(place, n)?, FileSink::dev_null()?),
            Kind::MemVec => boxed(n, Memory, VecSink(Vec::new())),
            Kind::FileTcp => {
                let (client, server) = tcp_pair()?;
                let dst = Drained::new(client, FarEnd::drainer(server, far)?);
                boxed(n, dirs.source(place, n)?, dst)
            }
            Kind::TcpTcp => {
                let (a_client, a_server) = tcp_pair()?;
                let (b_client, b_server) = tcp_pair()?;
                let src = fed(a_server, FarEnd::feeder(a_client, far)?);
                boxed(
                    n,
                    src,
                    Drained::new(b_client, FarEnd::drainer(b_server, far)?),
                )
            }
            Kind::TcpFile => {
                let (client, server) = tcp_pair()?;
                let src = fed(server, FarEnd::feeder(client, far)?);
                boxed(n, src, dirs.sink(place, fresh)?)
            }
            Kind::TcpPipe => {
                let (client, server) = tcp_pair()?;
                let (r, w) = io::pipe()?;
                let src = fed(server, FarEnd::feeder(client, far)?);
                boxed(n, src, Drained::new(w, FarEnd::drainer(r, far)?))
            }
            Kind::TcpUnix => {
                let (client, server) = tcp_pair()?;
                let (near, there) = UnixStream::pair()?;
                let src = fed(server, FarEnd::feeder(client, far)?);
                boxed(n, src, Drained::new(near, FarEnd::drainer(there, far)?))
            }
            Kind::FilePipe => {
                let (r, w) = io::pipe()?;
                let dst = Drained::new(w, FarEnd::drainer(r, far)?);
                boxed(n, dirs.source(place, n)?, dst)
            }
            Kind::PipeFile => {
                let (r, w) = io::pipe()?;
                let src = Fed {
                    stream: r,
                    feeder: FarEnd::feeder(w, far)?,
                };
                boxed(n, src, dirs.sink(place, fresh)?)
            }
            Kind::FileUnix => {
                let (near, there) = UnixStream::pair()?;
                let dst = Drained::new(near, FarEnd::drainer(there, far)?);
                boxed(n, dirs.source(place, n)?, dst)
            }
            Kind::UnixUnix => {
                let (a_there, a_near) = UnixStream::pair()?;
                let (b_near, b_there) = UnixStream::pair()?;
                let src = Fed {
                    stream: a_near,
                    feeder: FarEnd::feeder(a_there, far)?,
                };
                boxed(n, src, Drained::new(b_near, FarEnd::drainer(b_there, far)?))
            }
            Kind::FileChild => {
                check_process(far, self)?;
                let (drainer, stdin) = FarEnd::draining_child()?;
                boxed(n, dirs.source(place, n)?, Drained::new(stdin, drainer))
            }
            Kind::ChildFile => {
                check_process(far, self)?;
                let (feeder, stdout) = FarEnd::feeding_child()?;
                let src = Fed {
                    stream: stdout,
                    feeder,
                };
                boxed(n, src, dirs.sink(place, fresh)?)
            }
        })
    }
}

/// A child's stdio has its far end in the child.
fn check_process(far: Far, kind: Kind) -> io::Result<()> {
    match far {
        Far::Process => Ok(()),
        Far::Thread => Err(io::Error::other(format!(
            "{}: the far end is the child process",
            kind.name()
        ))),
    }
}
