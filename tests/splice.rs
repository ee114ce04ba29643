//! Sockets and pipes: splice directly and through the pooled pipe, resumable non-blocking copies,
//! the half-closing proxy, stranded bytes, descriptor leaks and copies at explicit offsets.
#![cfg(target_os = "linux")]

mod util;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::thread;
use std::time::Duration;

use io_copy::{Copier, CopyError, Path, Reason, Resumable};
use rstest::rstest;
use util::*;

/// Relays `data` from a TCP client through a copy into a TCP server end and returns the report.
fn tcp_relay(copier: Copier, data: &[u8]) -> io_copy::Report {
    let (mut client, mut relay_in) = tcp_pair();
    let (mut relay_out, server) = tcp_pair();
    let reader = drain(server);
    let feeder = {
        let data = data.to_vec();
        thread::spawn(move || {
            client.write_all(&data).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        })
    };
    let report = copier.copy(&mut relay_in, &mut relay_out).expect("relay");
    relay_out.shutdown(Shutdown::Write).unwrap();
    feeder.join().unwrap();
    assert_eq!(reader.join().unwrap(), data, "bytes");
    assert_eq!(report.written(), data.len() as u64, "count");
    report
}

#[rstest]
fn tcp_to_tcp_splices_through_pipe_of_policy_size(
    #[values(4096, 16 * 1024, 64 * 1024, 1 << 20)] pipe_size: usize,
    #[values(0, 1, 65_535, 65_537, (1 << 20) + 7, 5 << 20)] len: usize,
) {
    let data = pattern(len, len as u64);
    // first_read(0): the relay from the first byte (the first reads have their own tests).
    let report = tcp_relay(Copier::new().first_read(0).pipe_size(pipe_size), &data);
    if len > 0 {
        assert_eq!(report.main_path(), Some(Path::Splice), "{report}");
        assert_eq!(report.pipe_size(), Some(pipe_size), "{report}");
        assert_eq!(report.path_stats(Path::Buffered).bytes, 0, "{report}");
    }
}

#[test]
fn splice_policy_off_takes_the_loop() {
    let data = pattern(300_000, 1);
    let report = tcp_relay(Copier::new().splice(false), &data);
    assert_eq!(report.main_path(), Some(Path::Buffered));
    assert_eq!(
        report.fallback_from(Path::Splice).map(|f| f.reason),
        Some(Reason::Disabled)
    );
}

#[test]
fn socket_to_file_splices_through_pipe() {
    let dir = scratch();
    let data = pattern(3 << 20, 2);
    let (a, mut b) = tcp_pair();
    let feeder = feed(a, data.clone());
    let (mut dst, path) = sink_file(dir.path(), "dst");
    let report = Copier::new().copy(&mut b, &mut dst).unwrap();
    feeder.join().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), data);
    assert_eq!(position(&mut dst), data.len() as u64);
    assert_eq!(report.main_path(), Some(Path::Splice), "{report}");
    assert!(report.pipe_size().is_some(), "through the pool: {report}");
}

/// A pipe source takes the read/write loop by default, reading at most half the pipe's
/// capacity at a time (so a writer can refill the other half meanwhile).
#[test]
fn pipe_source_is_read_half_a_pipe_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(50_000, 41);
    let (mut rd, mut wr) = io::pipe().unwrap();
    wr.write_all(&data).unwrap();
    drop(wr);
    let mut dst = File::create(dir.path().join("d")).unwrap();
    let report = Copier::new().copy(&mut rd, &mut dst).unwrap();
    assert_eq!(std::fs::read(dir.path().join("d")).unwrap(), data);
    // 32 KiB of the 64 KiB pipe, its last 17,232 bytes, each written, then the end.
    assert_eq!(
        (report.main_path(), report.path_stats(Path::Buffered).calls),
        (Some(Path::Buffered), 5),
        "{report}"
    );

    // A pipe made larger by its owner is read in larger halves.
    let data = pattern(200_000, 43);
    let (mut rd, mut wr) = io::pipe().unwrap();
    let cap = nix::fcntl::fcntl(&wr, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20)).unwrap();
    assert!(cap >= 1 << 20, "pipe capacity {cap}");
    wr.write_all(&data).unwrap();
    drop(wr);
    let mut dst = File::create(dir.path().join("e")).unwrap();
    let report = Copier::new()
        .buffer_size(1 << 20)
        .copy(&mut rd, &mut dst)
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("e")).unwrap(), data);
    assert_eq!(report.path_stats(Path::Buffered).calls, 3, "{report}");
}

#[test]
fn pipe_ends_splice_directly() {
    let data = pattern(2 << 20, 3);
    // pipe → TCP
    let (rd, wr) = io::pipe().unwrap();
    let (mut a, b) = tcp_pair();
    let feeder = feed(wr, data.clone());
    let reader = drain(b);
    let report = Copier::new()
        .splice_from_pipe(true)
        .copy(&mut &rd, &mut a)
        .unwrap();
    drop(a);
    feeder.join().unwrap();
    assert_eq!(reader.join().unwrap(), data);
    assert_eq!(report.main_path(), Some(Path::Splice), "{report}");
    assert_eq!(report.pipe_size(), None, "no intermediate pipe: {report}");
    // Unix → pipe
    let (ua, mut ub) = unix_pair();
    let (rd, mut wr) = io::pipe().unwrap();
    let feeder = feed(ua, data.clone());
    let reader = drain(rd);
    let report = Copier::new().copy(&mut ub, &mut wr).unwrap();
    drop(wr);
    feeder.join().unwrap();
    assert_eq!(reader.join().unwrap(), data);
    assert_eq!(report.main_path(), Some(Path::Splice), "{report}");
}

/// SOCK_SEQPACKET keeps message boundaries, which splice would merge.
#[test]
fn seqpacket_keeps_message_boundaries() {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let pair = || -> (File, File) {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        (File::from(a), File::from(b))
    };
    let (mut feed_end, mut src) = pair();
    let (mut dst, mut out) = pair();
    for m in [&b"one"[..], b"second", b"third message"] {
        feed_end.write_all(m).unwrap();
    }
    drop(feed_end);
    let report = Copier::new().copy(&mut src, &mut dst).unwrap();
    assert_eq!(report.main_path(), Some(Path::Buffered), "{report}");
    drop(dst);
    let mut got = Vec::new();
    let mut buf = [0u8; 100];
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.push(buf[..n].to_vec());
    }
    assert_eq!(
        got,
        [&b"one"[..], b"second", b"third message"],
        "one message per read"
    );
}

/// The sink's peer goes away while bytes sit in the relay pipe: the error says how many reached
/// the sink and how many were read but not delivered, and those plus what the source still holds
/// are exactly what was sent.
#[test]
fn relay_reports_stranded_bytes_when_sink_closes() {
    let total = 8 << 20;
    let data = pattern(total, 4);
    let (mut client, mut relay_in) = tcp_pair();
    let (mut relay_out, server) = tcp_pair();
    let feeder = thread::spawn(move || {
        let _ = client.write_all(&data);
        client
    });
    // The server reads a little, then closes with unread data: the relay's writes fail.
    let closer = thread::spawn(move || {
        let mut server = server;
        let mut buf = vec![0u8; 100_000];
        let mut got = 0;
        while got < 100_000 {
            got += server.read(&mut buf[got..]).unwrap();
        }
        drop(server);
        got
    });
    let res = Copier::new()
        .pipe_size(64 * 1024)
        .copy(&mut relay_in, &mut relay_out);
    let server_got = closer.join().unwrap();
    let err = res.expect_err("the sink went away");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    assert!(err.written() >= server_got as u64, "{err}");
    let stranded = err.report().stranded();
    eprintln!("{err}: {}", err.report());
    // What the source still has: read it while the feeder finishes, then end the stream.
    drop(relay_out);
    let rest = drain(relay_in);
    drop(feeder.join().unwrap());
    let rest = rest.join().unwrap();
    assert_eq!(
        err.written() + stranded + rest.len() as u64,
        total as u64,
        "written {} + stranded {stranded} + left in source {}: {}",
        err.written(),
        rest.len(),
        err.report()
    );
}

/// Waits until `fd` is readable (or writable), at most a second.
fn wait(fd: impl AsFd, writable: bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let flags = if writable {
        PollFlags::POLLOUT
    } else {
        PollFlags::POLLIN
    };
    let mut fds = [PollFd::new(fd.as_fd(), flags)];
    poll(&mut fds, PollTimeout::from(1000u16)).unwrap();
}

/// Non-blocking ends: the copy returns WouldBlock with exact counts, keeps what it took, and a
/// resumed copy completes.
#[rstest]
fn nonblocking_copy_resumes_to_completion(
    #[values("tcp-tcp", "tcp-unix", "unix-tcp", "pipe-tcp")] pair: &str,
    #[values(Copier::new(), Copier::buffered_only())] copier: Copier,
) {
    let total = 6 << 20;
    let data = pattern(total, 5);
    let (feed_w, src): (Box<dyn Write + Send>, OwnedFd) = match &pair[..3] {
        "tcp" => {
            let (a, b) = tcp_pair();
            (Box::new(a), b.into())
        }
        "uni" => {
            let (a, b) = unix_pair();
            (Box::new(a), b.into())
        }
        _ => {
            let (r, w) = io::pipe().unwrap();
            (Box::new(w), r.into())
        }
    };
    let (dst, out): (OwnedFd, Box<dyn Read + Send>) = if pair.ends_with("tcp") {
        let (a, b) = tcp_pair();
        (a.into(), Box::new(b))
    } else {
        let (a, b) = unix_pair();
        (a.into(), Box::new(b))
    };
    let mut src = File::from(src);
    let mut dst = File::from(dst);
    for f in [&src, &dst] {
        let fl = nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_SETFL(fl)).unwrap();
    }
    // A paced feeder, so the source runs dry now and then. It starts only once the first copy
    // has found the source empty, so WouldBlock is met at least once however fast the ends are
    // (under qemu TCG the copy can be slower than the feeder and never find it dry again).
    let (go, start) = std::sync::mpsc::channel::<()>();
    let feeder = {
        let (mut w, data) = (feed_w, data.clone());
        thread::spawn(move || {
            start.recv().unwrap();
            for chunk in data.chunks(256 * 1024) {
                w.write_all(chunk).unwrap();
                thread::sleep(Duration::from_micros(300));
            }
        })
    };
    // A slow reader, so the sink fills and answers EAGAIN too.
    let reader = thread::spawn(move || {
        let mut out = out;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = out.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
            thread::sleep(Duration::from_micros(200));
        }
    });
    let mut copy: Resumable = copier.resumable();
    let mut written = 0u64;
    let mut would_block = 0;
    let mut go = Some(go);
    loop {
        match copy.copy(&mut src, &mut dst) {
            Ok(r) => {
                written += r.written();
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                would_block += 1;
                if let Some(go) = go.take() {
                    assert_eq!(e.written(), 0, "nothing to copy before the feeder starts");
                    go.send(()).unwrap();
                }
                written += e.written();
                assert_eq!(e.report().stranded(), 0, "nothing lost: {}", e.report());
                assert_eq!(e.report().held(), copy.held(), "held is reported");
                match e.report().blocked_on() {
                    Some(io_copy::End::Sink) => wait(&dst, true),
                    Some(io_copy::End::Source) => wait(&src, false),
                    // Both ends were ready again by the time the copy looked: go on.
                    None => thread::yield_now(),
                }
            }
            Err(e) => panic!("copy failed: {e}"),
        }
        assert!(would_block < 1_000_000, "no progress");
    }
    drop(dst);
    feeder.join().unwrap();
    let got = reader.join().unwrap();
    assert_eq!(written, total as u64, "the counts add up");
    assert_eq!(got.len(), total, "bytes arrived");
    assert!(got == data, "bytes in order");
    assert!(would_block > 0, "the test exercised WouldBlock");
}

/// golang/go#25985: a proxy that copies both ways on two threads ends when each side
/// half-closes, without hanging.
#[test]
fn half_close_proxy_completes_both_directions() {
    let (mut client, proxy_a) = tcp_pair();
    let (proxy_b, mut server) = tcp_pair();
    let request = pattern(3 << 20, 6);
    let response = pattern(2 << 20, 7);

    let pipe_dir = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let n = io_copy::copy(&mut from, &mut to).expect("proxy copy");
            to.shutdown(Shutdown::Write).unwrap();
            n
        })
    };
    let up = pipe_dir(proxy_a.try_clone().unwrap(), proxy_b.try_clone().unwrap());
    let down = pipe_dir(proxy_b, proxy_a);

    let server_thread = {
        let (request, response) = (request.clone(), response.clone());
        thread::spawn(move || {
            let mut got = Vec::new();
            server.read_to_end(&mut got).unwrap(); // ends at the client's half-close
            assert!(got == request, "server got the request");
            server.write_all(&response).unwrap();
            server.shutdown(Shutdown::Write).unwrap();
        })
    };
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert!(got == response, "client got the response");
    server_thread.join().unwrap();
    assert_eq!(up.join().unwrap(), request.len() as u64);
    assert_eq!(down.join().unwrap(), response.len() as u64);
}

/// 10,000 copies from 16 threads through the shared pool: every copy exact, the pool bounded,
/// and the process's descriptor count back where it started.
#[test]
fn pipe_pool_leaks_no_descriptors() {
    // Sockets made up front so the only descriptors that come and go are the pool's.
    let threads = 16;
    let per_thread = 10_000 / threads;
    let baseline = open_fds();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            thread::spawn(move || {
                let (mut a, mut b) = unix_pair();
                let (mut c, mut d) = unix_pair();
                let data = pattern(1000 + i * 97, i as u64);
                let mut buf = vec![0u8; data.len()];
                for _ in 0..per_thread {
                    a.write_all(&data).unwrap();
                    // small_copy(0), first_read(0): small as they are, these copies go
                    // through the pool.
                    let r = Copier::new()
                        .small_copy(0)
                        .first_read(0)
                        .copy_n(&mut b, &mut c, data.len() as u64)
                        .unwrap();
                    assert_eq!(r.written(), data.len() as u64);
                    assert!(r.pipe_size().is_some(), "through the pool: {r}");
                    d.read_exact(&mut buf).unwrap();
                    assert!(buf == data, "exact");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(io_copy::idle_pipes() <= 16, "the pool is bounded");
    // Other tests of this binary run beside this one and open descriptors of their own for a
    // moment; a leak stays. Look again for up to 5 s before calling it one.
    let mut after = open_fds();
    for _ in 0..50 {
        if after <= baseline + 2 * io_copy::idle_pipes() {
            break;
        }
        thread::sleep(Duration::from_millis(100));
        after = open_fds();
    }
    assert!(
        after <= baseline + 2 * io_copy::idle_pipes(),
        "descriptors: {baseline} before, {after} after, {} idle pipes",
        io_copy::idle_pipes()
    );
}

#[test]
fn offset_copies_leave_positions_untouched() {
    let dir = scratch();
    let data = pattern(300_000, 8);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    seek(&mut src, 777);

    // To a file at an offset, both positions untouched.
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    dst.write_all(&[b'-'; 10]).unwrap();
    let r = Copier::new().copy_at(&src, 1000, &dst, 5, 200_000).unwrap();
    assert_eq!(r.written(), 200_000);
    assert_eq!(r.main_path(), Some(Path::CopyFileRange), "{r}");
    let got = std::fs::read(&dst_path).unwrap();
    assert_eq!(&got[..5], b"-----");
    assert_eq!(&got[5..], &data[1000..201_000]);
    assert_eq!((position(&mut src), position(&mut dst)), (777, 10));

    // The pread/pwrite fallback does the same.
    let (mut dst2, dst2_path) = sink_file(dir.path(), "dst2");
    let r = Copier::buffered_only()
        .copy_at(&src, 299_000, &dst2, 3, 5000)
        .unwrap();
    assert_eq!(r.written(), 1000, "past the end: short count");
    assert_eq!(&std::fs::read(dst2_path).unwrap()[3..], &data[299_000..]);
    assert_eq!((position(&mut src), position(&mut dst2)), (777, 0));

    // To a socket (sendfile with an offset) and to memory (pread).
    let (mut a, b) = tcp_pair();
    let reader = drain(b);
    let r = Copier::new().copy_range(&src, 10, 100_000, &mut a).unwrap();
    drop(a);
    assert_eq!(reader.join().unwrap(), &data[10..100_010]);
    assert_eq!(r.main_path(), Some(Path::Sendfile), "{r}");
    let mut v = Vec::new();
    assert_eq!(
        io_copy::copy_range(&src, 299_990, 1 << 40, &mut v).unwrap(),
        10
    );
    assert_eq!(v, &data[299_990..]);
    assert_eq!(position(&mut src), 777);

    // To a pipe (sendfile with an offset), with a fault after partial progress.
    let (rd, mut wr) = io::pipe().unwrap();
    let reader = drain(rd);
    io_copy::fault::inject(
        io_copy::fault::Syscall::Sendfile,
        vec![
            io_copy::fault::Fault::Short(4321),
            io_copy::fault::Fault::Errno(libc::EINVAL),
        ],
    );
    let r = Copier::new()
        .copy_range(&src, 50, 250_000, &mut wr)
        .unwrap();
    io_copy::fault::clear();
    drop(wr);
    assert_eq!(reader.join().unwrap(), &data[50..250_050]);
    assert_eq!(r.path_stats(Path::Sendfile).bytes, 4321, "{r}");
    assert_eq!(position(&mut src), 777);
}

#[test]
fn offsets_past_i64_are_invalid_input() {
    let dir = scratch();
    let (src, _) = source_file(dir.path(), "src", b"abc");
    let (dst, _) = sink_file(dir.path(), "dst");
    let big = i64::MAX as u64;
    let cases: Vec<Result<io_copy::Report, CopyError>> = vec![
        Copier::new().copy_range(&src, big, 1, &mut Vec::new()),
        Copier::new().copy_range(&src, u64::MAX, 0, &mut Vec::new()),
        Copier::new().copy_range(&src, 0, u64::MAX, &mut Vec::new()),
        Copier::new().copy_at(&src, 0, &dst, big, 1),
        Copier::new().copy_at(&src, 1, &dst, 0, big),
    ];
    for c in cases {
        let e = c.expect_err("offset overflow");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(e.written(), 0);
    }
    // Right at the edge is fine: nothing to read there.
    assert_eq!(
        Copier::new()
            .copy_range(&src, big - 1, 1, &mut Vec::new())
            .unwrap()
            .written(),
        0
    );
}

#[test]
fn copy_at_refuses_append_sink() {
    let dir = scratch();
    let (src, _) = source_file(dir.path(), "src", b"abc");
    let path = dir.path().join("dst");
    let dst = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let e = Copier::new().copy_at(&src, 0, &dst, 0, 3).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

/// A sink that takes `budget` bytes, then answers WouldBlock; no descriptor.
struct Trickle {
    out: Vec<u8>,
    budget: usize,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io_copy::ReaderFrom for Trickle {}

/// Bytes a relay left in its pipe are delivered whole, to the same sink or another, even through
/// a sink without a descriptor that blocks part way.
#[test]
fn held_relay_pipe_survives_a_blocking_writer_without_fd() {
    use io_copy::fault::{self, Fault, Syscall};
    let data = pattern(300_000, 9);
    let (client, mut src) = tcp_pair();
    let feeder = feed(client, data.clone());
    let (mut dst, _peer) = tcp_pair();
    let mut copy = Copier::new().first_read(0).pipe_size(64 * 1024).resumable();
    // The drain of the first round answers EAGAIN: the round's bytes stay in the pipe.
    fault::inject(
        Syscall::Splice,
        vec![Fault::Pass, Fault::Errno(libc::EAGAIN)],
    );
    let e = copy.copy(&mut src, &mut dst);
    fault::clear();
    let e = e.expect_err("blocked");
    assert_eq!(e.report().blocked_on(), Some(io_copy::End::Sink));
    let held = copy.held();
    assert!(held > 0, "the pipe's bytes are held: {}", e.report());
    // Deliver through a writer without a descriptor that blocks after 1000 bytes, then finish.
    let mut out = Trickle {
        out: Vec::new(),
        budget: 1000,
    };
    let e = copy
        .copy(&mut (&src).take(0), &mut out)
        .expect_err("trickle blocks");
    assert_eq!(e.written(), 1000);
    assert_eq!(
        copy.held(),
        held - 1000,
        "what the trickle did not take is still held"
    );
    out.budget = usize::MAX;
    let r = copy.copy(&mut src, &mut out).unwrap();
    feeder.join().unwrap();
    assert_eq!(r.stranded(), 0);
    assert!(out.out == data, "every byte once, in order");
}

/// The relay's drain falls back to read/write and that write blocks: the rest of the pipe is
/// held after the unwritten part of the buffer, and a resumed copy completes in order.
#[test]
fn relay_drain_fallback_then_blocked_write_loses_nothing() {
    use io_copy::fault::{self, Fault, Syscall};
    let data = pattern(300_000, 10);
    let (client, mut src) = tcp_pair();
    let feeder = feed(client, data.clone());
    let (mut dst, peer) = tcp_pair();
    let reader = drain(peer);
    let mut copy = Copier::new().pipe_size(64 * 1024).resumable();
    fault::inject(
        Syscall::Splice,
        vec![Fault::Pass, Fault::Errno(libc::EINVAL)],
    );
    fault::inject(
        Syscall::Write,
        vec![Fault::Short(10), Fault::Errno(libc::EAGAIN)],
    );
    let e = copy.copy(&mut src, &mut dst).expect_err("blocked");
    fault::clear();
    assert_eq!(e.report().stranded(), 0, "{}", e.report());
    assert!(copy.held() > 0);
    let r = copy.copy(&mut src, &mut dst).unwrap();
    drop(dst);
    feeder.join().unwrap();
    assert_eq!(e.written() + r.written(), data.len() as u64);
    assert!(reader.join().unwrap() == data, "every byte once, in order");
}

/// A child made by fork shares the parent's pooled pipes; the pool must not hand them to both.
#[test]
fn pooled_pipes_are_not_shared_with_a_forked_child() {
    const CHILD: &str = "IO_COPY_FORK_CHILD";
    if std::env::var_os(CHILD).is_none() {
        // Fork from a process with few threads: this test binary, run for this test alone.
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "pooled_pipes_are_not_shared_with_a_forked_child",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "a process saw another's bytes: {status}");
        return;
    }
    let relay_tagged = |tag: u8| -> bool {
        let (mut a, mut b) = unix_pair();
        let (mut c, d) = unix_pair();
        let reader = drain(d);
        let writer = thread::spawn(move || {
            a.write_all(&vec![tag; 1 << 20]).unwrap();
        });
        io_copy::copy_n(&mut b, &mut c, 1 << 20).unwrap();
        drop(c);
        writer.join().unwrap();
        reader.join().unwrap().iter().all(|&x| x == tag)
    };
    assert!(relay_tagged(0), "warm the pool");
    // SAFETY: this process runs only this test on the main thread; the child uses the pool,
    // sockets and threads of its own and leaves with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let ok = (0..20).all(|_| relay_tagged(2));
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            let ok = (0..20).all(|_| relay_tagged(1));
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert!(ok, "the parent saw the child's bytes");
            assert_eq!(
                status,
                nix::sys::wait::WaitStatus::Exited(child, 0),
                "the child saw the parent's bytes"
            );
        }
    }
}

/// The capacity of a pipe (`F_GETPIPE_SZ`).
fn capacity(fd: impl AsFd) -> usize {
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ") as usize
}

/// Copies `data` from a file into a new pipe (64 KiB, read by a thread) with `copier`, and
/// returns the report and the pipe's capacity afterwards.
fn file_to_pipe(copier: Copier, data: &[u8]) -> (io_copy::Report, usize) {
    let dir = scratch();
    let (mut src, _) = source_file(dir.path(), "src", data);
    let (r, mut w) = io::pipe().expect("pipe");
    assert_eq!(capacity(&w), 64 * 1024, "a new pipe's default capacity");
    let reader = drain(r);
    let report = copier.copy(&mut src, &mut w).expect("copy");
    let after = capacity(&w);
    drop(w);
    assert!(reader.join().unwrap() == data, "bytes");
    assert_eq!(report.written(), data.len() as u64, "count");
    (report, after)
}

/// Zero-copy into a small pipe wakes its reader every 64 KiB; a copy known to be larger grows
/// the pipe to hold it, up to the policy's pipe size.
#[rstest]
fn pipe_sink_grows_to_hold_a_large_copy(
    #[values((100 * 1024, 128 * 1024), ((1 << 20) + 7, 1 << 20), (8 << 20, 1 << 20))] case: (
        usize,
        usize,
    ),
) {
    let (len, grown) = case;
    let (report, after) = file_to_pipe(Copier::new(), &pattern(len, 9));
    assert_eq!(report.main_path(), Some(Path::Sendfile), "{report}");
    assert_eq!(report.grown_sink(), Some(grown), "{report}");
    assert_eq!(after, grown, "the caller's pipe keeps its new size");
}

#[test]
fn pipe_sink_is_left_alone_when_asked_or_when_the_copy_fits() {
    let (report, after) = file_to_pipe(Copier::new().grow_buffers(false), &pattern(1 << 20, 1));
    assert_eq!((report.grown_sink(), after), (None, 64 * 1024), "{report}");
    let (report, after) = file_to_pipe(Copier::new(), &pattern(64 * 1024, 2));
    assert_eq!((report.grown_sink(), after), (None, 64 * 1024), "{report}");
    let (report, after) = file_to_pipe(Copier::new().pipe_size(4096), &pattern(1 << 20, 3));
    assert_eq!(
        (report.grown_sink(), after),
        (None, 64 * 1024),
        "never shrunk: {report}"
    );
}

/// `EPERM` past the per-user pipe limit, or any refusal of `F_SETPIPE_SZ`, leaves the pipe as it
/// was; the copy goes on.
#[test]
fn refused_pipe_growth_is_not_an_error() {
    for errno in [libc::EPERM, libc::EBUSY, libc::EINVAL] {
        let res = thread::spawn(move || {
            io_copy::fault::inject(
                io_copy::fault::Syscall::GrowBuffer,
                vec![io_copy::fault::Fault::Errno(errno)],
            );
            file_to_pipe(Copier::new(), &pattern(1 << 20, 4))
        })
        .join();
        let (report, after) = res.expect("copy thread");
        assert_eq!(
            (report.grown_sink(), after),
            (None, 64 * 1024),
            "errno {errno}: {report}"
        );
        assert_eq!(report.main_path(), Some(Path::Sendfile), "{report}");
    }
}

/// A pipe spliced from a socket is left alone, whatever the size (a larger pipe was slower
/// there).
#[test]
fn socket_to_pipe_leaves_the_pipe_alone() {
    for limit in [Some(300 * 1024u64), None] {
        let data = pattern(300 * 1024, 5);
        let (a, mut b) = tcp_pair();
        let feeder = feed(a, data.clone());
        let (r, mut w) = io::pipe().expect("pipe");
        let reader = drain(r);
        let report = match limit {
            Some(n) => Copier::new().copy(&mut (&mut b).take(n), &mut w),
            None => Copier::new().copy(&mut b, &mut w),
        }
        .expect("copy");
        let after = capacity(&w);
        drop(w);
        feeder.join().unwrap();
        assert!(reader.join().unwrap() == data, "bytes");
        assert_eq!(report.main_path(), Some(Path::Splice), "{report}");
        assert_eq!(report.grown_sink(), None, "limit {limit:?}: {report}");
        assert_eq!(after, 64 * 1024, "limit {limit:?}");
    }
}

/// A Unix socket's send buffer is grown like a pipe (up to the policy's pipe size, and
/// `wmem_max`); a TCP socket keeps the kernel's own tuning.
#[test]
fn unix_socket_sink_send_buffer_grows_and_tcp_is_left_alone() {
    use nix::sys::socket::{getsockopt, sockopt::SndBuf};
    let data = pattern((1 << 20) + 7, 11);
    let dir = scratch();
    for grow in [true, false] {
        let (mut src, _) = source_file(dir.path(), "src", &data);
        let (mut near, far) = unix_pair();
        let before = getsockopt(&near, SndBuf).unwrap();
        let reader = drain(far);
        let report = Copier::new()
            .grow_buffers(grow)
            .copy(&mut src, &mut near)
            .expect("copy");
        let after = getsockopt(&near, SndBuf).unwrap();
        drop(near);
        assert!(reader.join().unwrap() == data, "bytes");
        assert_eq!(report.main_path(), Some(Path::Sendfile), "{report}");
        if grow {
            assert!(after > before, "grown from {before} to {after}: {report}");
            assert_eq!(report.grown_sink(), Some(after), "{report}");
        } else {
            assert_eq!((report.grown_sink(), after), (None, before), "{report}");
        }
    }
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (mut near, far) = tcp_pair();
    let before = getsockopt(&near, SndBuf).unwrap();
    let reader = drain(far);
    let report = Copier::new().copy(&mut src, &mut near).expect("copy");
    let after = getsockopt(&near, SndBuf).unwrap();
    drop(near);
    assert!(reader.join().unwrap() == data, "tcp bytes");
    assert_eq!(report.grown_sink(), None, "{report}");
    assert!(after >= before, "tcp: the kernel's own tuning only");
}

/// A TCP relay of at most `limit` bytes of `data`, which starts once the source has queued
/// all of it or 16 KiB (so the first read of 16 KiB or less comes back full, or with all there
/// is). Returns the report and what the source still held.
fn queued_tcp_relay(copier: Copier, data: &[u8], limit: Option<u64>) -> (io_copy::Report, Vec<u8>) {
    let (client, mut relay_in) = tcp_pair();
    let (mut relay_out, server) = tcp_pair();
    let reader = drain(server);
    let feeder = feed(client, data.to_vec());
    wait_queued(relay_in.as_fd(), data.len().min(16 * 1024) as u64);
    let report = match limit {
        Some(n) => copier.copy_n(&mut relay_in, &mut relay_out, n),
        None => copier.copy(&mut relay_in, &mut relay_out),
    }
    .expect("relay");
    relay_out.shutdown(Shutdown::Write).unwrap();
    feeder.join().unwrap();
    let want = limit.map_or(data.len(), |n| n as usize);
    assert_eq!(reader.join().unwrap(), &data[..want], "bytes");
    assert_eq!(report.written(), want as u64, "count: {report}");
    let mut rest = Vec::new();
    relay_in.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest,
        &data[want..],
        "the source keeps what the copy did not take"
    );
    (report, rest)
}

/// A flow that never fills a first read (a request, a small response) takes `recv` and `send`
/// and no relay pipe; at the default and at a first read set larger.
#[rstest]
fn small_socket_flow_takes_first_reads_only(
    #[values(1, 4096, 16 * 1024 - 1)] len: usize,
    #[values(None, Some(64 * 1024))] first_read: Option<usize>,
) {
    let copier = first_read.map_or(Copier::new(), |b| Copier::new().first_read(b));
    let data = pattern(len, 11);
    let (report, _) = queued_tcp_relay(copier, &data, None);
    assert_eq!(report.main_path(), Some(Path::Buffered), "{report}");
    assert_eq!(report.path_stats(Path::Splice).calls, 0, "{report}");
    assert_eq!(report.pipe_size(), None, "no relay pipe: {report}");
}

/// A read that fills the first read hands the rest to the relay: the bulk of the bytes move by
/// splice, exactly one first read's worth by the loop.
#[rstest]
fn full_first_read_hands_the_rest_to_the_relay(
    #[values(16 * 1024, 4096)] first_read: usize,
    #[values(16 * 1024 + 1, 100_000)] len: usize,
) {
    let copier = Copier::new().first_read(first_read);
    let data = pattern(len, 12);
    let (report, _) = queued_tcp_relay(copier, &data, None);
    assert_eq!(
        report.path_stats(Path::Buffered).bytes,
        first_read as u64,
        "{report}"
    );
    assert_eq!(
        report.path_stats(Path::Splice).bytes,
        (len - first_read) as u64,
        "{report}"
    );
}

/// Limits are exact through the first reads: below a first read the loop takes all, above it
/// the relay takes what the first read left.
#[rstest]
#[case::below(5000, 0)]
#[case::at(16 * 1024, 0)]
#[case::above(20_000, 20_000 - 16 * 1024)]
fn first_reads_keep_a_limit_exact(#[case] limit: u64, #[case] spliced: u64) {
    let data = pattern(100_000, 13);
    // small_copy(0): limits this small would take the loop at once.
    let (report, rest) = queued_tcp_relay(Copier::new().small_copy(0), &data, Some(limit));
    assert_eq!(rest.len() as u64, 100_000 - limit);
    assert_eq!(report.path_stats(Path::Splice).bytes, spliced, "{report}");
    assert_eq!(
        report.path_stats(Path::Buffered).bytes,
        limit - spliced,
        "{report}"
    );
}

/// Into a file too: a small flow takes the loop, and the file holds the bytes.
#[test]
fn small_socket_flow_into_a_file_takes_first_reads_only() {
    let (mut client, mut src) = tcp_pair();
    let data = pattern(3000, 14);
    client.write_all(&data).unwrap();
    drop(client);
    let dir = tempfile::tempdir().unwrap();
    let mut dst = File::create(dir.path().join("dst")).unwrap();
    let report = Copier::new().copy(&mut src, &mut dst).unwrap();
    assert_eq!(report.written(), 3000);
    assert_eq!(report.main_path(), Some(Path::Buffered), "{report}");
    assert_eq!(std::fs::read(dir.path().join("dst")).unwrap(), data);
}
