//! A tour of io_copy on this machine: every source/sink pair the kernel offers, at a few sizes,
//! copied by `io_copy` and by `std::io::copy`, with the path each copy took.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! For each pair and size it prints the path io_copy's [`Report`] names (and any fallback), the
//! data-moving syscalls per copy from the report (`fstat`/`fcntl` are not counted), the
//! throughput of io_copy, of std and of Go's `io.Copy`, and io_copy's ratio to each. Then the CPU
//! the relay thread spent per GiB in the socket relays, and a "seed comparison": the ways to move
//! a file into a pipe or a socket by hand, with their syscalls and context switches per copy.
//!
//! # What is timed
//!
//! Only the copy call, on the thread that makes it. A sample is a batch of copies (at least
//! 8 MiB in all; 2048 copies of 4 KiB); each cell is the median of its samples of each
//! contender. The samples are interleaved: each round takes one sample of io_copy, one of std
//! and one of Go, in an order that rotates per round so that no contender always runs first,
//! and each ratio compares samples taken close in time on a machine whose speed drifts by
//! several times over seconds. Untimed: rewinding the source file and truncating the sink file
//! before each copy. A feeder thread writes a socket or pipe source and a drainer thread reads a
//! socket or pipe sink, streaming the whole batch, so a copy into a socket is throttled by its
//! reader as in real use. Before timing, one copy of each contender is checked at the far end:
//! its length and a checksum of its bytes; every timed copy's count is checked.
//!
//! Copies from a file run to its end; copies from a socket or pipe take exactly the size with
//! [`Read::take`], as a relay of a framed stream does, so the connections stay open between
//! copies.
//!
//! # Go
//!
//! Go's `io.Copy` is the peer to beat. `benches/go-peer` is a Go program that times the cells
//! with the same method (its pairs in Go's std types, `io.LimitReader` where the tour takes
//! [`Read::take`], the same pattern, batches, far-end check byte for byte, and count of every
//! copy). The tour builds it once into the target directory with the Go toolchain it finds
//! (`$IO_COPY_GO`, else `go` on `PATH`, else the newest `/usr/lib/go-*/bin/go`;
//! `IO_COPY_GO=none` skips Go) and runs one `gopeer serve` for the whole main table: for each
//! cell it sets up Go's pair (with its checked copy) beside its own, asks for one Go sample in
//! each round, takes Go's median as its own, and tears the pair down. A peer that does not
//! answer a command within 20 s is killed and the tour goes on without Go. Without Go, or if
//! the build fails, the tour says so and shows `-` in Go's columns.

#[cfg(target_os = "linux")]
fn main() {
    tour::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the tour measures Linux's kernel paths; here io_copy takes the read/write loop");
}

#[cfg(target_os = "linux")]
mod tour {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::fs::{self, File};
    use std::io::{self, BufRead, IsTerminal, Read, Seek, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsFd, BorrowedFd};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    use std::path::{Path as FsPath, PathBuf};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    use io_copy::{Copier, Path, ReaderFrom, Reason, Report, WriterTo};
    use nix::sys::resource::{getrusage, UsageWho};

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: f64 = (1u64 << 30) as f64;

    /// The sizes of the main table.
    const SIZES: [u64; 3] = [4 * KIB, MIB, 64 * MIB];
    /// A sample copies at least this many bytes, so that small copies are timed in batches.
    const SAMPLE_BYTES: u64 = 8 * MIB;
    /// The size of the seed comparison.
    const SEED_SIZE: u64 = MIB;

    // ---------------------------------------------------------------------------------------
    // Contenders

    /// One way of copying.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum How {
        /// `io_copy`: `Copier::new().copy`, which is what `io_copy::copy` runs, with its report.
        IoCopy,
        /// `std::io::copy`.
        Std,
        /// Seed: `read`/`write` with a 64 KiB buffer.
        ReadWrite,
        /// Seed: `mmap` the file, `write` the mapping.
        MmapWrite,
        /// Seed: `sendfile` until it returns 0.
        Sendfile,
        /// Seed: `splice` into the pipe, or through a cached pipe into anything else.
        Splice,
    }

    impl How {
        fn label(self) -> &'static str {
            match self {
                How::IoCopy => "io_copy::copy",
                How::Std => "std::io::copy",
                How::ReadWrite => "read/write 64 KiB",
                How::MmapWrite => "mmap + write",
                How::Sendfile => "sendfile",
                How::Splice => "splice",
            }
        }
    }

    /// Runs `io_copy` or `std::io::copy`; io_copy's report comes back with the count.
    fn run_api<R, W>(how: How, r: &mut R, w: &mut W) -> io::Result<(u64, Option<Report>)>
    where
        R: WriterTo + Read,
        W: ReaderFrom + Write,
    {
        match how {
            How::IoCopy => {
                let report = Copier::new().copy(r, w)?;
                Ok((report.written(), Some(report)))
            }
            How::Std => Ok((io::copy(r, w)?, None)),
            seed => unreachable!("{seed:?} runs on descriptors"),
        }
    }

    thread_local! {
        static LOOP_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
        /// The pipe a splice from a file into a non-pipe goes through, kept like io_copy's pool.
        static RELAY_PIPE: RefCell<Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)>> =
            const { RefCell::new(None) };
    }

    /// Runs a seed contender from the descriptor `src` (a file, read to its end) to `dst`, and
    /// returns the bytes moved and the syscalls made.
    fn run_seed(how: How, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
        let (mut moved, mut calls) = (0u64, 0u64);
        match how {
            How::ReadWrite => LOOP_BUF.with(|b| -> io::Result<()> {
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
            How::MmapWrite => {
                // SAFETY: the source file is the tour's own and nothing writes it while mapped.
                let map = unsafe { memmap2::Mmap::map(&src)? };
                calls += 3; // fstat for the length, mmap, munmap
                calls += write_all(dst, &map)?;
                moved = map.len() as u64;
            }
            How::Sendfile => loop {
                calls += 1;
                match rustix::fs::sendfile(dst, src, None, io_copy::MAX_CHUNK)? {
                    0 => break,
                    n => moved += n as u64,
                }
            },
            How::Splice => {
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
                            let _ =
                                rustix::pipe::fcntl_setpipe_size(&w, io_copy::DEFAULT_PIPE_SIZE);
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
            api => unreachable!("{api:?} runs on Read/Write values"),
        }
        Ok((moved, calls))
    }

    fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
        Ok(rustix::pipe::splice(
            from,
            None,
            to,
            None,
            len,
            rustix::pipe::SpliceFlags::empty(),
        )?)
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

    // ---------------------------------------------------------------------------------------
    // Sources and sinks
    //
    // A sample is a batch of copies of `n` bytes each. Feeder and drainer threads stream the
    // whole batch, so a copy into a socket or pipe is throttled by its reader as in real use,
    // and the copying thread never waits for a thread between two copies of a batch.

    /// The source end of a pair.
    trait Source {
        type Reader<'a>: WriterTo + Read
        where
            Self: 'a;
        /// Untimed, once per batch: makes `total` bytes available.
        fn begin(&mut self, total: u64) -> io::Result<()>;
        /// Untimed, before each copy.
        fn rewind(&mut self) -> io::Result<()>;
        /// The value one copy of `n` bytes reads.
        fn reader(&mut self, n: u64) -> Self::Reader<'_>;
        /// The descriptor of a file source, for the seed contenders.
        fn file_fd(&self) -> Option<BorrowedFd<'_>>;
    }

    /// The sink end of a pair.
    trait Sink {
        type Writer<'a>: ReaderFrom + Write
        where
            Self: 'a;
        /// Untimed, once per batch: readies the far end for `total` bytes.
        fn begin(&mut self, total: u64, verify: bool) -> io::Result<()>;
        /// Untimed, before each copy.
        fn rewind(&mut self) -> io::Result<()>;
        /// The value a copy writes.
        fn writer(&mut self) -> Self::Writer<'_>;
        /// Untimed, once per batch: waits until the far end has every byte; with `verify`,
        /// returns the length and checksum of what it got, or `None` where nothing can be read
        /// back (/dev/null).
        fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>>;
        fn fd(&self) -> Option<BorrowedFd<'_>>;
    }

    /// A regular file, read from its start to its end by each copy.
    struct FileSource(File);

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

    /// A stream that a feeder thread writes into; each copy takes `n` bytes of it.
    struct Fed<T> {
        stream: T,
        feeder: Feeder,
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
    struct Memory(Arc<Vec<u8>>);

    impl Source for Memory {
        type Reader<'a> = &'a [u8];
        fn begin(&mut self, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn rewind(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn reader(&mut self, n: u64) -> &[u8] {
            &self.0[..n as usize]
        }
        fn file_fd(&self) -> Option<BorrowedFd<'_>> {
            None
        }
    }

    /// A file written from its start by each copy, truncated first.
    struct FileSink {
        path: PathBuf,
        file: File,
        /// Truncate before each copy (a regular file; not /dev/null).
        regular: bool,
    }

    impl FileSink {
        fn create(path: PathBuf) -> io::Result<FileSink> {
            let file = File::create(&path)?;
            Ok(FileSink {
                path,
                file,
                regular: true,
            })
        }

        fn dev_null() -> io::Result<FileSink> {
            let file = File::options().write(true).open("/dev/null")?;
            Ok(FileSink {
                path: "/dev/null".into(),
                file,
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
            if self.regular {
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
            let bytes = fs::read(&self.path)?;
            Ok(Some((bytes.len() as u64, checksum(&bytes))))
        }
        fn fd(&self) -> Option<BorrowedFd<'_>> {
            Some(self.file.as_fd())
        }
    }

    /// A stream that a drainer thread reads.
    struct Drained<T> {
        stream: T,
        drainer: Drainer,
    }

    impl<T: ReaderFrom + Write + AsFd> Sink for Drained<T> {
        type Writer<'a>
            = &'a mut T
        where
            T: 'a;
        fn begin(&mut self, total: u64, verify: bool) -> io::Result<()> {
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
    struct VecSink(Vec<u8>);

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

    /// A thread that writes `total` bytes into a stream per request: the pattern from its start,
    /// again and again, so that a batch of one copy carries exactly the checked bytes.
    struct Feeder(Sender<u64>);

    impl Feeder {
        fn spawn<W: Write + Send + 'static>(mut w: W, data: Arc<Vec<u8>>) -> Feeder {
            let (tx, rx) = mpsc::channel::<u64>();
            thread::spawn(move || {
                for mut left in rx {
                    while left > 0 {
                        let chunk = &data[..left.min(data.len() as u64) as usize];
                        if w.write_all(chunk).is_err() {
                            return;
                        }
                        left -= chunk.len() as u64;
                    }
                }
            });
            Feeder(tx)
        }

        fn feed(&self, total: u64) -> io::Result<()> {
            self.0
                .send(total)
                .map_err(|_| io::Error::other("the feeder thread ended"))
        }
    }

    /// A thread that reads exactly `total` bytes from a stream per request and answers with the
    /// count and, when asked to verify, the checksum.
    struct Drainer {
        tx: Sender<(u64, bool)>,
        rx: Receiver<io::Result<(u64, u64)>>,
    }

    impl Drainer {
        fn spawn<R: Read + Send + 'static>(mut r: R) -> Drainer {
            let (tx, requests) = mpsc::channel::<(u64, bool)>();
            let (answers, rx) = mpsc::channel();
            thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                for (total, verify) in requests {
                    let mut kept = Vec::new();
                    let mut got = 0u64;
                    let res = loop {
                        if got == total {
                            break Ok(());
                        }
                        let want = (total - got).min(buf.len() as u64) as usize;
                        match r.read(&mut buf[..want]) {
                            Ok(0) => break Ok(()),
                            Ok(k) => {
                                got += k as u64;
                                if verify {
                                    kept.extend_from_slice(&buf[..k]);
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Err(e),
                        }
                    };
                    let answer = res.map(|()| (got, if verify { checksum(&kept) } else { 0 }));
                    if answers.send(answer).is_err() {
                        return;
                    }
                }
            });
            Drainer { tx, rx }
        }

        fn expect(&self, total: u64, verify: bool) -> io::Result<()> {
            self.tx
                .send((total, verify))
                .map_err(|_| io::Error::other("the drainer thread ended"))
        }

        fn wait(&self) -> io::Result<(u64, u64)> {
            self.rx
                .recv()
                .map_err(|_| io::Error::other("the drainer thread ended"))?
        }
    }

    /// A child process, killed when its pair is dropped.
    struct ChildGuard(Child);

    impl Drop for ChildGuard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Pairs

    /// A source/sink pair at one size, ready to copy again and again.
    trait Bench {
        /// Makes `copies` copies with `how` and adds them to `tally`; returns the time spent in
        /// the copy calls alone. With `verify` (and one copy), checks what the far end got.
        fn batch(
            &mut self,
            how: How,
            copies: u64,
            verify: bool,
            tally: &mut Tally,
        ) -> io::Result<Duration>;
        /// Whether the seed contenders can run (a file source and a descriptor sink).
        fn seedable(&self) -> bool;
    }

    struct Pair<S, K> {
        src: S,
        dst: K,
        n: u64,
        sum: u64,
        _child: Option<ChildGuard>,
    }

    impl<S: Source, K: Sink> Pair<S, K> {
        /// One copy: only the copy call is timed.
        fn once(&mut self, how: How) -> io::Result<(Duration, u64, Option<u64>, Option<Report>)> {
            self.src.rewind()?;
            self.dst.rewind()?;
            if matches!(how, How::IoCopy | How::Std) {
                let mut r = self.src.reader(self.n);
                let mut w = self.dst.writer();
                let t0 = Instant::now();
                let (written, report) = run_api(how, &mut r, &mut w)?;
                let elapsed = t0.elapsed();
                Ok((elapsed, written, report.as_ref().map(total_calls), report))
            } else {
                let (src, dst) = (self.src.file_fd(), self.dst.fd());
                let (src, dst) = src
                    .zip(dst)
                    .ok_or_else(|| io::Error::other("not seedable"))?;
                let t0 = Instant::now();
                let (written, calls) = run_seed(how, src, dst)?;
                Ok((t0.elapsed(), written, Some(calls), None))
            }
        }
    }

    impl<S: Source, K: Sink> Bench for Pair<S, K> {
        fn batch(
            &mut self,
            how: How,
            copies: u64,
            verify: bool,
            tally: &mut Tally,
        ) -> io::Result<Duration> {
            assert!(!verify || copies == 1, "only a single copy is verified");
            self.src.begin(self.n * copies)?;
            self.dst.begin(self.n * copies, verify)?;
            let mut elapsed = Duration::ZERO;
            for _ in 0..copies {
                let (t, written, calls, report) = self.once(how)?;
                if written != self.n {
                    let msg = format!("{}: copied {written} of {} bytes", how.label(), self.n);
                    return Err(io::Error::other(msg));
                }
                elapsed += t;
                tally.add(calls, report.as_ref());
            }
            if let Some((len, sum)) = self.dst.end(verify)? {
                if (len, sum) != (self.n, self.sum) {
                    return Err(io::Error::other(format!(
                        "{}: the far end got {len} bytes with checksum {sum:#x}, expected {} with {:#x}",
                        how.label(),
                        self.n,
                        self.sum
                    )));
                }
            }
            Ok(elapsed)
        }

        fn seedable(&self) -> bool {
            self.src.file_fd().is_some() && self.dst.fd().is_some()
        }
    }

    fn total_calls(r: &Report) -> u64 {
        r.paths().map(|(_, s)| s.calls).sum()
    }

    /// Where a pair's files live.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Place {
        Tmpfs,
        Disk,
        /// No file at all, or only /dev/null.
        Nowhere,
    }

    /// The scratch directories and the pattern every source carries.
    struct Env {
        tmpfs: Result<tempfile::TempDir, String>,
        disk: tempfile::TempDir,
        data: Arc<Vec<u8>>,
    }

    impl Env {
        fn dir(&self, place: Place) -> io::Result<&FsPath> {
            match place {
                Place::Tmpfs => match &self.tmpfs {
                    Ok(d) => Ok(d.path()),
                    Err(why) => Err(io::Error::other(why.clone())),
                },
                Place::Disk => Ok(self.disk.path()),
                Place::Nowhere => unreachable!("a pair without files asked for a directory"),
            }
        }

        /// The source file of `n` bytes in `place`, written once.
        fn source(&self, place: Place, n: u64) -> io::Result<FileSource> {
            let path = self.dir(place)?.join(format!("src-{n}"));
            if fs::metadata(&path).map(|m| m.len()).ok() != Some(n) {
                fs::write(&path, &self.data[..n as usize])?;
            }
            Ok(FileSource(File::open(path)?))
        }

        fn sink(&self, place: Place) -> io::Result<FileSink> {
            FileSink::create(self.dir(place)?.join("dst"))
        }

        fn pair<S: Source + 'static, K: Sink + 'static>(
            &self,
            n: u64,
            src: S,
            dst: K,
        ) -> Box<dyn Bench> {
            self.pair_with_child(n, src, dst, None)
        }

        fn pair_with_child<S: Source + 'static, K: Sink + 'static>(
            &self,
            n: u64,
            src: S,
            dst: K,
            child: Option<ChildGuard>,
        ) -> Box<dyn Bench> {
            let sum = checksum(&self.data[..n as usize]);
            Box::new(Pair {
                src,
                dst,
                n,
                sum,
                _child: child,
            })
        }

        fn feeder<W: Write + Send + 'static>(&self, w: W) -> Feeder {
            Feeder::spawn(w, Arc::clone(&self.data))
        }
    }

    /// A connected loopback TCP pair: (client, server).
    fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        // Small copies must not wait for delayed ACKs between the copy and the drainer.
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        Ok((client, server))
    }

    fn cat() -> io::Result<Child> {
        Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run `cat`: {e}")))
    }

    /// One row group of the table: a pair, where its files live, and how to build it.
    struct PairDef {
        name: &'static str,
        place: Place,
        /// The relay thread's CPU is reported for this pair.
        relay: bool,
        build: fn(&Env, Place, u64) -> io::Result<Box<dyn Bench>>,
        /// The Go peer's name for the same pair.
        go: &'static str,
    }

    const PAIRS: &[PairDef] = &[
        PairDef {
            name: "file→file",
            place: Place::Tmpfs,
            relay: false,
            build: file_to_file,
            go: "file-file",
        },
        PairDef {
            name: "file→file",
            place: Place::Disk,
            relay: false,
            build: file_to_file,
            go: "file-file",
        },
        PairDef {
            name: "file→TCP",
            place: Place::Tmpfs,
            relay: false,
            build: file_to_tcp,
            go: "file-tcp",
        },
        PairDef {
            name: "TCP→TCP relay",
            place: Place::Nowhere,
            relay: true,
            build: tcp_to_tcp,
            go: "tcp-tcp",
        },
        PairDef {
            name: "TCP→file",
            place: Place::Tmpfs,
            relay: false,
            build: tcp_to_file,
            go: "tcp-file",
        },
        PairDef {
            name: "file→pipe",
            place: Place::Tmpfs,
            relay: false,
            build: file_to_pipe,
            go: "file-pipe",
        },
        PairDef {
            name: "pipe→file",
            place: Place::Tmpfs,
            relay: false,
            build: pipe_to_file,
            go: "pipe-file",
        },
        PairDef {
            name: "file→Unix",
            place: Place::Tmpfs,
            relay: false,
            build: file_to_unix,
            go: "file-unix",
        },
        PairDef {
            name: "Unix→Unix relay",
            place: Place::Nowhere,
            relay: true,
            build: unix_to_unix,
            go: "unix-unix",
        },
        PairDef {
            name: "file→/dev/null",
            place: Place::Tmpfs,
            relay: false,
            build: file_to_null,
            go: "file-null",
        },
        PairDef {
            name: "file→ChildStdin",
            place: Place::Tmpfs,
            relay: false,
            build: file_to_child,
            go: "file-child",
        },
        PairDef {
            name: "ChildStdout→file",
            place: Place::Tmpfs,
            relay: false,
            build: child_to_file,
            go: "child-file",
        },
        PairDef {
            name: "&[u8]→Vec<u8>",
            place: Place::Nowhere,
            relay: false,
            build: mem_to_vec,
            go: "mem-buf",
        },
    ];

    fn file_to_file(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        Ok(env.pair(n, env.source(at, n)?, env.sink(at)?))
    }

    fn file_to_tcp(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let (client, server) = tcp_pair()?;
        let dst = Drained {
            stream: client,
            drainer: Drainer::spawn(server),
        };
        Ok(env.pair(n, env.source(at, n)?, dst))
    }

    /// Client → relay (this thread, doing the copy) → sink thread.
    fn tcp_to_tcp(env: &Env, _: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let (a_client, a_server) = tcp_pair()?;
        let (b_client, b_server) = tcp_pair()?;
        let src = Fed {
            stream: a_server,
            feeder: env.feeder(a_client),
        };
        let dst = Drained {
            stream: b_client,
            drainer: Drainer::spawn(b_server),
        };
        Ok(env.pair(n, src, dst))
    }

    fn tcp_to_file(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let (client, server) = tcp_pair()?;
        let src = Fed {
            stream: server,
            feeder: env.feeder(client),
        };
        Ok(env.pair(n, src, env.sink(at)?))
    }

    fn file_to_pipe(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let (r, w) = io::pipe()?;
        let dst = Drained {
            stream: w,
            drainer: Drainer::spawn(r),
        };
        Ok(env.pair(n, env.source(at, n)?, dst))
    }

    fn pipe_to_file(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let (r, w) = io::pipe()?;
        let src = Fed {
            stream: r,
            feeder: env.feeder(w),
        };
        Ok(env.pair(n, src, env.sink(at)?))
    }

    fn file_to_unix(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let (near, far) = UnixStream::pair()?;
        let dst = Drained {
            stream: near,
            drainer: Drainer::spawn(far),
        };
        Ok(env.pair(n, env.source(at, n)?, dst))
    }

    fn unix_to_unix(env: &Env, _: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let (a_far, a_near) = UnixStream::pair()?;
        let (b_near, b_far) = UnixStream::pair()?;
        let src = Fed {
            stream: a_near,
            feeder: env.feeder(a_far),
        };
        let dst = Drained {
            stream: b_near,
            drainer: Drainer::spawn(b_far),
        };
        Ok(env.pair(n, src, dst))
    }

    fn file_to_null(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        Ok(env.pair(n, env.source(at, n)?, FileSink::dev_null()?))
    }

    /// The file goes into `cat`'s stdin; a thread drains its stdout.
    fn file_to_child(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let src = env.source(at, n)?;
        let mut child = cat()?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let dst = Drained {
            stream: stdin.expect("piped"),
            drainer: Drainer::spawn(stdout.expect("piped")),
        };
        Ok(env.pair_with_child(n, src, dst, Some(ChildGuard(child))))
    }

    /// A thread feeds `cat`'s stdin; its stdout goes into the file.
    fn child_to_file(env: &Env, at: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        let dst = env.sink(at)?;
        let mut child = cat()?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let src = Fed {
            stream: stdout.expect("piped"),
            feeder: env.feeder(stdin.expect("piped")),
        };
        Ok(env.pair_with_child(n, src, dst, Some(ChildGuard(child))))
    }

    fn mem_to_vec(env: &Env, _: Place, n: u64) -> io::Result<Box<dyn Bench>> {
        Ok(env.pair(n, Memory(Arc::clone(&env.data)), VecSink(Vec::new())))
    }

    // ---------------------------------------------------------------------------------------
    // Timing

    /// What a contender did over all timed copies of one cell.
    #[derive(Default)]
    struct Tally {
        /// Per sample: seconds per copy.
        secs: Vec<f64>,
        /// Per sample: this thread's CPU seconds per copy (getrusage RUSAGE_THREAD).
        cpu: Vec<f64>,
        copies: u64,
        csw_thread: u64,
        csw_process: u64,
        calls: Option<u64>,
        /// io_copy only: calls per path, the main paths seen, the fallbacks seen.
        path_calls: BTreeMap<Path, u64>,
        main_paths: Vec<Path>,
        fallbacks: Vec<(Path, Reason)>,
    }

    impl Tally {
        fn add(&mut self, calls: Option<u64>, report: Option<&Report>) {
            self.copies += 1;
            if let Some(c) = calls {
                *self.calls.get_or_insert(0) += c;
            }
            if let Some(r) = report {
                for (p, s) in r.paths() {
                    *self.path_calls.entry(p).or_default() += s.calls;
                }
                if let Some(p) = r.main_path() {
                    if !self.main_paths.contains(&p) {
                        self.main_paths.push(p);
                    }
                }
                for f in r.fallbacks() {
                    if !self.fallbacks.contains(&(f.from, f.reason)) {
                        self.fallbacks.push((f.from, f.reason));
                    }
                }
            }
        }

        fn median_secs(&self) -> f64 {
            median(&self.secs)
        }

        fn per_copy(&self, total: u64) -> f64 {
            total as f64 / self.copies.max(1) as f64
        }

        /// The path column: main path(s), then each fallback with its reason.
        fn path(&self) -> String {
            let mut s = self
                .main_paths
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join("|");
            if s.is_empty() {
                s.push('-');
            }
            for (from, reason) in &self.fallbacks {
                s += &format!(" (left {from}: {})", short_reason(*reason));
            }
            s
        }

        /// Calls per copy, split by path when more than one path made calls.
        fn calls_per_copy(&self) -> String {
            if self.path_calls.is_empty() {
                return self
                    .calls
                    .map_or("-".into(), |c| format!("{:.1}", self.per_copy(c)));
            }
            self.path_calls
                .values()
                .map(|c| format!("{:.1}", self.per_copy(*c)))
                .collect::<Vec<_>>()
                .join("+")
        }
    }

    fn short_reason(r: Reason) -> String {
        match r {
            Reason::Errno(e) => match rustix::io::Errno::from_raw_os_error(e) {
                rustix::io::Errno::INVAL => "EINVAL".into(),
                rustix::io::Errno::XDEV => "EXDEV".into(),
                rustix::io::Errno::OPNOTSUPP => "EOPNOTSUPP".into(),
                rustix::io::Errno::NOSYS => "ENOSYS".into(),
                rustix::io::Errno::PERM => "EPERM".into(),
                rustix::io::Errno::IO => "EIO".into(),
                rustix::io::Errno::BADF => "EBADF".into(),
                _ => format!("errno {e}"),
            },
            other => other.to_string(),
        }
    }

    fn median(xs: &[f64]) -> f64 {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    struct Usage {
        cpu: Duration,
        csw: u64,
    }

    fn usage(who: UsageWho) -> Usage {
        let u = getrusage(who).expect("getrusage");
        let tv = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
        };
        Usage {
            cpu: tv(u.user_time()) + tv(u.system_time()),
            csw: (u.voluntary_context_switches() + u.involuntary_context_switches()) as u64,
        }
    }

    /// What Go's io.Copy gave in one cell: its median seconds per copy, or why it has none.
    type GoOutcome = Result<f64, String>;

    /// Times `hows` on `bench`, and Go's io.Copy on the same cell when `go` holds a peer whose
    /// cell is set up (and checked): one checked copy of each Rust contender, then `rounds`
    /// rounds, each taking one sample (a batch of copies) of every contender in an order that
    /// rotates per round, so that no contender always runs first and drift on a noisy machine
    /// hits all of them alike. A Go sample that fails ends Go's part of the cell only.
    fn measure(
        bench: &mut dyn Bench,
        hows: &[How],
        n: u64,
        mut go: Option<&mut GoPeer>,
    ) -> io::Result<(Vec<Tally>, Option<GoOutcome>)> {
        let copies = (SAMPLE_BYTES / n).max(1);
        let rounds = if n >= 64 * MIB { 5 } else { 11 };
        let mut tallies: Vec<Tally> = hows.iter().map(|_| Tally::default()).collect();
        for &how in hows {
            bench.batch(how, 1, true, &mut Tally::default())?;
        }
        let mut go_secs = Vec::new();
        let mut go_err = None;
        // Go, when present, is the contender after the Rust ones.
        let contenders = hows.len() + usize::from(go.is_some());
        for round in 0..rounds {
            for k in 0..contenders {
                let i = (round + k) % contenders;
                if i == hows.len() {
                    if let Some(peer) = go.as_deref_mut().filter(|_| go_err.is_none()) {
                        match peer.sample(copies) {
                            Ok(secs) => go_secs.push(secs),
                            Err(e) => go_err = Some(e),
                        }
                    }
                    continue;
                }
                let tally = &mut tallies[i];
                let (t0, p0) = (usage(UsageWho::RUSAGE_THREAD), usage(UsageWho::RUSAGE_SELF));
                let elapsed = bench.batch(hows[i], copies, false, tally)?;
                let (t1, p1) = (usage(UsageWho::RUSAGE_THREAD), usage(UsageWho::RUSAGE_SELF));
                tally.secs.push(elapsed.as_secs_f64() / copies as f64);
                tally
                    .cpu
                    .push((t1.cpu - t0.cpu).as_secs_f64() / copies as f64);
                tally.csw_thread += t1.csw - t0.csw;
                tally.csw_process += p1.csw - p0.csw;
            }
        }
        let go = go.map(|_| match go_err {
            Some(e) => Err(e),
            None => Ok(median(&go_secs)),
        });
        Ok((tallies, go))
    }

    // ---------------------------------------------------------------------------------------
    // Go's io.Copy, timed by benches/go-peer

    /// How long the Go peer may take to answer one command (a set-up with its checked copy, a
    /// sample, a teardown) before it is killed; the tour then goes on without Go.
    const GO_TIMEOUT: Duration = Duration::from_secs(20);

    /// The Go peer, built, and `gopeer serve` running for the whole tour.
    struct GoPeer {
        /// What the peer reports: Go's version, OS and architecture.
        version: String,
        toolchain: PathBuf,
        build_secs: f64,
        /// `None` once the peer has stopped (killed after a timeout, or exited).
        server: Option<Server>,
    }

    /// A running `gopeer serve`: commands go to its stdin, a thread hands over its stdout
    /// lines, so that a peer that stops answering is noticed after [`GO_TIMEOUT`].
    struct Server {
        child: Child,
        stdin: Option<ChildStdin>,
        replies: Receiver<String>,
        stderr: Option<thread::JoinHandle<Vec<u8>>>,
    }

    impl Server {
        fn spawn(exe: &FsPath) -> Result<Server, String> {
            let mut child = Command::new(exe)
                .arg("serve")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run {} serve: {e}", exe.display()))?;
            let stdout = child.stdout.take().expect("piped");
            let mut stderr = child.stderr.take().expect("piped");
            let (tx, replies) = mpsc::channel();
            // The channel disconnects when the peer exits; the child stays unreaped until
            // `stop`, so killing it by its id after a timeout is safe.
            thread::spawn(move || {
                for line in io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            let stderr = thread::spawn(move || {
                let mut v = Vec::new();
                let _ = stderr.read_to_end(&mut v);
                v
            });
            Ok(Server {
                stdin: child.stdin.take(),
                child,
                replies,
                stderr: Some(stderr),
            })
        }

        /// Ends the peer: closes its stdin (it exits at the end of its commands), kills it if
        /// it is still there after a moment, or at once with `kill`; returns its status and the
        /// start of its stderr.
        fn stop(&mut self, kill: bool) -> String {
            drop(self.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(2);
            while !kill && Instant::now() < deadline {
                match self.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) => thread::sleep(Duration::from_millis(10)),
                }
            }
            if !matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = self.child.kill();
            }
            let status = self
                .child
                .wait()
                .map_or_else(|e| e.to_string(), |s| s.to_string());
            let errs = self
                .stderr
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            match first_lines(&errs) {
                e if e.is_empty() => status,
                e => format!("{status}: {e}"),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if self.stdin.is_some() {
                self.stop(false);
            }
        }
    }

    /// The Go toolchain to build the peer with: `$IO_COPY_GO` (`none`: no Go), else `go` on
    /// `PATH`, else the newest `/usr/lib/go-*/bin/go` (Debian's golang-1.NN-go packages).
    fn find_go() -> Result<PathBuf, String> {
        if let Some(v) = std::env::var_os("IO_COPY_GO") {
            if v.is_empty() || v == "none" {
                return Err("IO_COPY_GO=none".into());
            }
            return Ok(v.into());
        }
        let executable = |p: &FsPath| {
            fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if let Some(path) = std::env::var_os("PATH") {
            if let Some(go) = std::env::split_paths(&path)
                .map(|d| d.join("go"))
                .find(|p| executable(p))
            {
                return Ok(go);
            }
        }
        fs::read_dir("/usr/lib")
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                let version = name
                    .strip_prefix("go-")?
                    .split('.')
                    .map(|x| x.parse::<u32>().ok())
                    .collect::<Option<Vec<_>>>()?;
                let go = e.path().join("bin/go");
                executable(&go).then_some((version, go))
            })
            .max()
            .map(|(_, go)| go)
            .ok_or_else(|| {
                "no Go toolchain (apt-get install golang-1.19-go, or set IO_COPY_GO)".into()
            })
    }

    /// The first lines of a failed command's stderr, on one line.
    fn first_lines(stderr: &[u8]) -> String {
        let text = String::from_utf8_lossy(stderr);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        lines.join(" / ")
    }

    impl GoPeer {
        /// Builds benches/go-peer into `<out>/go-peer/gopeer`. The build cache and GOPATH are
        /// there too, so nothing is written into the source tree; nothing is fetched (the
        /// peer uses Go's standard library only).
        fn build(out: &FsPath) -> Result<GoPeer, String> {
            let toolchain = find_go()?;
            let src = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("benches/go-peer");
            if !src.join("main.go").is_file() {
                return Err(format!("{} is missing", src.display()));
            }
            let dir = out.join("go-peer");
            let exe = dir.join("gopeer");
            let t0 = Instant::now();
            let built = Command::new(&toolchain)
                .args(["build", "-buildvcs=false", "-o"])
                .arg(&exe)
                .arg(".")
                .current_dir(&src)
                .env("GOFLAGS", "-mod=mod")
                .env("GOTOOLCHAIN", "local")
                .env("GOPROXY", "off")
                .env("GOWORK", "off")
                .env("GOENV", "off")
                .env("CGO_ENABLED", "0")
                .env("GOCACHE", dir.join("cache"))
                .env("GOPATH", dir.join("gopath"))
                .env_remove("GOOS")
                .env_remove("GOARCH")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", toolchain.display()))?;
            if !built.status.success() {
                return Err(format!(
                    "`{} build` failed ({}): {}",
                    toolchain.display(),
                    built.status,
                    first_lines(&built.stderr)
                ));
            }
            let build_secs = t0.elapsed().as_secs_f64();
            let out = Command::new(&exe)
                .arg("version")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} version failed ({}): {}",
                    exe.display(),
                    out.status,
                    first_lines(&out.stderr)
                ));
            }
            Ok(GoPeer {
                version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
                toolchain,
                build_secs,
                server: Some(Server::spawn(&exe)?),
            })
        }

        /// Whether the peer still runs.
        fn alive(&self) -> bool {
            self.server.is_some()
        }

        /// Sends one command and returns the peer's answer; an `err` answer is the error. A peer
        /// that does not answer within [`GO_TIMEOUT`] is killed, and one that exits is reaped:
        /// either way no command goes to it again.
        fn ask(&mut self, command: &str) -> Result<String, String> {
            let server = self
                .server
                .as_mut()
                .ok_or_else(|| "the peer has stopped".to_string())?;
            let sent = server
                .stdin
                .as_mut()
                .expect("stdin open while the peer runs")
                .write_all(format!("{command}\n").as_bytes());
            let got = match sent {
                Ok(()) => server.replies.recv_timeout(GO_TIMEOUT),
                Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(line) => match line.strip_prefix("err ") {
                    Some(why) => Err(why.to_string()),
                    None => Ok(line),
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let status = server.stop(true);
                    self.server = None;
                    Err(format!(
                        "no answer to `{command}` in {} s: killed ({status}); the rest of the tour goes on without Go",
                        GO_TIMEOUT.as_secs()
                    ))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.stop(false);
                    self.server = None;
                    Err(format!(
                        "exited at `{command}` ({status}); the rest of the tour goes on without Go"
                    ))
                }
            }
        }

        /// Builds Go's side of one cell and makes its checked copy, which must match the tour's
        /// bytes (`sum`; `None`: only the count, as /dev/null).
        fn setup(
            &mut self,
            pair: &str,
            n: u64,
            dir: Option<&FsPath>,
            sum: Option<u64>,
        ) -> Result<(), String> {
            let dir = dir.map_or_else(|| "-".into(), |d| d.display().to_string());
            if dir.contains(char::is_whitespace) {
                return Err(format!("the peer's commands cannot carry the path {dir:?}"));
            }
            let line = self.ask(&format!("setup {pair} {n} {dir}"))?;
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .ok_or_else(|| format!("no {key} in {:?}", line.trim()))
            };
            let want = sum.map_or("-".into(), |s| format!("{s:#x}"));
            let (checked, got_sum) = (field("checked")?, field("checksum")?);
            let want_checked = sum.map_or("count".into(), |_| n.to_string());
            if (checked, got_sum) != (want_checked.as_str(), want.as_str()) {
                let _ = self.ask("teardown");
                return Err(format!(
                    "the far end got checked={checked} checksum={got_sum}, expected {want_checked} {want}"
                ));
            }
            Ok(())
        }

        /// Times one batch of `copies` copies of the cell set up; returns seconds per copy.
        fn sample(&mut self, copies: u64) -> Result<f64, String> {
            let line = self.ask(&format!("sample {copies}"))?;
            line.trim()
                .parse()
                .map_err(|e| format!("sample answer {line:?}: {e}"))
        }

        /// Stops the peer, at the end of the main table.
        fn stop(&mut self) {
            if let Some(mut server) = self.server.take() {
                server.stop(false);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Output

    fn size_name(n: u64) -> String {
        match n {
            n if n >= MIB => format!("{} MiB", n / MIB),
            n => format!("{} KiB", n / KIB),
        }
    }

    fn gib_s(n: u64, secs: f64) -> f64 {
        n as f64 / secs / GIB
    }

    /// The filesystem type of `dir`, by its statfs magic.
    fn fs_name(dir: &FsPath) -> String {
        let Ok(st) = rustix::fs::statfs(dir) else {
            return "?".into();
        };
        match st.f_type as u64 {
            0x0102_1994 => "tmpfs".into(),
            0xEF53 => "ext4".into(),
            0x9123_683E => "btrfs".into(),
            0x5846_5342 => "xfs".into(),
            0x794C_7630 => "overlayfs".into(),
            0x6969 => "nfs".into(),
            0x2FC1_2FC1 => "zfs".into(),
            0x0102_1997 => "9p".into(),
            0x6573_5546 => "fuse".into(),
            m => format!("fs {m:#x}"),
        }
    }

    struct Progress {
        tty: bool,
        started: Instant,
    }

    impl Progress {
        fn show(&self, what: &str) {
            let t = self.started.elapsed().as_secs_f64();
            if self.tty {
                eprint!("\r\x1b[2Ktour {t:5.1}s: {what}");
            } else {
                eprintln!("tour {t:5.1}s: {what}");
            }
        }

        fn done(&self) {
            if self.tty {
                eprint!("\r\x1b[2K");
            }
            eprintln!(
                "tour: done in {:.1} s",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    struct RelayRow {
        name: String,
        n: u64,
        io: f64,
        std: f64,
    }

    pub fn main() {
        let progress = Progress {
            tty: io::stderr().is_terminal(),
            started: Instant::now(),
        };
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let disk_base = if fs::create_dir_all(&target).is_ok() {
            target
        } else {
            std::env::temp_dir()
        };
        progress.show("building the Go peer");
        let mut go = GoPeer::build(&disk_base);
        let env = Env {
            tmpfs: tempfile::tempdir_in("/dev/shm").map_err(|e| format!("no /dev/shm: {e}")),
            disk: tempfile::Builder::new()
                .prefix("tour-")
                .tempdir_in(&disk_base)
                .expect("scratch dir"),
            data: Arc::new(pattern(*SIZES.iter().max().expect("sizes") as usize)),
        };
        let disk_fs = fs_name(env.disk.path());
        let place_name = |p: Place| match p {
            Place::Tmpfs => env.tmpfs.as_ref().map_or("-".into(), |d| fs_name(d.path())),
            Place::Disk => disk_fs.clone(),
            Place::Nowhere => "-".into(),
        };

        let mut lines = Vec::new();
        let mut problems = Vec::new();
        let mut relays = Vec::new();
        for def in PAIRS {
            let fs = place_name(def.place);
            for &n in &SIZES {
                let cell = format!("{} ({fs}) {}", def.name, size_name(n));
                progress.show(&cell);
                let mut bench = match (def.build)(&env, def.place, n) {
                    Ok(b) => b,
                    Err(e) => {
                        problems.push(format!("{cell}: {e}"));
                        continue;
                    }
                };
                // Go's side of the cell is built beside the Rust one, so that the rounds below
                // take Go's samples between io_copy's and std's.
                let peer = match &mut go {
                    Ok(peer) if peer.alive() => {
                        let dir = match def.place {
                            Place::Nowhere => None,
                            place => env.dir(place).ok(),
                        };
                        // The far end of /dev/null cannot be read back: its count only.
                        let sum =
                            (def.go != "file-null").then(|| checksum(&env.data[..n as usize]));
                        match peer.setup(def.go, n, dir, sum) {
                            Ok(()) => Some(peer),
                            Err(e) => {
                                problems.push(format!("Go peer, {cell}: set-up: {e}"));
                                None
                            }
                        }
                    }
                    _ => None,
                };
                let went_in = peer.is_some();
                let res = measure(&mut *bench, &[How::IoCopy, How::Std], n, peer);
                drop(bench);
                if let Ok(peer) = &mut go {
                    if went_in && peer.alive() {
                        if let Err(e) = peer.ask("teardown") {
                            problems.push(format!("Go peer, {cell}: teardown: {e}"));
                        }
                    }
                }
                let (t, go_res) = match res {
                    Ok(t) => t,
                    Err(e) => {
                        problems.push(format!("{cell}: {e}"));
                        continue;
                    }
                };
                let (io_s, std_s) = (t[0].median_secs(), t[1].median_secs());
                let (go_gib, io_go) = match go_res {
                    Some(Ok(go_s)) => (
                        format!("{:.2}", gib_s(n, go_s)),
                        format!("{:.2}", go_s / io_s),
                    ),
                    Some(Err(e)) => {
                        problems.push(format!("Go peer, {cell}: {e}"));
                        ("-".into(), "-".into())
                    }
                    None => ("-".into(), "-".into()),
                };
                lines.push(format!(
                    "{:<17} {:<6} {:>7}  {:<44} {:>10} {:>9.2} {:>9.2} {:>6.2} {:>9} {:>6}",
                    def.name,
                    fs,
                    size_name(n),
                    t[0].path(),
                    t[0].calls_per_copy(),
                    gib_s(n, io_s),
                    gib_s(n, std_s),
                    std_s / io_s,
                    go_gib,
                    io_go,
                ));
                if def.relay {
                    let per_gib = |t: &Tally| median(&t.cpu) / (n as f64 / GIB);
                    relays.push(RelayRow {
                        name: def.name.into(),
                        n,
                        io: per_gib(&t[0]),
                        std: per_gib(&t[1]),
                    });
                }
            }
        }

        if let Ok(peer) = &mut go {
            peer.stop();
        }

        // The seed comparison: the ways to put a file into a pipe or a socket by hand.
        let seeds = [
            How::ReadWrite,
            How::MmapWrite,
            How::Sendfile,
            How::Splice,
            How::IoCopy,
            How::Std,
        ];
        let mut seed_lines = Vec::new();
        for (name, build) in [
            ("file→pipe", file_to_pipe as fn(&Env, Place, u64) -> _),
            ("file→TCP", file_to_tcp),
        ] {
            progress.show(&format!("seed comparison: {name} {}", size_name(SEED_SIZE)));
            let res = build(&env, Place::Tmpfs, SEED_SIZE).and_then(|mut b| {
                assert!(b.seedable(), "{name} is a file → descriptor pair");
                measure(&mut *b, &seeds, SEED_SIZE, None).map(|(t, _)| t)
            });
            match res {
                Ok(tallies) => {
                    for (how, t) in seeds.iter().zip(&tallies) {
                        let calls = if *how == How::IoCopy {
                            format!("{} ({})", t.calls_per_copy(), t.path())
                        } else {
                            t.calls
                                .map_or("not counted".into(), |c| format!("{:.1}", t.per_copy(c)))
                        };
                        seed_lines.push(format!(
                            "{:<10} {:<18} {:>9.2} {:>8.1} {:>8.1}   {}",
                            name,
                            how.label(),
                            gib_s(SEED_SIZE, t.median_secs()),
                            t.per_copy(t.csw_thread),
                            t.per_copy(t.csw_process),
                            calls,
                        ));
                    }
                }
                Err(e) => problems.push(format!("seed comparison {name}: {e}")),
            }
        }
        progress.done();

        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        println!(
            "io_copy tour: Linux {}, {} CPUs; tmpfs = {}, disk = {} ({})",
            kernel.trim(),
            thread::available_parallelism().map_or(0, |n| n.get()),
            env.tmpfs
                .as_ref()
                .map_or_else(|e| e.clone(), |d| d.path().display().to_string()),
            disk_fs,
            env.disk.path().display(),
        );
        match &go {
            Ok(peer) => println!(
                "Go peer: {} (benches/go-peer, built with {} in {:.1} s)",
                peer.version,
                peer.toolchain.display(),
                peer.build_secs
            ),
            Err(why) => println!("Go peer: skipped — {why}"),
        }
        println!("time = the copy call alone, median of 5 (64 MiB) or 11 samples; calls = data-moving syscalls per copy from the Report");
        println!("Go = io.Copy timed the same way by benches/go-peer (`gopeer serve`, one process for the whole table)");
        println!(
            "samples interleaved: each round takes one sample of {}, in an order that rotates per round",
            if go.is_ok() { "io_copy, std and Go" } else { "io_copy and std" }
        );
        println!("io/std, io/Go = io_copy GiB/s / std's, Go's (> 1: io_copy faster)\n");
        println!(
            "{:<17} {:<6} {:>7}  {:<44} {:>10} {:>9} {:>9} {:>6} {:>9} {:>6}",
            "pair",
            "fs",
            "size",
            "io_copy path (fallbacks)",
            "calls",
            "io_copy",
            "std",
            "io/std",
            "Go",
            "io/Go"
        );
        println!(
            "{:<17} {:<6} {:>7}  {:<44} {:>10} {:>9} {:>9} {:>6} {:>9} {:>6}",
            "", "", "", "", "/copy", "GiB/s", "GiB/s", "", "GiB/s", ""
        );
        for l in &lines {
            println!("{l}");
        }
        println!("\n(file→/dev/null is checked by its byte count only; every other pair by length and checksum at the far end)");

        if !relays.is_empty() {
            println!("\nrelay thread CPU (getrusage RUSAGE_THREAD), CPU-seconds per GiB relayed (io/std < 1: io_copy spends less)");
            println!(
                "{:<17} {:>7} {:>10} {:>10} {:>10}",
                "pair", "size", "io_copy", "std", "io/std"
            );
            for r in &relays {
                println!(
                    "{:<17} {:>7} {:>10.3} {:>10.3} {:>10.2}",
                    r.name,
                    size_name(r.n),
                    r.io,
                    r.std,
                    r.io / r.std
                );
            }
            if go.is_ok() {
                println!("(no Go column: a goroutine's thread CPU needs runtime.LockOSThread, and the lock alone slowed Go's relays 1.6-5.5x in one run on the project's machine; see benches/go-peer/main.go)");
            }
        }

        if !seed_lines.is_empty() {
            println!(
                "\nseed comparison at {}: context switches per copy of the copying thread and of \
                 the whole process (with the drainer thread)",
                size_name(SEED_SIZE)
            );
            println!(
                "{:<10} {:<18} {:>9} {:>8} {:>8}   syscalls/copy",
                "pair", "method", "GiB/s", "csw thr", "csw proc"
            );
            for l in &seed_lines {
                println!("{l}");
            }
        }

        for p in &problems {
            println!("skipped: {p}");
        }
    }

    /// Pseudo-random bytes, so that a byte out of place changes the checksum.
    fn pattern(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.truncate(len);
        v
    }

    /// A cheap order-sensitive checksum: 8 bytes per multiply.
    fn checksum(bytes: &[u8]) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ bytes.len() as u64;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            h = (h ^ w).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
        }
        for &b in words.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h
    }
}
