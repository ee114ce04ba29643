//! The core crate: every std descriptor pair, the wrappers, the fallback chain and bad input,
//! each checked against the plain read/write loop.
#![cfg(target_os = "linux")]

mod util;

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use io_copy::fault::{self, Fault, Syscall};
use io_copy::{Copier, CopyError, Path, ReaderFrom, Reason, Transfer, WriterTo};
use rstest::rstest;
use util::*;

const SIZES: [usize; 6] = [0, 1, 4096, 65537, 1 << 20, (1 << 20) + 7];

fn copy_err(e: &io::Error) -> &CopyError {
    CopyError::from_io(e).expect("the io::Error carries a CopyError")
}

#[rstest]
fn file_to_file_is_exact(
    #[values("/tmp", "/dev/shm")] root: &str,
    #[values(0, 1, 4095)] start: u64,
) {
    let dir = scratch_in(root);
    for size in SIZES {
        let data = pattern(size, size as u64);
        let (mut src, _) = source_file(dir.path(), "src", &data);
        let (mut dst, dst_path) = sink_file(dir.path(), "dst");
        seek(&mut src, start);
        let report = Copier::new().copy(&mut src, &mut dst).expect("copy");
        let want = data.get(start as usize..).unwrap_or(&[]);
        assert_eq!(report.written(), want.len() as u64, "count, size {size}");
        assert_eq!(
            std::fs::read(&dst_path).unwrap(),
            want,
            "bytes, size {size}"
        );
        assert_eq!(
            position(&mut src),
            size.max(start as usize) as u64,
            "src position"
        );
        assert_eq!(position(&mut dst), want.len() as u64, "dst position");
        if !want.is_empty() {
            assert_eq!(report.main_path(), Some(Path::CopyFileRange), "{report}");
        }
    }
}

#[test]
fn file_to_file_overwrites_at_sink_position() {
    let dir = scratch();
    let data = pattern(200_000, 1);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    dst.write_all(&vec![b'x'; 300_000]).unwrap();
    seek(&mut dst, 1000);
    io_copy::copy(&mut src, &mut dst).unwrap();
    let mut want = vec![b'x'; 300_000];
    want[1000..201_000].copy_from_slice(&data);
    assert_eq!(std::fs::read(dst_path).unwrap(), want);
    assert_eq!(position(&mut dst), 201_000);
}

/// Sends `data` from a file through `copy` into `sink`, whose far end `read_end` is drained on a
/// thread, and checks bytes, count and source position.
fn file_to_stream<W, R>(mut sink: W, read_end: R, data: &[u8]) -> io_copy::Report
where
    W: ReaderFrom,
    R: Read + Send + 'static,
{
    let dir = scratch();
    let (mut src, _) = source_file(dir.path(), "src", data);
    let reader = drain(read_end);
    let report = Copier::new().copy(&mut src, &mut sink).expect("copy");
    drop(sink);
    assert_eq!(reader.join().unwrap(), data, "bytes");
    assert_eq!(report.written(), data.len() as u64, "count");
    assert_eq!(position(&mut src), data.len() as u64, "source position");
    report
}

#[test]
fn file_to_tcp_uses_sendfile() {
    let (a, b) = tcp_pair();
    let r = file_to_stream(a, b, &pattern(3 << 20, 2));
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
}

#[test]
fn file_to_unix_stream_uses_sendfile() {
    let (a, b) = unix_pair();
    let r = file_to_stream(a, b, &pattern(1 << 20, 3));
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
}

#[test]
fn file_to_pipe_uses_sendfile() {
    let (rd, wr) = io::pipe().unwrap();
    let r = file_to_stream(wr, rd, &pattern(1 << 20, 4));
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
}

#[test]
fn file_to_child_stdin_uses_sendfile() {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn cat");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let r = file_to_stream(stdin, stdout, &pattern(600_000, 5));
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
    child.wait().unwrap();
}

#[test]
fn file_to_dev_null_counts_everything() {
    let dir = scratch();
    let data = pattern(1 << 20, 6);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let mut null = OpenOptions::new().write(true).open("/dev/null").unwrap();
    let r = Copier::new().copy(&mut src, &mut null).unwrap();
    assert_eq!(r.written(), data.len() as u64);
    assert_eq!(position(&mut src), data.len() as u64);
}

/// Copies from a stream source into a file and checks it against what was fed.
fn stream_to_file<R: WriterTo>(mut src: R, data: Vec<u8>, feeder: std::thread::JoinHandle<()>) {
    let dir = scratch();
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    let report = Copier::new().copy(&mut src, &mut dst).expect("copy");
    feeder.join().unwrap();
    assert_eq!(report.written(), data.len() as u64, "count");
    assert_eq!(std::fs::read(dst_path).unwrap(), data, "bytes");
    assert_eq!(position(&mut dst), data.len() as u64, "sink position");
}

#[test]
fn tcp_to_file_is_exact() {
    let (a, b) = tcp_pair();
    let data = pattern(2 << 20, 7);
    stream_to_file(b, data.clone(), feed(a, data));
}

#[test]
fn unix_to_file_is_exact() {
    let (a, b) = unix_pair();
    let data = pattern(1 << 20, 8);
    stream_to_file(b, data.clone(), feed(a, data));
}

#[test]
fn pipe_to_file_is_exact() {
    let (rd, wr) = io::pipe().unwrap();
    let data = pattern(1 << 20, 9);
    stream_to_file(rd, data.clone(), feed(wr, data));
}

#[test]
fn child_stdout_to_file_is_exact() {
    let dir = scratch();
    let data = pattern(700_000, 10);
    let (_, path) = source_file(dir.path(), "src", &data);
    let mut child = Command::new("cat")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    stream_to_file(out, data, std::thread::spawn(|| ()));
    child.wait().unwrap();
}

#[test]
fn child_stderr_to_file_is_exact() {
    let mut child = Command::new("sh")
        .args(["-c", "head -c 300000 /dev/zero >&2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    stream_to_file(err, vec![0; 300_000], std::thread::spawn(|| ()));
    child.wait().unwrap();
}

/// One end of a stream the copy reads or writes.
enum End {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
    PipeR(io::PipeReader),
    PipeW(io::PipeWriter),
}

/// A stream the test feeds and the copy reads.
fn stream_source(kind: &str) -> (Box<dyn Write + Send>, End) {
    match kind {
        "tcp" => {
            let (a, b) = tcp_pair();
            (Box::new(a), End::Tcp(b))
        }
        "unix" => {
            let (a, b) = unix_pair();
            (Box::new(a), End::Unix(b))
        }
        _ => {
            let (r, w) = io::pipe().unwrap();
            (Box::new(w), End::PipeR(r))
        }
    }
}

/// A stream the copy writes and the test drains.
fn stream_sink(kind: &str) -> (End, Box<dyn Read + Send>) {
    match kind {
        "tcp" => {
            let (a, b) = tcp_pair();
            (End::Tcp(a), Box::new(b))
        }
        "unix" => {
            let (a, b) = unix_pair();
            (End::Unix(a), Box::new(b))
        }
        _ => {
            let (r, w) = io::pipe().unwrap();
            (End::PipeW(w), Box::new(r))
        }
    }
}

/// Copies `src` into `dst` and drops both, so the reader of `dst` sees its end.
fn copy_ends(src: End, dst: End) -> io_copy::Report {
    fn go<R: WriterTo, W: ReaderFrom>(mut r: R, mut w: W) -> io_copy::Report {
        Copier::new().copy(&mut r, &mut w).expect("copy")
    }
    macro_rules! pairs {
        ($($s:ident, $d:ident);*) => {
            match (src, dst) {
                $((End::$s(r), End::$d(w)) => go(r, w),)*
                _ => panic!("not a source/sink pair"),
            }
        };
    }
    pairs!(Tcp, Tcp; Tcp, Unix; Tcp, PipeW; Unix, Tcp; Unix, Unix; Unix, PipeW;
           PipeR, Tcp; PipeR, Unix; PipeR, PipeW)
}

#[rstest]
fn stream_to_stream_is_exact(
    #[values("tcp", "unix", "pipe")] from: &str,
    #[values("tcp", "unix", "pipe")] to: &str,
) {
    let data = pattern(3 << 20, 11);
    let (feed_end, src) = stream_source(from);
    let (dst, drain_end) = stream_sink(to);
    let feeder = feed(feed_end, data.clone());
    let reader = drain(drain_end);
    let report = copy_ends(src, dst);
    feeder.join().unwrap();
    assert_eq!(report.written(), data.len() as u64, "count: {report}");
    assert_eq!(reader.join().unwrap(), data, "bytes");
}

/// rust-lang/rust#75446 and friends: procfs reports size 0, the first kernel call may move 0.
#[test]
fn proc_file_copies_exactly() {
    let dir = scratch();
    for path in [
        "/proc/self/status",
        "/proc/version",
        "/proc/self/maps",
        "/sys/kernel/mm/transparent_hugepage/enabled",
    ] {
        let Ok(mut src) = File::open(path) else {
            continue;
        };
        let (mut dst, dst_path) = sink_file(dir.path(), "dst");
        let report = Copier::new().copy(&mut src, &mut dst).expect(path);
        let copied = std::fs::read(&dst_path).unwrap();
        let mut read = Vec::new();
        File::open(path).unwrap().read_to_end(&mut read).unwrap();
        assert!(!copied.is_empty(), "{path}: nothing copied: {report}");
        assert_eq!(report.written(), copied.len() as u64, "{path}: count");
        // Keys are stable, some values (memory use) are not between two reads.
        let keys = |b: &[u8]| -> Vec<String> {
            String::from_utf8_lossy(b)
                .lines()
                .map(|l| l.split([':', ' ']).next().unwrap_or("").to_owned())
                .collect()
        };
        if path.ends_with("status") {
            assert_eq!(keys(&copied), keys(&read), "{path}: lines");
        } else if !path.ends_with("maps") {
            assert_eq!(copied, read, "{path}: bytes");
        }
    }
}

#[rstest]
fn append_sink_appends(#[values(false, true)] set_after_open: bool) {
    let dir = scratch();
    let data = pattern(300_000, 12);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let path = dir.path().join("dst");
    std::fs::write(&path, b"head").unwrap();
    let mut dst = if set_after_open {
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        // O_APPEND set after open: the check must be made at copy time (golang/go#79660).
        let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_APPEND;
        nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
        f
    } else {
        OpenOptions::new().append(true).open(&path).unwrap()
    };
    let report = Copier::new().copy(&mut src, &mut dst).unwrap();
    let mut want = b"head".to_vec();
    want.extend_from_slice(&data);
    assert_eq!(std::fs::read(&path).unwrap(), want);
    assert_eq!(report.written(), data.len() as u64);
    assert_eq!(
        report.fallback_from(Path::CopyFileRange).map(|f| f.reason),
        Some(Reason::AppendSink),
        "{report}"
    );
}

#[test]
fn same_file_through_two_opens_terminates() {
    let dir = scratch();
    let data = pattern(300_000, 13);
    let (mut src, path) = source_file(dir.path(), "f", &data);
    let mut dst = OpenOptions::new().write(true).open(&path).unwrap();
    dst.seek(io::SeekFrom::End(0)).unwrap();
    let report = Copier::new().copy(&mut src, &mut dst).unwrap();
    let mut want = data.clone();
    want.extend_from_slice(&data);
    assert_eq!(report.written(), data.len() as u64, "{report}");
    assert_eq!(std::fs::read(&path).unwrap(), want);
    // The first copy_file_range, tried before the sink is probed, read to the end the file had,
    // which ends the copy.
    assert_eq!(
        (
            report.path_stats(Path::CopyFileRange).calls,
            report.fallbacks().count()
        ),
        (1, 0),
        "{report}"
    );

    // A first call that stops short leaves the rest to the loop, capped at the same end.
    let mut dst = OpenOptions::new().write(true).open(&path).unwrap();
    dst.seek(io::SeekFrom::End(0)).unwrap();
    src.seek(io::SeekFrom::Start(0)).unwrap();
    fault::inject(Syscall::CopyFileRange, vec![Fault::Short(4096)]);
    let report = Copier::new().copy(&mut src, &mut dst);
    fault::clear();
    let report = report.unwrap();
    want.extend_from_slice(&want.clone());
    assert_eq!(report.written(), 2 * data.len() as u64, "{report}");
    assert_eq!(std::fs::read(&path).unwrap(), want);
    assert_eq!(
        report
            .fallback_from(Path::CopyFileRange)
            .map(|f| (f.reason, f.at)),
        Some((Reason::SameFile, 4096)),
        "{report}"
    );
    assert_eq!(report.main_path(), Some(Path::Buffered), "{report}");
}

#[test]
fn same_file_through_dup_matches_read_write_loop() {
    let dir = scratch();
    let data = pattern(1 << 20, 14);
    let run = |use_crate: bool| {
        let path = dir.path().join(if use_crate { "a" } else { "b" });
        std::fs::write(&path, &data).unwrap();
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut g = f.try_clone().unwrap(); // shares the file position
        let n = if use_crate {
            io_copy::copy(&mut f, &mut g).unwrap()
        } else {
            oracle(&mut f, &mut g).unwrap()
        };
        (n, position(&mut f), std::fs::read(&path).unwrap())
    };
    assert_eq!(run(true), run(false));
}

#[rstest]
fn take_limit_and_remainder(#[values(0, 1, 4096, 99_999, 100_000, 100_001, u64::MAX)] limit: u64) {
    let dir = scratch();
    let data = pattern(100_000, 15);
    let (src, _) = source_file(dir.path(), "src", &data);
    let (oracle_src, _) = source_file(dir.path(), "src2", &data);
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    let mut take = src.take(limit);
    let n = io_copy::copy(&mut take, &mut dst).unwrap();
    let mut otake = oracle_src.take(limit);
    let mut want = Vec::new();
    let on = oracle(&mut otake, &mut want).unwrap();
    assert_eq!(n, on, "count");
    assert_eq!(take.limit(), otake.limit(), "Take remainder");
    assert_eq!(std::fs::read(dst_path).unwrap(), want, "bytes");
    assert_eq!(
        position(take.get_mut()),
        position(otake.get_mut()),
        "source position"
    );
}

#[test]
fn bufreader_with_buffered_bytes_drains_first() {
    let dir = scratch();
    let data = pattern(500_000, 16);
    let (src, _) = source_file(dir.path(), "src", &data);
    let mut reader = BufReader::with_capacity(8192, src);
    let mut head = [0u8; 100];
    reader.read_exact(&mut head).unwrap();
    assert!(!reader.buffer().is_empty(), "the BufReader holds bytes");
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    let report = Copier::new().copy(&mut reader, &mut dst).unwrap();
    assert_eq!(std::fs::read(dst_path).unwrap(), &data[100..]);
    assert_eq!(report.written(), (data.len() - 100) as u64);
    assert_eq!(
        report.path_stats(Path::Buffered).bytes,
        8192 - 100,
        "{report}"
    );
    assert_eq!(report.main_path(), Some(Path::CopyFileRange), "{report}");
}

#[test]
fn take_of_bufreader_stops_inside_the_buffer() {
    let dir = scratch();
    let data = pattern(50_000, 17);
    let (src, _) = source_file(dir.path(), "src", &data);
    let mut reader = BufReader::with_capacity(8192, src);
    reader.fill_buf_for_test();
    let mut take = (&mut reader).take(10);
    let mut out = Vec::new();
    assert_eq!(io_copy::copy(&mut take, &mut out).unwrap(), 10);
    assert_eq!(out, &data[..10]);
    assert_eq!(reader.buffer().len(), 8192 - 10);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, &data[10..]);
}

trait FillForTest {
    fn fill_buf_for_test(&mut self);
}
impl<R: Read> FillForTest for BufReader<R> {
    fn fill_buf_for_test(&mut self) {
        io::BufRead::fill_buf(self).unwrap();
    }
}

#[test]
fn bufwriter_with_unflushed_bytes_flushes_first() {
    let dir = scratch();
    let data = pattern(400_000, 18);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (dst, dst_path) = sink_file(dir.path(), "dst");
    let mut w = BufWriter::new(dst);
    w.write_all(b"header-").unwrap();
    let report = Copier::new().copy(&mut src, &mut w).unwrap();
    w.write_all(b"-trailer").unwrap();
    drop(w);
    let mut want = b"header-".to_vec();
    want.extend_from_slice(&data);
    want.extend_from_slice(b"-trailer");
    assert_eq!(std::fs::read(dst_path).unwrap(), want);
    assert_eq!(report.main_path(), Some(Path::CopyFileRange), "{report}");
}

#[test]
fn boxed_and_borrowed_ends_keep_the_kernel_path() {
    let dir = scratch();
    let data = pattern(200_000, 19);
    let (src, _) = source_file(dir.path(), "src", &data);
    let (dst, dst_path) = sink_file(dir.path(), "dst");
    let mut src: Box<File> = Box::new(src);
    let dst_ref: &File = &dst;
    let mut dst_box = Box::new(dst_ref);
    let report = Copier::new().copy(&mut &mut src, &mut dst_box).unwrap();
    assert_eq!(std::fs::read(dst_path).unwrap(), data);
    assert_eq!(report.main_path(), Some(Path::CopyFileRange));
}

/// A user's sink wrapper that counts bytes and still gets the kernel path.
struct CountingFile {
    file: File,
    bytes: u64,
}

impl Write for CountingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl ReaderFrom for CountingFile {
    fn read_from<R: WriterTo + ?Sized>(
        &mut self,
        r: &mut R,
        t: &mut Transfer<'_>,
    ) -> io::Result<u64> {
        let before = t.written();
        let res = self.file.read_from(r, t);
        self.bytes += t.written() - before;
        res
    }
}

#[test]
fn user_type_opts_in_and_keeps_kernel_path() {
    let dir = scratch();
    let data = pattern(300_000, 20);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (file, dst_path) = sink_file(dir.path(), "dst");
    let mut dst = CountingFile { file, bytes: 0 };
    let report = Copier::new().copy(&mut src, &mut dst).unwrap();
    assert_eq!(dst.bytes, data.len() as u64);
    assert_eq!(std::fs::read(dst_path).unwrap(), data);
    assert_eq!(report.main_path(), Some(Path::CopyFileRange), "{report}");
    // The same type from an in-memory source counts through its Write.
    let mut mem: &[u8] = b"abc";
    io_copy::copy(&mut mem, &mut dst).unwrap();
    assert_eq!(dst.bytes, data.len() as u64 + 3);
}

#[test]
fn in_memory_types_take_the_buffered_loop() {
    let data = pattern(200_000, 21);
    let mut out = Vec::new();
    let r = Copier::new()
        .copy(&mut io::Cursor::new(&data), &mut out)
        .unwrap();
    assert_eq!(
        (out.as_slice(), r.main_path()),
        (&data[..], Some(Path::Buffered))
    );

    let mut cur = io::Cursor::new(Vec::new());
    io_copy::copy(&mut &data[..], &mut cur).unwrap();
    assert_eq!(cur.get_ref(), &data);

    assert_eq!(io_copy::copy(&mut io::empty(), &mut io::sink()).unwrap(), 0);
    assert_eq!(
        io_copy::copy_n(&mut io::repeat(7), &mut io::sink(), 1_000_000).unwrap(),
        1_000_000
    );
    let mut dq: std::collections::VecDeque<u8> = data.iter().copied().collect();
    let mut out2 = Vec::new();
    assert_eq!(
        io_copy::copy(&mut dq, &mut out2).unwrap(),
        data.len() as u64
    );
    assert_eq!(out2, data);
}

#[test]
fn copy_n_reports_what_arrived_on_short_source() {
    let dir = scratch();
    let data = pattern(10_000, 22);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (mut dst, _) = sink_file(dir.path(), "dst");
    assert_eq!(io_copy::copy_n(&mut src, &mut dst, 4000).unwrap(), 4000);
    let err = io_copy::copy_n(&mut src, &mut dst, 9000).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(copy_err(&err).written(), 6000);
    assert_eq!(position(&mut src), 10_000);
    assert_eq!(position(&mut dst), 10_000);
}

#[test]
fn copy_buffer_rejects_empty_buffer() {
    let err = io_copy::copy_buffer(&mut &b"x"[..], &mut Vec::new(), &mut []).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    // A policy's buffer size of 0 is raised to 1, on every entry point.
    let mut out = Vec::new();
    let r = Copier::buffered_only()
        .buffer_size(0)
        .copy(&mut io_copy::Plain(&b"xyz"[..]), &mut out)
        .unwrap();
    assert_eq!(
        (out.as_slice(), r.path_stats(Path::Buffered).calls),
        (&b"xyz"[..], 7)
    );
}

#[test]
fn bad_descriptors_give_errors_not_panics() {
    let dir = scratch();
    let data = pattern(10_000, 23);
    let (_, src_path) = source_file(dir.path(), "src", &data);
    let (mut sink, _) = sink_file(dir.path(), "dst");

    // A directory as the source.
    let mut d = File::open(dir.path()).unwrap();
    let err = io_copy::copy(&mut d, &mut sink).unwrap_err();
    assert_eq!(copy_err(&err).written(), 0);
    assert_eq!(err.raw_os_error(), None, "wrapped");
    assert_eq!(copy_err(&err).io_error().raw_os_error(), Some(libc::EISDIR));

    // A write-only source and a read-only sink.
    let mut wo = OpenOptions::new().write(true).open(&src_path).unwrap();
    assert!(io_copy::copy(&mut wo, &mut sink).is_err());
    let mut ro = File::open(&src_path).unwrap();
    let mut ro_sink = File::open(&src_path).unwrap();
    let err = io_copy::copy(&mut ro, &mut ro_sink).unwrap_err();
    assert_eq!(copy_err(&err).written(), 0);
    assert_eq!(std::fs::read(&src_path).unwrap(), data, "source untouched");

    // A closed descriptor.
    let closed = File::open(&src_path).unwrap();
    let raw = closed.as_raw_fd();
    drop(closed);
    // SAFETY: `raw` is closed and nothing opens a descriptor on this thread before the copy
    // returns; the File is never dropped, so it is never closed twice.
    let mut ghost =
        std::mem::ManuallyDrop::new(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(raw) });
    let _ = io_copy::copy(&mut *ghost, &mut sink); // EBADF, or the bytes of whatever took the number
}

/// Runs a file→file copy with `script` on `call` and checks it against the input.
fn with_fault(
    call: Syscall,
    script: Vec<Fault>,
    size: usize,
) -> Result<io_copy::Report, CopyError> {
    let dir = scratch();
    let data = pattern(size, 24);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    fault::inject(call, script);
    let res = Copier::new().copy(&mut src, &mut dst);
    fault::clear();
    let written = match &res {
        Ok(r) => r.written(),
        Err(e) => e.written(),
    };
    let got = std::fs::read(dst_path).unwrap();
    assert_eq!(got.len() as u64, written, "the count is what arrived");
    assert_eq!(got, &data[..got.len()], "bytes");
    assert_eq!(position(&mut src), written, "source position");
    assert_eq!(position(&mut dst), written, "sink position");
    res
}

#[rstest]
fn copy_file_range_fallback_errnos(
    #[values(
        libc::ENOSYS,
        libc::EXDEV,
        libc::EINVAL,
        libc::EOPNOTSUPP,
        libc::EPERM,
        libc::EIO,
        libc::EBADF,
        libc::EOVERFLOW
    )]
    errno: i32,
    #[values(false, true)] after_progress: bool,
) {
    let script = if after_progress {
        vec![Fault::Short(5000), Fault::Errno(errno)]
    } else {
        vec![Fault::Errno(errno)]
    };
    let r = with_fault(Syscall::CopyFileRange, script, 300_000).expect("falls back");
    assert_eq!(r.written(), 300_000);
    let fb = r.fallback_from(Path::CopyFileRange).expect("fell back");
    assert_eq!(
        (fb.reason, fb.at),
        (Reason::Errno(errno), if after_progress { 5000 } else { 0 })
    );
    assert_eq!(
        r.path_stats(Path::CopyFileRange).bytes,
        if after_progress { 5000 } else { 0 }
    );
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
}

#[test]
fn enosys_is_remembered_only_when_a_zero_length_probe_agrees() {
    // ENOSYS from one file (FUSE) but not from a call of length 0: not remembered.
    let r = with_fault(
        Syscall::CopyFileRange,
        vec![Fault::Errno(libc::ENOSYS)],
        1000,
    )
    .unwrap();
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
    let r = with_fault(Syscall::CopyFileRange, vec![], 1000).unwrap();
    assert_eq!(
        r.main_path(),
        Some(Path::CopyFileRange),
        "not remembered: {r}"
    );

    // The syscall itself is missing: the probe answers ENOSYS too, and later copies skip it.
    with_fault(
        Syscall::CopyFileRange,
        vec![Fault::Errno(libc::ENOSYS), Fault::Errno(libc::ENOSYS)],
        1000,
    )
    .unwrap();
    fault::inject(Syscall::CopyFileRange, vec![]);
    let r = with_fault(Syscall::Sendfile, vec![], 1000).unwrap();
    assert_eq!(
        r.fallback_from(Path::CopyFileRange).map(|f| f.reason),
        Some(Reason::Unsupported)
    );
    assert_eq!(r.path_stats(Path::CopyFileRange).calls, 0);
}

#[rstest]
fn sendfile_fallback_errnos(
    #[values(
        libc::ENOSYS,
        libc::EINVAL,
        libc::EOPNOTSUPP,
        libc::EPERM,
        libc::EOVERFLOW
    )]
    errno: i32,
    #[values(false, true)] after_progress: bool,
) {
    let dir = scratch();
    let data = pattern(500_000, 25);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (a, b) = tcp_pair();
    let reader = drain(b);
    let script = if after_progress {
        vec![Fault::Short(70_000), Fault::Errno(errno)]
    } else {
        vec![Fault::Errno(errno)]
    };
    fault::inject(Syscall::Sendfile, script);
    let mut a = a;
    let r = Copier::new().copy(&mut src, &mut a).unwrap();
    fault::clear();
    drop(a);
    assert_eq!(reader.join().unwrap(), data);
    assert_eq!(
        r.fallback_from(Path::Sendfile).map(|f| f.reason),
        Some(Reason::Errno(errno))
    );
    assert_eq!(
        r.path_stats(Path::Buffered).bytes + r.path_stats(Path::Sendfile).bytes,
        data.len() as u64
    );
}

#[test]
fn zero_first_call_falls_back_and_zero_later_is_the_end() {
    let r = with_fault(Syscall::CopyFileRange, vec![Fault::Zero], 100_000).unwrap();
    assert_eq!(
        r.fallback_from(Path::CopyFileRange).map(|f| f.reason),
        Some(Reason::ZeroFirstCall)
    );
    assert_eq!(r.written(), 100_000);
}

#[test]
fn eintr_is_retried_on_every_path() {
    let r = with_fault(
        Syscall::CopyFileRange,
        vec![
            Fault::Errno(libc::EINTR),
            Fault::Short(10),
            Fault::Errno(libc::EINTR),
        ],
        100_000,
    )
    .unwrap();
    assert_eq!(
        (r.written(), r.main_path()),
        (100_000, Some(Path::CopyFileRange))
    );
    let c = Copier::buffered_only();
    let dir = scratch();
    let data = pattern(200_000, 26);
    let (mut src, _) = source_file(dir.path(), "s", &data);
    let (mut dst, p) = sink_file(dir.path(), "d");
    fault::inject(
        Syscall::Read,
        vec![
            Fault::Errno(libc::EINTR),
            Fault::Pass,
            Fault::Errno(libc::EINTR),
        ],
    );
    fault::inject(
        Syscall::Write,
        vec![
            Fault::Errno(libc::EINTR),
            Fault::Short(3),
            Fault::Errno(libc::EINTR),
        ],
    );
    let r = c.copy(&mut src, &mut dst).unwrap();
    fault::clear();
    assert_eq!(r.written(), 200_000);
    assert_eq!(std::fs::read(p).unwrap(), data);
}

#[test]
fn hard_error_mid_stream_keeps_exact_count() {
    let err = with_fault(
        Syscall::CopyFileRange,
        vec![Fault::Short(12_345), Fault::Errno(libc::ENOSPC)],
        100_000,
    )
    .unwrap_err();
    assert_eq!(err.written(), 12_345);
    assert_eq!(err.io_error().raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::StorageFull);
}

#[test]
fn eagain_returns_would_block_with_exact_count() {
    let err = with_fault(
        Syscall::CopyFileRange,
        vec![Fault::Short(777), Fault::Errno(libc::EAGAIN)],
        100_000,
    )
    .unwrap_err();
    assert_eq!(
        (err.kind(), err.written()),
        (io::ErrorKind::WouldBlock, 777)
    );
}

/// A write that fails after a read gives the bytes back to a file source: nothing is lost.
#[test]
fn failed_write_rewinds_file_source() {
    let dir = scratch();
    let data = pattern(200_000, 27);
    let (mut src, _) = source_file(dir.path(), "s", &data);
    let (mut dst, p) = sink_file(dir.path(), "d");
    fault::inject(
        Syscall::Write,
        vec![Fault::Short(1000), Fault::Errno(libc::EAGAIN)],
    );
    let err = Copier::buffered_only()
        .copy(&mut src, &mut dst)
        .unwrap_err();
    fault::clear();
    assert_eq!(
        (err.kind(), err.written(), err.report().stranded()),
        (io::ErrorKind::WouldBlock, 1000, 0)
    );
    assert_eq!(
        position(&mut src),
        1000,
        "source moved back over the unwritten bytes"
    );
    // Resuming completes the copy.
    io_copy::copy(&mut src, &mut dst).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), data);
}

#[test]
fn policy_can_turn_paths_off() {
    let dir = scratch();
    let data = pattern(100_000, 28);
    let (mut src, _) = source_file(dir.path(), "s", &data);
    let (mut dst, _) = sink_file(dir.path(), "d");
    let r = Copier::new()
        .copy_file_range(false)
        .copy(&mut src, &mut dst)
        .unwrap();
    assert_eq!(r.main_path(), Some(Path::Sendfile));
    assert_eq!(
        r.fallback_from(Path::CopyFileRange).map(|f| f.reason),
        Some(Reason::Disabled)
    );

    let (mut src, _) = source_file(dir.path(), "s2", &data);
    let (a, b) = tcp_pair();
    let reader = drain(b);
    let mut a = a;
    let r = Copier::new()
        .share_file_pages(false)
        .copy(&mut src, &mut a)
        .unwrap();
    drop(a);
    assert_eq!(reader.join().unwrap(), data);
    assert_eq!(r.main_path(), Some(Path::Buffered));
    assert_eq!(
        r.fallback_from(Path::Sendfile).map(|f| f.reason),
        Some(Reason::MutableSource)
    );
}

#[test]
fn small_chunks_stay_exact() {
    let dir = scratch();
    let data = pattern(100_003, 29);
    let (mut src, _) = source_file(dir.path(), "s", &data);
    let (mut dst, p) = sink_file(dir.path(), "d");
    let r = Copier::new()
        .chunk_size(4096)
        .copy(&mut src, &mut dst)
        .unwrap();
    assert_eq!(std::fs::read(p).unwrap(), data);
    // The last chunk ends the file: no call is made to see it end.
    assert_eq!(r.path_stats(Path::CopyFileRange).calls, 100_003 / 4096 + 1);
}

/// A file copied into a sink without a descriptor is read directly, so a failed write moves the
/// file back over what it did not take, as into a descriptor sink.
#[test]
fn file_into_writer_without_fd_rewinds_on_failed_write() {
    struct Full(usize);
    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl ReaderFrom for Full {}
    let dir = scratch();
    let data = pattern(100_000, 30);
    let (mut src, _) = source_file(dir.path(), "s", &data);
    let err = Copier::new().copy(&mut src, &mut Full(3000)).unwrap_err();
    assert_eq!((err.written(), err.report().stranded()), (3000, 0));
    assert_eq!(
        position(&mut src),
        3000,
        "the file gave back what was not written"
    );
}

/// Copies within one file at explicit offsets: never past the file's end as it was, and
/// overlapping ranges are refused as the kernel refuses them.
#[test]
fn same_file_at_offsets_is_bounded_and_refuses_overlap() {
    let dir = scratch();
    let data = pattern(4096, 31);
    let (_, path) = source_file(dir.path(), "f", &data);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut at_end = OpenOptions::new().write(true).open(&path).unwrap();
    at_end.seek(io::SeekFrom::End(0)).unwrap();
    let r = Copier::new()
        .copy_range(&f, 0, 100 << 20, &mut at_end)
        .unwrap();
    assert_eq!(r.written(), 4096, "bounded by the end the file had: {r}");
    assert_eq!(std::fs::read(&path).unwrap().len(), 8192);

    let e = Copier::new().copy_at(&f, 0, &f, 1000, 2000).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let r = Copier::new().copy_at(&f, 0, &f, 5000, 1000).unwrap();
    assert_eq!(r.written(), 1000);
    assert_eq!(&std::fs::read(&path).unwrap()[5000..6000], &data[..1000]);
}

/// Copies known to be small take the read/write loop at once, with no fstat and no kernel path,
/// except a regular file into a `File`, which takes one copy_file_range, and the pairs whose std
/// types name one kernel call (`small_copies_between_pipes_and_stream_sockets_are_one_splice`).
#[test]
fn small_known_copies_take_the_loop_without_probes() {
    let dir = scratch();
    let data = pattern(100_000, 32);
    let (mut src, _) = source_file(dir.path(), "s", &data);
    let (mut dst, p) = sink_file(dir.path(), "d");
    // Into a pipe known only by its descriptor (a user type that names it): the loop, with no
    // kernel path tried.
    struct ByFd(io::PipeWriter);
    impl Write for ByFd {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl io_copy::ReaderFrom for ByFd {
        fn sink_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
            Some(std::os::fd::AsFd::as_fd(&self.0))
        }
    }
    let (mut pr, pw) = io::pipe().unwrap();
    let mut pw = ByFd(pw);
    let r = Copier::new().copy_n(&mut src, &mut pw, 4096).unwrap();
    assert_eq!(
        (r.main_path(), r.fallbacks().count()),
        (Some(Path::Buffered), 0),
        "{r}"
    );
    let mut got = vec![0; 4096];
    pr.read_exact(&mut got).unwrap();
    assert_eq!(got, data[..4096]);
    // From a socket into a `File`: the loop too (the source's fstat is the only probe).
    let (mut a, mut b) = tcp_pair();
    a.write_all(&data[..4096]).unwrap();
    let (mut small, small_path) = sink_file(dir.path(), "small");
    let r = Copier::new().copy_n(&mut b, &mut small, 4096).unwrap();
    assert_eq!(
        (r.main_path(), r.fallbacks().count()),
        (Some(Path::Buffered), 0),
        "{r}"
    );
    assert_eq!(std::fs::read(small_path).unwrap(), data[..4096]);
    src.seek(io::SeekFrom::Start(0)).unwrap();
    // From a regular file into a `File`, copy_file_range is tried first, before any probe of
    // the sink: one call.
    let r = Copier::new().copy_n(&mut src, &mut dst, 4096).unwrap();
    assert_eq!(
        (
            r.main_path(),
            r.path_stats(Path::CopyFileRange).calls,
            r.fallbacks().count()
        ),
        (Some(Path::CopyFileRange), 1, 0),
        "{r}"
    );
    let r = Copier::new()
        .small_copy(0)
        .copy_n(&mut src, &mut dst, 4096)
        .unwrap();
    assert_eq!(r.main_path(), Some(Path::CopyFileRange), "{r}");
    let r = Copier::new()
        .copy(&mut (&mut src).take(io_copy::DEFAULT_SMALL_COPY), &mut dst)
        .unwrap();
    assert_eq!(
        r.main_path(),
        Some(Path::CopyFileRange),
        "at the threshold: {r}"
    );
    io_copy::copy(&mut src, &mut dst).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), data);
    assert_eq!((position(&mut src), position(&mut dst)), (100_000, 100_000));

    // A failed small write still gives the bytes back to a file source.
    let (mut src, _) = source_file(dir.path(), "s2", &data);
    let (mut dst, _) = sink_file(dir.path(), "d2");
    fault::inject(
        Syscall::Write,
        vec![Fault::Short(100), Fault::Errno(libc::EAGAIN)],
    );
    let e = Copier::new()
        .copy_file_range(false)
        .copy_n(&mut src, &mut dst, 5000)
        .unwrap_err();
    fault::clear();
    assert_eq!((e.written(), e.report().stranded()), (100, 0));
    assert_eq!(position(&mut src), 100);
}

/// A small copy between a pipe and a stream socket or another pipe, as their std types say,
/// is one splice with no probe; other small copies keep the loop.
#[test]
fn small_copies_between_pipes_and_stream_sockets_are_one_splice() {
    let data = pattern(4096, 33);
    let one_splice = |r: &io_copy::Report| {
        (
            r.main_path(),
            r.path_stats(Path::Splice).calls,
            r.fallbacks().count(),
        )
    };
    // TCP into a pipe, a pipe into TCP, a pipe into a pipe.
    let (mut a, mut b) = tcp_pair();
    let (mut pr, mut pw) = io::pipe().unwrap();
    a.write_all(&data).unwrap();
    let r = Copier::new().copy_n(&mut b, &mut pw, 4096).unwrap();
    assert_eq!(one_splice(&r), (Some(Path::Splice), 1, 0), "tcp→pipe: {r}");
    let r = Copier::new().copy_n(&mut pr, &mut a, 4096).unwrap();
    assert_eq!(one_splice(&r), (Some(Path::Splice), 1, 0), "pipe→tcp: {r}");
    let mut got = vec![0; 4096];
    b.read_exact(&mut got).unwrap();
    assert_eq!(got, data, "pipe→tcp bytes");
    let (mut qr, mut qw) = io::pipe().unwrap();
    pw.write_all(&data).unwrap();
    let r = Copier::new().copy_n(&mut pr, &mut qw, 4096).unwrap();
    assert_eq!(one_splice(&r), (Some(Path::Splice), 1, 0), "pipe→pipe: {r}");
    qr.read_exact(&mut got).unwrap();
    assert_eq!(got, data, "pipe→pipe bytes");
    // Splice turned off, and a socket to a socket: the loop, as before.
    a.write_all(&data).unwrap();
    let r = Copier::new()
        .splice(false)
        .copy_n(&mut b, &mut pw, 4096)
        .unwrap();
    assert_eq!(
        (r.main_path(), r.fallbacks().count()),
        (Some(Path::Buffered), 0),
        "{r}"
    );
    pr.read_exact(&mut got).unwrap();
    let (mut c, mut d) = tcp_pair();
    a.write_all(&data).unwrap();
    let r = Copier::new().copy_n(&mut b, &mut c, 4096).unwrap();
    assert_eq!(r.main_path(), Some(Path::Buffered), "tcp→tcp: {r}");
    d.read_exact(&mut got).unwrap();
    // A socket held as a `File` is taken for a file: sendfile takes a socket too (it splices from
    // any descriptor that can), and the bytes are exact.
    let mut as_file = File::from(std::os::fd::OwnedFd::from(b));
    a.write_all(&data).unwrap();
    let r = Copier::new().copy_n(&mut as_file, &mut pw, 4096).unwrap();
    assert_eq!(r.written(), 4096, "socket as File: {r}");
    pr.read_exact(&mut got).unwrap();
    assert_eq!(got, data, "socket as File bytes");
    // A file into a pipe: one sendfile; a pipe into a file: one splice.
    let dir = scratch();
    let (mut src, _) = source_file(dir.path(), "s", &data);
    let r = Copier::new().copy_n(&mut src, &mut pw, 4096).unwrap();
    assert_eq!(
        (r.main_path(), r.path_stats(Path::Sendfile).calls),
        (Some(Path::Sendfile), 1),
        "file→pipe: {r}"
    );
    let (mut dst, dst_path) = sink_file(dir.path(), "d");
    let r = Copier::new().copy_n(&mut pr, &mut dst, 4096).unwrap();
    assert_eq!(one_splice(&r), (Some(Path::Splice), 1, 0), "pipe→file: {r}");
    assert_eq!(std::fs::read(dst_path).unwrap(), data, "pipe→file bytes");
    // Pages of a file that may change are not shared, also in a small copy.
    src.seek(io::SeekFrom::Start(0)).unwrap();
    let r = Copier::new()
        .share_file_pages(false)
        .copy_n(&mut src, &mut pw, 4096)
        .unwrap();
    assert_eq!(r.main_path(), Some(Path::Buffered), "{r}");
    pr.read_exact(&mut got).unwrap();
    assert_eq!(got, data);
    // The end of a pipe: 0 bytes, exactly.
    drop(pw);
    let r = Copier::new()
        .copy(&mut (&mut pr).take(4096), &mut a)
        .unwrap();
    assert_eq!(r.written(), 0, "{r}");
}

/// `Prefixed` sends its prefix before the copy's bytes into every kind of sink, counts it apart
/// from the copy, and leaves the kernel path to the body.
#[test]
fn prefixed_sends_the_prefix_first_into_every_sink() {
    use io_copy::Prefixed;
    let dir = scratch();
    let body = pattern(100_000, 40);
    let (src, _) = source_file(dir.path(), "body", &body);
    let head = b"HEAD 123\r\n\r\n";
    let want: Vec<u8> = head.iter().chain(&body).copied().collect();
    // TCP: the body by sendfile, the whole prefix counted apart.
    let (mut a, b) = tcp_pair();
    let reader = drain(b);
    let mut sink = Prefixed::new(head, &mut a);
    let r = Copier::new()
        .copy_range(&src, 0, body.len() as u64, &mut sink)
        .unwrap();
    assert_eq!(
        (r.written(), sink.sent()),
        (body.len() as u64, head.len()),
        "{r}"
    );
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
    drop(a);
    assert!(reader.join().unwrap() == want, "tcp bytes");
    // A pipe (send answers ENOTSOCK: the prefix is written) and a Vec (no descriptor).
    let (pr, mut pw) = io::pipe().unwrap();
    let reader = drain(pr);
    let mut sink = Prefixed::new(head, &mut pw);
    io_copy::copy_range(&src, 0, body.len() as u64, &mut sink).unwrap();
    drop(pw);
    assert!(reader.join().unwrap() == want, "pipe bytes");
    let mut v = Vec::new();
    let mut sink = Prefixed::new(head, &mut v);
    io_copy::copy(&mut &body[..], &mut sink).unwrap();
    assert!(v == want, "vec bytes");
}

/// A prefix held by MSG_MORE for a body that turns out empty still reaches the peer at once.
#[test]
fn prefixed_prefix_arrives_when_the_body_is_empty() {
    use io_copy::Prefixed;
    let dir = scratch();
    let (mut empty, _) = source_file(dir.path(), "empty", b"");
    let (mut a, mut b) = tcp_pair();
    b.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut sink = Prefixed::new(head, &mut a);
    assert_eq!(io_copy::copy(&mut empty, &mut sink).unwrap(), 0);
    assert_eq!(sink.sent(), head.len());
    // Bytes the kernel still holds unsent (SIOCOUTQNSD): none, the held prefix was pushed.
    let mut unsent: libc::c_int = -1;
    // SAFETY: the descriptor is an open TCP socket and `unsent` a valid c_int for the answer.
    let rc = unsafe { libc::ioctl(a.as_raw_fd(), 0x894B, &mut unsent) };
    assert_eq!(
        (rc, unsent),
        (0, 0),
        "the prefix is sent, not held for more"
    );
    let mut got = vec![0u8; head.len()];
    b.read_exact(&mut got)
        .expect("the prefix, without waiting for more bytes");
    assert_eq!(&got, head);
}

/// The prefix's own write can block or fail: the copy reports 0 bytes, `sent` says how much of
/// the prefix went, and the next copy sends the rest first.
#[test]
fn prefixed_prefix_survives_would_block_and_short_writes() {
    use io_copy::Prefixed;
    let body = pattern(5000, 41);
    let dir = scratch();
    let (mut src, _) = source_file(dir.path(), "body", &body);
    let head = b"0123456789";
    let (mut a, b) = tcp_pair();
    let reader = drain(b);
    let mut sink = Prefixed::new(head, &mut a);
    fault::inject(
        Syscall::Write,
        vec![Fault::Short(4), Fault::Errno(libc::EAGAIN)],
    );
    let e = Copier::new().copy(&mut src, &mut sink).unwrap_err();
    fault::clear();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert_eq!((e.written(), sink.sent()), (0, 4));
    assert_eq!(e.report().blocked_on(), Some(io_copy::End::Sink));
    assert_eq!(sink.pending(), b"456789");
    assert_eq!(position(&mut src), 0, "the body not begun");
    let r = Copier::new().copy(&mut src, &mut sink).unwrap();
    assert_eq!((r.written(), sink.sent()), (5000, 10));
    drop(a);
    let want: Vec<u8> = head.iter().chain(&body).copied().collect();
    assert!(reader.join().unwrap() == want, "bytes in order");
}
