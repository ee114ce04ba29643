//! io_copy on tokio: every end type into and out of the others, on both runtimes, against the
//! bytes and counts a plain loop would give; injected errnos; cancellation and resumption;
//! half-close; resets; a stalled sink; a thousand relays at once.
#![cfg(target_os = "linux")]

mod util;

use std::future::Future;
use std::io;
use std::time::Duration;

use io_copy::fault::{self, Fault, Syscall};
use io_copy::tokio as aio;
use io_copy::{Copier, CopyError, Path, Report};
use rstest::rstest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::runtime::{Builder, Runtime};
use util::{pattern, scratch};

#[derive(Clone, Copy, Debug)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

fn runtime(flavor: Flavor) -> Runtime {
    match flavor {
        Flavor::CurrentThread => Builder::new_current_thread().enable_all().build(),
        Flavor::MultiThread => Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .expect("runtime")
}

/// Runs `f` on a runtime of `flavor`, within a minute.
fn run<F: Future>(flavor: Flavor, f: F) -> F::Output {
    runtime(flavor).block_on(async {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("the test finishes in a minute")
    })
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}

/// Writes `data` into `w` and closes it, on a task.
fn feed<W: tokio::io::AsyncWrite + Unpin + Send + 'static>(
    mut w: W,
    data: Vec<u8>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        w.write_all(&data).await.expect("feed");
        w.shutdown().await.expect("shutdown");
    })
}

/// Reads `r` to its end on a task.
fn drain<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    mut r: R,
) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut v = Vec::new();
        r.read_to_end(&mut v).await.expect("drain");
        v
    })
}

/// The sources of the pair tests.
#[derive(Clone, Copy, Debug)]
enum Src {
    Tcp,
    TcpHalf,
    TcpOwnedHalf,
    Unix,
    UnixOwnedHalf,
    Pipe,
    ChildStdout,
    File,
    BufTcp,
    TakeTcp,
    Duplex,
}

/// The sinks of the pair tests.
#[derive(Clone, Copy, Debug)]
enum Dst {
    Tcp,
    TcpHalf,
    TcpOwnedHalf,
    Unix,
    Pipe,
    ChildStdin,
    File,
    BufTcp,
    Vec,
}

/// The copier of the path tests: `Copier::new()` with `first_read(0)`, so a socket's bytes go
/// to the relay from the first byte and the path is the chain table's (how many bytes the first
/// reads take depends on how far the feeder has got). The first reads have their own tests.
fn chain() -> Copier {
    Copier::new().first_read(0)
}

/// The path the report must name (for a copy of `n` bytes that moves bytes), where the test
/// determines it.
fn expected_path(src: Src, dst: Dst, n: usize) -> Option<Path> {
    Some(match (src, dst) {
        // What the BufReader buffered before the copy (up to 8 KiB, as much as had arrived)
        // goes first through its buffer; the kernel path takes the rest.
        (Src::BufTcp, _) if n <= 1 << 20 => return None,
        // A copy known to be small (its `Take` limit) takes the loop between two sockets.
        (Src::TakeTcp, _) if (n as u64) < io_copy::DEFAULT_SMALL_COPY => Path::Buffered,
        (Src::Duplex, _) | (_, Dst::Vec) => Path::Buffered,
        // A pipe source takes the read/write loop by default, as in the blocking copies.
        (Src::Pipe | Src::ChildStdout, _) => Path::Buffered,
        (Src::File, Dst::File) => Path::CopyFileRange,
        (Src::File, _) => Path::Sendfile,
        (_, _) => Path::Splice,
    })
}

/// Copies `data` from a source of kind `src` to a sink of kind `dst` with `copier`, and checks
/// the far end's bytes and the count; returns the report.
async fn pair(src: Src, dst: Dst, data: Vec<u8>, copier: Copier, expect: Option<Path>) -> Report {
    let n = data.len() as u64;
    let dir = scratch();
    // The sink, and how to read back what reached it.
    macro_rules! with_sink {
        ($r:expr) => {{
            let r = $r;
            match dst {
                Dst::Tcp => {
                    let (mut w, far) = tcp_pair().await;
                    let got = drain(far);
                    let rep = copy(r, &mut w, copier).await;
                    drop(w);
                    (rep, got.await.unwrap())
                }
                Dst::TcpHalf => {
                    let (mut s, far) = tcp_pair().await;
                    let got = drain(far);
                    let rep = {
                        let (_rh, mut wh) = s.split();
                        copy(r, &mut wh, copier).await
                    };
                    drop(s);
                    (rep, got.await.unwrap())
                }
                Dst::TcpOwnedHalf => {
                    let (s, far) = tcp_pair().await;
                    let got = drain(far);
                    let (_rh, mut wh) = s.into_split();
                    let rep = copy(r, &mut wh, copier).await;
                    drop(wh);
                    (rep, got.await.unwrap())
                }
                Dst::Unix => {
                    let (mut w, far) = UnixStream::pair().unwrap();
                    let got = drain(far);
                    let rep = copy(r, &mut w, copier).await;
                    drop(w);
                    (rep, got.await.unwrap())
                }
                Dst::Pipe => {
                    let (mut w, far) = pipe::pipe().unwrap();
                    let got = drain(far);
                    let rep = copy(r, &mut w, copier).await;
                    drop(w);
                    (rep, got.await.unwrap())
                }
                Dst::ChildStdin => {
                    let mut child = tokio::process::Command::new("cat")
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .expect("cat");
                    let mut w = child.stdin.take().unwrap();
                    let got = drain(child.stdout.take().unwrap());
                    let rep = copy(r, &mut w, copier).await;
                    drop(w);
                    let got = got.await.unwrap();
                    child.wait().await.unwrap();
                    (rep, got)
                }
                Dst::File => {
                    let path = dir.path().join("dst");
                    let mut w = tokio::fs::File::create(&path).await.unwrap();
                    let rep = copy(r, &mut w, copier).await;
                    drop(w);
                    (rep, std::fs::read(&path).unwrap())
                }
                Dst::BufTcp => {
                    let (w, far) = tcp_pair().await;
                    let got = drain(far);
                    let mut w = tokio::io::BufWriter::new(w);
                    w.write_all(b"").await.unwrap();
                    let rep = copy(r, &mut w, copier).await;
                    drop(w);
                    (rep, got.await.unwrap())
                }
                Dst::Vec => {
                    let mut w = Vec::new();
                    let rep = copy(r, &mut w, copier).await;
                    (rep, w)
                }
            }
        }};
    }
    let (rep, got) = match src {
        Src::Tcp => {
            let (far, mut r) = tcp_pair().await;
            let f = feed(far, data.clone());
            let out = with_sink!(&mut r);
            f.await.unwrap();
            out
        }
        Src::TcpHalf => {
            let (far, mut s) = tcp_pair().await;
            let f = feed(far, data.clone());
            let (mut rh, _wh) = s.split();
            let out = with_sink!(&mut rh);
            f.await.unwrap();
            out
        }
        Src::TcpOwnedHalf => {
            let (far, s) = tcp_pair().await;
            let f = feed(far, data.clone());
            let (mut rh, _wh) = s.into_split();
            let out = with_sink!(&mut rh);
            f.await.unwrap();
            out
        }
        Src::Unix => {
            let (far, mut r) = UnixStream::pair().unwrap();
            let f = feed(far, data.clone());
            let out = with_sink!(&mut r);
            f.await.unwrap();
            out
        }
        Src::UnixOwnedHalf => {
            let (far, s) = UnixStream::pair().unwrap();
            let f = feed(far, data.clone());
            let (mut rh, _wh) = s.into_split();
            let out = with_sink!(&mut rh);
            f.await.unwrap();
            out
        }
        Src::Pipe => {
            let (far, mut r) = pipe::pipe().unwrap();
            let f = feed(far, data.clone());
            let out = with_sink!(&mut r);
            f.await.unwrap();
            out
        }
        Src::ChildStdout => {
            let mut child = tokio::process::Command::new("cat")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("cat");
            let f = feed(child.stdin.take().unwrap(), data.clone());
            let mut r = child.stdout.take().unwrap();
            let out = with_sink!(&mut r);
            f.await.unwrap();
            child.wait().await.unwrap();
            out
        }
        Src::File => {
            let path = dir.path().join("src");
            std::fs::write(&path, &data).unwrap();
            let mut r = tokio::fs::File::open(&path).await.unwrap();
            let out = with_sink!(&mut r);
            let pos = r.stream_position_now().await;
            assert_eq!(pos, n, "the file's position is where the copy ended");
            out
        }
        Src::BufTcp => {
            let (far, r) = tcp_pair().await;
            let f = feed(far, data.clone());
            let mut r = tokio::io::BufReader::new(r);
            // A read first, so the buffer holds bytes the copy must send first.
            if n > 0 {
                let mut first = [0u8; 1];
                r.read_exact(&mut first).await.unwrap();
                assert_eq!(first[0], data[0]);
            }
            let (rep, mut got) = with_sink!(&mut r);
            if n > 0 {
                got.insert(0, data[0]);
            }
            f.await.unwrap();
            (rep, got)
        }
        Src::TakeTcp => {
            // The stream holds more than the limit; the copy takes exactly the limit.
            let (far, r) = tcp_pair().await;
            let mut more = data.clone();
            more.extend_from_slice(b"past the limit");
            let f = feed(far, more);
            let mut r = r.take(n);
            let out = with_sink!(&mut r);
            assert_eq!(r.limit(), 0, "Take's limit spent exactly");
            let mut rest = Vec::new();
            r.into_inner().read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, b"past the limit", "nothing past the limit taken");
            f.await.unwrap();
            out
        }
        Src::Duplex => {
            let (far, mut r) = tokio::io::duplex(64 * 1024);
            let f = feed(far, data.clone());
            let out = with_sink!(&mut r);
            f.await.unwrap();
            out
        }
    };
    let (rep, written) = match rep {
        Ok(r) => {
            let w = r.written();
            (r, w)
        }
        Err(e) => panic!("{src:?}→{dst:?}: {e}"),
    };
    let want = match src {
        Src::BufTcp => n.saturating_sub(1),
        _ => n,
    };
    assert_eq!(written, want, "{src:?}→{dst:?} count: {rep}");
    assert!(
        got == data,
        "{src:?}→{dst:?}: the far end's bytes differ ({} of {n})",
        got.len()
    );
    if let (Some(path), true) = (expect, want > 0) {
        assert_eq!(rep.main_path(), Some(path), "{src:?}→{dst:?}: {rep}");
    }
    rep
}

async fn copy<R, W>(r: &mut R, w: &mut W, copier: Copier) -> Result<Report, CopyError>
where
    R: aio::AsyncWriterTo + ?Sized,
    W: aio::AsyncReaderFrom + ?Sized,
{
    aio::copy_with(&copier, r, w).await
}

/// The position of a `tokio::fs::File`, asked the tokio way.
trait PositionNow {
    async fn stream_position_now(&mut self) -> u64;
}

impl PositionNow for tokio::fs::File {
    async fn stream_position_now(&mut self) -> u64 {
        use tokio::io::AsyncSeekExt;
        self.stream_position().await.unwrap()
    }
}

const SIZES: [usize; 7] = [0, 1, 4095, 4096, 4097, (1 << 20) + 7, 64 << 20];

/// The pair tests' sizes. In the qemu guests (`IO_COPY_GUEST=1`, 10-20x slower under TCG) the
/// 64 MiB copies are left to the host: they test this crate's rounds more than the kernel, and
/// they alone took most of the binary's four minutes there.
fn sizes() -> Vec<usize> {
    let guest = std::env::var("IO_COPY_GUEST").is_ok_and(|v| v == "1");
    SIZES
        .into_iter()
        .filter(|&n| !(guest && n == 64 << 20))
        .collect()
}

#[rstest]
fn every_source_into_tcp(
    #[values(Flavor::CurrentThread, Flavor::MultiThread)] flavor: Flavor,
    #[values(
        Src::Tcp,
        Src::TcpHalf,
        Src::TcpOwnedHalf,
        Src::Unix,
        Src::UnixOwnedHalf,
        Src::Pipe,
        Src::ChildStdout,
        Src::File,
        Src::BufTcp,
        Src::TakeTcp,
        Src::Duplex
    )]
    src: Src,
) {
    for n in sizes() {
        let expect = expected_path(src, Dst::Tcp, n);
        run(
            flavor,
            pair(src, Dst::Tcp, pattern(n, n as u64), chain(), expect),
        );
    }
}

#[rstest]
fn file_and_tcp_into_every_sink(
    #[values(Flavor::CurrentThread, Flavor::MultiThread)] flavor: Flavor,
    #[values(Src::File, Src::Tcp)] src: Src,
    #[values(
        Dst::TcpHalf,
        Dst::TcpOwnedHalf,
        Dst::Unix,
        Dst::Pipe,
        Dst::ChildStdin,
        Dst::File,
        Dst::BufTcp,
        Dst::Vec
    )]
    dst: Dst,
) {
    for n in sizes() {
        let expect = expected_path(src, dst, n);
        run(
            flavor,
            pair(src, dst, pattern(n, n as u64 + 1), chain(), expect),
        );
    }
}

/// Pipes and child stdio into files and sockets, and with `splice_from_pipe` through the relay.
#[rstest]
fn pipe_sources_into_files_and_sockets(
    #[values(Flavor::CurrentThread, Flavor::MultiThread)] flavor: Flavor,
    #[values(Src::Pipe, Src::ChildStdout)] src: Src,
    #[values(Dst::File, Dst::Unix, Dst::Pipe)] dst: Dst,
) {
    for n in [0, 1, 4097, (1 << 20) + 7] {
        let expect = expected_path(src, dst, n);
        run(flavor, pair(src, dst, pattern(n, 3), Copier::new(), expect));
    }
    // Spliced on request: into a file directly, into a socket or pipe through the relay.
    let copier = Copier::new().splice_from_pipe(true);
    let rep = run(
        flavor,
        pair(src, dst, pattern(3 << 20, 4), copier, Some(Path::Splice)),
    );
    assert_eq!(rep.path_stats(Path::Splice).bytes, 3 << 20, "{rep}");
    assert!(
        rep.fallbacks().next().is_none(),
        "no fallback at the end: {rep}"
    );
}

/// The plain `copy` and `copy_bidirectional` give the counts tokio's give.
#[test]
fn plain_copy_returns_the_count() {
    run(Flavor::CurrentThread, async {
        let data = pattern(300_000, 5);
        let (far, mut r) = tcp_pair().await;
        let (mut w, out) = UnixStream::pair().unwrap();
        let f = feed(far, data.clone());
        let got = drain(out);
        assert_eq!(aio::copy(&mut r, &mut w).await.unwrap(), 300_000);
        drop(w);
        f.await.unwrap();
        assert!(got.await.unwrap() == data);
    });
}

// ---------------------------------------------------------------------------------------------
// First reads: a socket's bytes by recv and send until a read comes back full

/// Waits until `len` bytes are queued to be read on `s` (FIONREAD), for at most 10 s.
async fn queued(s: &impl std::os::fd::AsFd, len: usize) {
    for _ in 0..10_000 {
        if util::queued_bytes(s.as_fd()) >= len as u64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{len} bytes never arrived");
}

/// A small flow takes the loop and no pipe; a bulk one moves one full first read by the loop
/// and the rest by splice, also across the copy's later rounds (3 MiB is three rounds; the
/// first starts with 16 KiB or more queued).
#[rstest]
fn first_reads_then_the_relay(
    #[values(Flavor::CurrentThread, Flavor::MultiThread)] flavor: Flavor,
    #[values(1, 4096, 16 * 1024 - 1, 100_000, 3 << 20)] len: usize,
) {
    let rep = run(flavor, async move {
        let data = pattern(len, 21);
        let (far, mut r) = tcp_pair().await;
        let (mut w, out) = tcp_pair().await;
        let f = feed(far, data.clone());
        let got = drain(out);
        queued(&r, len.min(16 * 1024)).await;
        let rep = aio::copy_with(&Copier::new(), &mut r, &mut w)
            .await
            .unwrap();
        drop(w);
        f.await.unwrap();
        assert!(got.await.unwrap() == data, "bytes");
        assert_eq!(rep.written(), len as u64, "{rep}");
        rep
    });
    if len < 16 * 1024 {
        assert_eq!(rep.main_path(), Some(Path::Buffered), "{rep}");
        assert_eq!(rep.path_stats(Path::Splice).calls, 0, "{rep}");
        assert_eq!(rep.pipe_size(), None, "{rep}");
    } else {
        assert_eq!(rep.path_stats(Path::Buffered).bytes, 16 * 1024, "{rep}");
        assert_eq!(
            rep.path_stats(Path::Splice).bytes,
            len as u64 - 16 * 1024,
            "{rep}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errnos injected through the seam (per thread: the current-thread runtime)

/// A fallback errno at the first call and after progress: the copy goes on down the chain with
/// every byte; a fatal one ends it with the exact count.
#[rstest]
fn injected_errnos_fall_back_or_fail_exactly(
    #[values(
        (Syscall::Sendfile, Src::File, Dst::Unix),
        (Syscall::Splice, Src::Tcp, Dst::Unix),
        (Syscall::CopyFileRange, Src::File, Dst::File)
    )]
    case: (Syscall, Src, Dst),
    #[values(0, 1)] after: usize,
) {
    let (call, src, dst) = case;
    // A file into a file below 64 KiB runs on this thread, where the seam is.
    let len = if call == Syscall::CopyFileRange {
        60_000
    } else {
        200_000
    };
    let data = pattern(len, 6);
    // Some progress first (a short call; for the relay, its drain then its pump), then EINVAL:
    // the next path takes the rest.
    let progress: &[Fault] = match call {
        Syscall::Splice => &[Fault::Short(10_000), Fault::Pass],
        _ => &[Fault::Short(10_000)],
    };
    let mut script: Vec<Fault> = progress.repeat(after);
    script.push(Fault::Errno(libc::EINVAL));
    fault::inject(call, script);
    let rep = run(
        Flavor::CurrentThread,
        pair(src, dst, data.clone(), chain(), None),
    );
    fault::clear();
    let left = rep
        .fallback_from(match call {
            Syscall::Sendfile => Path::Sendfile,
            Syscall::Splice => Path::Splice,
            _ => Path::CopyFileRange,
        })
        .unwrap_or_else(|| panic!("{call:?}: no fallback in {rep}"));
    // A relay's first drain may find the socket empty (a real EAGAIN, which takes a script
    // entry too): its fallback then comes before the 10,000 bytes. The bytes are exact either
    // way (checked by `pair`).
    match call {
        Syscall::Splice => assert!(left.at <= 10_000 * after as u64, "{rep}"),
        _ => assert_eq!(left.at, 10_000 * after as u64, "{rep}"),
    }
    // A fatal errno after progress ends the copy with the count of what arrived.
    fault::inject(
        Syscall::Sendfile,
        vec![Fault::Short(7000), Fault::Errno(libc::EIO)],
    );
    let res = run(Flavor::CurrentThread, async {
        let dir = scratch();
        std::fs::write(dir.path().join("s"), pattern(200_000, 6)).unwrap();
        let mut r = tokio::fs::File::open(dir.path().join("s")).await.unwrap();
        let (mut w, far) = UnixStream::pair().unwrap();
        let got = drain(far);
        let res = aio::copy_with(&Copier::new(), &mut r, &mut w).await;
        drop(w);
        (res, got.await.unwrap())
    });
    fault::clear();
    let (res, got) = res;
    let e = res.expect_err("EIO is fatal");
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    assert_eq!((e.written(), got.len()), (7000, 7000), "{}", e.report());
}

/// EINTR at the first call and mid-stream is retried, on every path; short calls go on. (An
/// injected EAGAIN would tell the reactor that a ready end is not ready, and no edge would come
/// to wake the copy: real EAGAINs are what the stalled-sink and cancellation tests make.)
#[rstest]
fn injected_eintr_and_short_calls_are_retried(
    #[values(
        (Syscall::Sendfile, Src::File, Dst::Unix),
        (Syscall::Splice, Src::Tcp, Dst::Unix),
        (Syscall::Read, Src::Pipe, Dst::Unix),
        (Syscall::Write, Src::Pipe, Dst::Unix)
    )]
    case: (Syscall, Src, Dst),
) {
    let (call, src, dst) = case;
    fault::inject(
        call,
        vec![
            Fault::Errno(libc::EINTR),
            Fault::Short(1000),
            Fault::Errno(libc::EINTR),
            Fault::Short(1),
        ],
    );
    let expect = expected_path(src, dst, 1);
    run(
        Flavor::CurrentThread,
        pair(src, dst, pattern(2 << 20, 7), Copier::new(), expect),
    );
    let calls = fault::calls(call);
    fault::clear();
    assert!(
        calls >= 4,
        "{call:?}: the script was reached ({calls} calls)"
    );
}

// ---------------------------------------------------------------------------------------------
// Cancellation

/// A copy timed out mid-stream and called again, over and over: every byte arrives once, in
/// order, whatever the copy held when it was dropped.
#[rstest]
fn cancelled_copies_resume_without_loss(
    #[values(Flavor::CurrentThread, Flavor::MultiThread)] flavor: Flavor,
    #[values(Src::Tcp, Src::Pipe, Src::Duplex)] src: Src,
) {
    run(flavor, async move {
        let data = pattern(8 << 20, 8);
        let (far_out, mut w) = UnixStream::pair().unwrap();
        // The far end reads slowly, so the sink blocks and copies are dropped holding bytes.
        let reader = tokio::spawn(async move {
            let mut far_out = far_out;
            let mut v = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                match far_out.read(&mut buf).await.unwrap() {
                    0 => return v,
                    k => v.extend_from_slice(&buf[..k]),
                }
            }
        });
        let mut copy = aio::Resumable::new(Copier::new());
        let mut drops = 0;
        macro_rules! resume {
            ($r:expr) => {{
                let r = $r;
                loop {
                    match tokio::time::timeout(Duration::from_millis(3), copy.copy(r, &mut w)).await
                    {
                        Ok(res) => break res.expect("copy"),
                        Err(_) => drops += 1,
                    }
                }
            }};
        }
        let rep = match src {
            Src::Tcp => {
                let (far, mut r) = tcp_pair().await;
                let f = feed(far, data.clone());
                let rep = resume!(&mut r);
                f.await.unwrap();
                rep
            }
            Src::Pipe => {
                let (far, mut r) = pipe::pipe().unwrap();
                let f = feed(far, data.clone());
                let rep = resume!(&mut r);
                f.await.unwrap();
                rep
            }
            _ => {
                let (far, mut r) = tokio::io::duplex(256 * 1024);
                let f = feed(far, data.clone());
                let rep = resume!(&mut r);
                f.await.unwrap();
                rep
            }
        };
        drop(w);
        let got = reader.await.unwrap();
        assert!(
            drops > 0,
            "no copy was ever dropped: the test tested nothing"
        );
        assert_eq!(copy.held(), 0);
        assert_eq!(rep.written(), data.len() as u64, "{rep}");
        assert_eq!(got.len(), data.len(), "{drops} drops");
        assert!(got == data, "bytes lost or repeated over {drops} drops");
    });
}

/// `select!` drops the copy when another branch wins; the next call delivers what it held.
#[test]
fn select_drops_a_copy_and_the_next_call_delivers() {
    run(Flavor::CurrentThread, async {
        let data = pattern(4 << 20, 9);
        let (far, mut r) = tcp_pair().await;
        let (mut w, far_out) = UnixStream::pair().unwrap();
        let f = feed(far, data.clone());
        let mut copy = aio::Resumable::new(Copier::new());
        // Nobody reads yet: the copy blocks on the sink, holding what it took.
        tokio::select! {
            _ = copy.copy(&mut r, &mut w) => panic!("finished into a sink nobody reads"),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let held = copy.held();
        let got = drain(far_out);
        let rep = copy.copy(&mut r, &mut w).await.expect("resumed");
        drop(w);
        f.await.unwrap();
        let got = got.await.unwrap();
        assert!(got == data, "held {held} bytes at the drop");
        assert_eq!(rep.written(), data.len() as u64);
    });
}

// ---------------------------------------------------------------------------------------------
// Bidirectional, half-close, resets

/// A client sends, shuts down its write side and reads the echo through a relay made of
/// `copy_bidirectional`; the relay's server side is an echo that ends when its input ends.
#[rstest]
fn bidirectional_half_close_echo(
    #[values(Flavor::CurrentThread, Flavor::MultiThread)] flavor: Flavor,
    #[values(1, 65536, 3 << 20)] len: usize,
) {
    run(flavor, async move {
        let data = pattern(len, 10);
        let (mut client, mut relay_a) = tcp_pair().await;
        let (mut relay_b, echo) = tcp_pair().await;
        let echo = tokio::spawn(async move {
            let (mut r, mut w) = echo.into_split();
            tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let relay =
            tokio::spawn(async move { aio::copy_bidirectional(&mut relay_a, &mut relay_b).await });
        let (mut cr, mut cw) = client.split();
        let send = async {
            cw.write_all(&data).await.unwrap();
            cw.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        let recv = cr.read_to_end(&mut got);
        let ((), n) = tokio::join!(send, recv);
        n.unwrap();
        assert!(got == data, "the echo of {len} bytes");
        let (up, down) = relay.await.unwrap().expect("relay");
        assert_eq!((up, down), (len as u64, len as u64));
        echo.await.unwrap();
    });
}

/// One direction ends while the peer goes on sending the other way: the relay keeps that
/// direction going until it ends too.
#[test]
fn bidirectional_keeps_the_other_direction_after_one_ends() {
    run(Flavor::MultiThread, async {
        let (mut a_peer, mut a) = tcp_pair().await;
        let (mut b, mut b_peer) = tcp_pair().await;
        let relay = tokio::spawn(async move { aio::copy_bidirectional(&mut a, &mut b).await });
        // a's side says nothing and closes its write half at once.
        a_peer.shutdown().await.unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(b_peer.read(&mut buf).await.unwrap(), 0, "b sees a's end");
        // b's side keeps sending for a while after that.
        let data = pattern(5 << 20, 11);
        let sent = data.clone();
        let sender = tokio::spawn(async move {
            for chunk in sent.chunks(64 * 1024) {
                b_peer.write_all(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
            b_peer.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        a_peer.read_to_end(&mut got).await.unwrap();
        sender.await.unwrap();
        assert!(got == data, "what b sent after a ended");
        let (up, down) = relay.await.unwrap().expect("relay");
        assert_eq!((up, down), (0, data.len() as u64));
    });
}

/// A peer that resets mid-copy gives a clear error with the count of what arrived.
#[rstest]
fn peer_reset_mid_copy_is_an_error_with_the_count(#[values(Src::Tcp, Src::File)] src: Src) {
    run(Flavor::CurrentThread, async move {
        let data = pattern(16 << 20, 12);
        let dir = scratch();
        let (mut w, far) = tcp_pair().await;
        let reset = tokio::spawn(async move {
            let mut far = far;
            let mut buf = vec![0u8; 100_000];
            far.read_exact(&mut buf).await.unwrap();
            // RST instead of FIN: linger 0 (set on the std socket: tokio's is deprecated).
            let far = far.into_std().unwrap();
            socket2::SockRef::from(&far)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(far);
        });
        let res = match src {
            Src::File => {
                std::fs::write(dir.path().join("s"), &data).unwrap();
                let mut r = tokio::fs::File::open(dir.path().join("s")).await.unwrap();
                aio::copy_with(&Copier::new(), &mut r, &mut w).await
            }
            _ => {
                let (feed_end, mut r) = tcp_pair().await;
                let f = feed(feed_end, data.clone());
                let res = aio::copy_with(&Copier::new(), &mut r, &mut w).await;
                drop(r);
                let _ = f.await;
                res
            }
        };
        reset.await.unwrap();
        let e = res.expect_err("the peer reset");
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
        assert!(
            e.written() >= 100_000 && e.written() < data.len() as u64,
            "{e}"
        );
    });
}

/// A descriptor that is blocking where the copy needs a non-blocking one is a clear error, not
/// a blocked runtime.
#[test]
fn a_blocking_child_pipe_is_refused() {
    struct Blocking(std::io::PipeWriter);
    impl tokio::io::AsyncWrite for Blocking {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            b: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Ready(std::io::Write::write(&mut self.get_mut().0, b))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
    impl aio::AsyncReaderFrom for Blocking {
        fn sink_end(&mut self) -> Option<aio::SinkEnd<'_>> {
            Some(aio::SinkEnd::ChildPipe(std::os::fd::AsFd::as_fd(&self.0)))
        }
    }
    run(Flavor::CurrentThread, async {
        let (_r, w) = std::io::pipe().unwrap();
        let (far, mut src) = tcp_pair().await;
        let _f = feed(far, pattern(1000, 1));
        let e = aio::copy_with(&Copier::new(), &mut src, &mut Blocking(w))
            .await
            .expect_err("a blocking descriptor");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    });
}

// ---------------------------------------------------------------------------------------------
// A stalled sink, and many relays

/// CPU seconds of this thread so far: on the current-thread runtime, the copy's, the far ends'
/// and the test's (other tests of the binary run on threads of their own).
fn cpu_secs() -> f64 {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD).unwrap();
    let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    tv(u.user_time()) + tv(u.system_time())
}

/// A sink that stops reading for two seconds: the copy waits on its readiness, and the process
/// spends next to no CPU meanwhile (a copy that retried EAGAIN would spin a core).
#[rstest]
fn a_stalled_sink_costs_no_cpu(#[values(Src::Tcp, Src::File, Src::Pipe)] src: Src) {
    run(Flavor::CurrentThread, async move {
        let data = pattern(16 << 20, 13);
        let dir = scratch();
        let (w, mut far) = UnixStream::pair().unwrap();
        let copier = Copier::new().grow_buffers(false);
        let len = data.len();
        let dir_path = dir.path().to_path_buf();
        let copy = async move {
            let mut w = w;
            let dir = dir_path;
            match src {
                Src::File => {
                    std::fs::write(dir.join("s"), &data).unwrap();
                    let mut r = tokio::fs::File::open(dir.join("s")).await.unwrap();
                    aio::copy_with(&copier, &mut r, &mut w).await
                }
                Src::Pipe => {
                    let (feed_end, mut r) = pipe::pipe().unwrap();
                    let f = feed(feed_end, data.clone());
                    let res = aio::copy_with(&copier, &mut r, &mut w).await;
                    f.await.unwrap();
                    res
                }
                _ => {
                    let (feed_end, mut r) = tcp_pair().await;
                    let f = feed(feed_end, data.clone());
                    let res = aio::copy_with(&copier, &mut r, &mut w).await;
                    f.await.unwrap();
                    res
                }
            }
            // `w` drops here: the far end sees the end.
        };
        let stall = async {
            let mut first = vec![0u8; 1000];
            far.read_exact(&mut first).await.unwrap();
            let before = cpu_secs();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let spent = cpu_secs() - before;
            let mut rest = Vec::new();
            far.read_to_end(&mut rest).await.unwrap();
            (spent, first.len() + rest.len())
        };
        let (res, (spent, got)) = tokio::join!(copy, stall);
        res.expect("copy");
        assert_eq!(got, len);
        assert!(
            spent < 0.2,
            "{spent:.3} CPU seconds in 2 s of a stalled sink: a spin"
        );
    });
}

/// A thousand relays in one runtime: every byte exact, the descriptors back to their baseline,
/// resident memory bounded (the pipe pool keeps at most 16).
#[test]
fn a_thousand_relays_at_once() {
    run(Flavor::MultiThread, async {
        let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let rss = || {
            let s = std::fs::read_to_string("/proc/self/statm").unwrap();
            s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Warm the runtime and the pool, then take the baselines.
        let (fd_base, rss_base) = (fds(), rss());
        let mut tasks = Vec::new();
        for i in 0..1000u64 {
            let conn = TcpStream::connect(addr);
            let (client, accepted) = tokio::join!(conn, listener.accept());
            let (client, server) = (client.unwrap(), accepted.unwrap().0);
            tasks.push(tokio::spawn(async move {
                let data = pattern(20_000 + (i as usize % 7) * 10_000, i);
                let (mut out, sink) = UnixStream::pair().unwrap();
                let f = feed(client, data.clone());
                let got = drain(sink);
                let mut server = server;
                let n = aio::copy(&mut server, &mut out).await.unwrap();
                drop(out);
                f.await.unwrap();
                let got = got.await.unwrap();
                assert_eq!(n, data.len() as u64);
                assert!(got == data, "relay {i}");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while fds() > fd_base + 2 * 16 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            fds() <= fd_base + 2 * 16,
            "descriptors {} over a baseline of {fd_base} (+16 pooled pipes)",
            fds()
        );
        let grown = rss().saturating_sub(rss_base);
        assert!(grown < 256 << 20, "resident memory grew {grown} bytes");
    });
}
