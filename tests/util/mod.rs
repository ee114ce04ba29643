//! Shared pieces of the integration tests: the oracle, endpoints, and environment checks.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};

/// Deterministic bytes that differ at every offset, so a shifted or duplicated chunk shows.
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

/// The oracle: a plain read/write loop with a 64 KiB buffer, as a reader of the man pages would
/// write it. Returns the bytes written.
pub fn oracle<R: Read + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A scratch directory on the given filesystem root (`/dev/shm` is tmpfs here, the default
/// temp dir is the root filesystem).
pub fn scratch_in(root: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("io_copy-test-")
        .tempdir_in(root)
        .unwrap_or_else(|e| panic!("cannot make a scratch dir in {root}: {e}"))
}

pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("io_copy-test-")
        .tempdir()
        .expect("scratch dir")
}

/// Writes `data` to `dir/name` and opens it for reading.
pub fn source_file(dir: &Path, name: &str, data: &[u8]) -> (File, PathBuf) {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write source");
    (File::open(&path).expect("open source"), path)
}

/// Creates `dir/name` (empty) and opens it read-write.
pub fn sink_file(dir: &Path, name: &str) -> (File, PathBuf) {
    let path = dir.join(name);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("create sink");
    (f, path)
}

pub fn position(f: &mut File) -> u64 {
    f.stream_position().expect("position")
}

pub fn seek(f: &mut File, to: u64) {
    f.seek(SeekFrom::Start(to)).expect("seek");
}

/// A connected pair of TCP streams over loopback (an IP literal: static builds have no NSS).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = TcpStream::connect(l.local_addr().unwrap()).expect("connect");
    let (b, _) = l.accept().expect("accept");
    (a, b)
}

pub fn unix_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

/// Reads `r` to its end on a thread.
pub fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        r.read_to_end(&mut v).expect("drain");
        v
    })
}

/// Writes `data` to `w` on a thread, then drops `w` (the reader sees its end).
pub fn feed<W: Write + Send + 'static>(mut w: W, data: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || {
        w.write_all(&data).expect("feed");
    })
}

/// The number of open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Whether this run is CI's, where a test that needs something must run or fail.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns whether the test may go on. When `have` is false it fails under CI and otherwise
/// says why the test is skipped, where a person sees it: at once, and again in a count when the
/// test binary exits.
pub fn require(have: bool, test: &str, what: &str) -> bool {
    if have {
        return true;
    }
    assert!(!in_ci(), "{test}: needs {what}, which CI must provide");
    skipped(format!("{test}: needs {what}"));
    false
}

/// The tests this binary skipped, for the count printed at its exit.
static SKIPPED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Prints a skip on stderr past libtest's capture (which takes the `print!` and `eprint!` of
/// passing tests, not writes to the stderr handle), and keeps it for the count at exit.
fn skipped(line: String) {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    let _ = writeln!(io::stderr(), "skipped {line}");
    AT_EXIT.call_once(|| {
        // SAFETY: `print_skipped` is an `extern "C" fn()` that does not unwind (it ignores every
        // error), as atexit requires; libtest ends the process with `exit`, which runs it.
        unsafe { libc::atexit(print_skipped) };
    });
    SKIPPED.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

extern "C" fn print_skipped() {
    let list = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "\n{} test(s) of {} skipped, each passing without running (CI=true makes them run or fail):",
        list.len(),
        std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default()
    );
    for line in list.iter() {
        let _ = writeln!(err, "  {line}");
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether `prog` is on the PATH.
pub fn have_program(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
}

/// The number of proptest cases: `IO_COPY_CASES`, or `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("IO_COPY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub mod mounts;
pub mod netns;
pub mod seccomp;

/// The bytes queued to be read on `fd` (`FIONREAD`).
pub fn queued_bytes(fd: std::os::fd::BorrowedFd<'_>) -> u64 {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through a pointer that is valid for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", io::Error::last_os_error());
    n as u64
}

/// Waits until `fd` has `bytes` to read, for at most 20 s.
pub fn wait_queued(fd: std::os::fd::BorrowedFd<'_>, bytes: u64) {
    let t0 = std::time::Instant::now();
    loop {
        let n = queued_bytes(fd);
        if n >= bytes {
            return;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "the source got {n} of {bytes} bytes"
        );
        thread::sleep(std::time::Duration::from_millis(1));
    }
}
