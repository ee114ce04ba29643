//! io_copy against `std::io::copy`, a plain read/write loop and each forced path, per
//! source/sink pair and size.
//!
//! ```text
//! cargo bench --bench copy                  # everything, about 7 minutes on 2 cores
//! cargo bench --bench copy -- file_pipe     # one group (criterion's usual filter)
//! cargo bench --bench copy -- '/1MiB'       # one size in every group
//! ```
//!
//! Each benchmark id is `group/contender/size`. Contenders:
//! - `io_copy`: `io_copy::copy`.
//! - `std`: `std::io::copy`.
//! - `rw_loop_64k`: `Read::read` / `Write::write_all` with a 64 KiB buffer.
//! - `forced_*`: io_copy with a [`Copier`] policy that forbids the default path; the path it
//!   really took is printed (from its `Report`) when the benchmark is checked.
//! - `raw_splice` (file→pipe): `splice(2)` in a loop, the floor io_copy's sendfile is held to.
//!
//! Only the copy call is timed. Rewinding the source file and truncating (`fresh`) or rewinding
//! (`overwrite`) the sink file happen between copies, untimed. Socket and pipe ends are fed and
//! drained by threads that stream the whole batch, so a copy into a socket is throttled by its
//! reader as in real use. Before a contender is measured, one copy is checked at the far end:
//! its length and a checksum of its bytes.
//!
//! Copies at explicit offsets (`io_copy::copy_at`) have their own group, `offset_file_file_tmpfs`,
//! against `seek` + `take` + `std::io::copy` and a `pread`/`pwrite` loop.

#[cfg(target_os = "linux")]
#[cfg(target_os = "linux")]
fn main() {
    // What criterion_main! does, with the scratch files removed at the end (also on a panic).
    let _scratch = linux::Scratch;
    linux::benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("these benches measure Linux's kernel paths");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::fs::{self, File};
    use std::io::{self, Read, Seek, SeekFrom, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsFd, BorrowedFd};
    use std::os::unix::fs::FileExt;
    use std::os::unix::net::UnixStream;
    use std::path::{Path as FsPath, PathBuf};
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::sync::OnceLock;
    use std::thread;
    use std::time::{Duration, Instant};

    use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
    use io_copy::{Copier, ReaderFrom, Report, WriterTo};

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const SIZES: [u64; 4] = [4 * KIB, 64 * KIB, MIB, 64 * MIB];

    criterion::criterion_group! {
        name = benches;
        config = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(1))
            .nresamples(20_000)
            .without_plots();
        targets = pairs, offsets
    }

    // ---------------------------------------------------------------------------------------
    // Contenders

    #[derive(Clone, Copy)]
    enum Contender {
        IoCopy,
        Std,
        Loop64K,
        /// io_copy with a policy; the name says what it forbids.
        Forced(&'static str, Copier),
        RawSplice,
    }

    impl Contender {
        fn name(self) -> &'static str {
            match self {
                Contender::IoCopy => "io_copy",
                Contender::Std => "std",
                Contender::Loop64K => "rw_loop_64k",
                Contender::Forced(name, _) => name,
                Contender::RawSplice => "raw_splice",
            }
        }
    }

    const BUFFERED_ONLY: Contender = Contender::Forced("forced_buffered", Copier::buffered_only());
    /// Splice out of the source pipe, which the default policy leaves for the loop.
    const SPLICE_FROM_PIPE: Contender =
        Contender::Forced("forced_splice", Copier::new().splice_from_pipe(true));
    /// No copy_file_range: a file→file copy takes sendfile.
    const SENDFILE: Contender =
        Contender::Forced("forced_sendfile", Copier::new().copy_file_range(false));

    /// Runs a contender that works on `Read`/`Write` values; io_copy's policy contenders return
    /// their report.
    fn run<R, W>(c: Contender, r: &mut R, w: &mut W) -> io::Result<(u64, Option<Report>)>
    where
        R: WriterTo + Read,
        W: ReaderFrom + Write,
    {
        match c {
            Contender::IoCopy => Ok((io_copy::copy(r, w)?, None)),
            Contender::Std => Ok((io::copy(r, w)?, None)),
            Contender::Loop64K => Ok((rw_loop(r, w)?, None)),
            Contender::Forced(_, copier) => {
                let report = copier.copy(r, w)?;
                Ok((report.written(), Some(report)))
            }
            Contender::RawSplice => unreachable!("raw_splice runs on descriptors"),
        }
    }

    thread_local! {
        static LOOP_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
    }

    /// The plain loop every program starts with.
    fn rw_loop<R: Read + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W) -> io::Result<u64> {
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

    /// `splice(2)` from a file (at its position) into a pipe until the file ends.
    fn raw_splice(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<u64> {
        let mut total = 0;
        loop {
            let flags = rustix::pipe::SpliceFlags::empty();
            match rustix::pipe::splice(src, None, dst, None, io_copy::MAX_CHUNK, flags)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Sources and sinks (as in examples/tour.rs)

    trait Source {
        type Reader<'a>: WriterTo + Read
        where
            Self: 'a;
        /// Untimed, once per batch.
        fn begin(&mut self, total: u64) -> io::Result<()>;
        /// Untimed, before each copy.
        fn rewind(&mut self) -> io::Result<()>;
        fn reader(&mut self, n: u64) -> Self::Reader<'_>;
        fn fd(&self) -> BorrowedFd<'_>;
    }

    trait Sink {
        type Writer<'a>: ReaderFrom + Write
        where
            Self: 'a;
        /// Untimed, once per batch.
        fn begin(&mut self, total: u64, verify: bool) -> io::Result<()>;
        /// Untimed, before each copy.
        fn rewind(&mut self) -> io::Result<()>;
        fn writer(&mut self) -> Self::Writer<'_>;
        /// Untimed: waits for the far end; with `verify`, its length and checksum.
        fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>>;
        fn fd(&self) -> BorrowedFd<'_>;
    }

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
        fn fd(&self) -> BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    /// A stream a feeder thread writes; each copy takes `n` bytes of it.
    struct Fed<T> {
        stream: T,
        feeder: Sender<u64>,
    }

    impl<T: WriterTo + Read + AsFd> Source for Fed<T> {
        type Reader<'a>
            = io::Take<&'a mut T>
        where
            T: 'a;
        fn begin(&mut self, total: u64) -> io::Result<()> {
            self.feeder
                .send(total)
                .map_err(|_| io::Error::other("feeder ended"))
        }
        fn rewind(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn reader(&mut self, n: u64) -> io::Take<&mut T> {
            (&mut self.stream).take(n)
        }
        fn fd(&self) -> BorrowedFd<'_> {
            self.stream.as_fd()
        }
    }

    /// A file written from its start by each copy: truncated first (`fresh`) or overwritten.
    struct FileSink {
        path: PathBuf,
        file: File,
        fresh: bool,
    }

    impl Sink for FileSink {
        type Writer<'a> = &'a mut File;
        fn begin(&mut self, _: u64, _: bool) -> io::Result<()> {
            Ok(())
        }
        fn rewind(&mut self) -> io::Result<()> {
            if self.fresh {
                self.file.set_len(0)?;
            }
            self.file.rewind()
        }
        fn writer(&mut self) -> &mut File {
            &mut self.file
        }
        fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>> {
            if !verify {
                return Ok(None);
            }
            // An overwritten sink keeps its old length: the copy is the prefix it wrote.
            let len = self.file.stream_position()?;
            let bytes = fs::read(&self.path)?;
            Ok(Some((len, checksum(&bytes[..len as usize]))))
        }
        fn fd(&self) -> BorrowedFd<'_> {
            self.file.as_fd()
        }
    }

    /// A stream a drainer thread reads.
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
            self.drainer
                .tx
                .send((total, verify))
                .map_err(|_| io::Error::other("drainer ended"))
        }
        fn rewind(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn writer(&mut self) -> &mut T {
            &mut self.stream
        }
        fn end(&mut self, verify: bool) -> io::Result<Option<(u64, u64)>> {
            let got = self
                .drainer
                .rx
                .recv()
                .map_err(|_| io::Error::other("drainer ended"))??;
            Ok(verify.then_some(got))
        }
        fn fd(&self) -> BorrowedFd<'_> {
            self.stream.as_fd()
        }
    }

    /// Writes `total` bytes per request: the pattern from its start, again and again.
    fn feeder<W: Write + Send + 'static>(mut w: W) -> Sender<u64> {
        let (tx, rx) = mpsc::channel::<u64>();
        thread::spawn(move || {
            let data = pattern();
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
        tx
    }

    struct Drainer {
        tx: Sender<(u64, bool)>,
        rx: Receiver<io::Result<(u64, u64)>>,
    }

    /// Reads exactly `total` bytes per request; answers with the count and, to verify, the
    /// checksum.
    fn drainer<R: Read + Send + 'static>(mut r: R) -> Drainer {
        let (tx, requests) = mpsc::channel::<(u64, bool)>();
        let (answers, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            for (total, verify) in requests {
                let (mut got, mut kept) = (0u64, Vec::new());
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
                if answers.send(res.map(|()| (got, checksum(&kept)))).is_err() {
                    return;
                }
            }
        });
        Drainer { tx, rx }
    }

    // ---------------------------------------------------------------------------------------
    // Pairs

    trait Bench {
        /// `copies` copies with `c`; returns the time in the copy calls alone. With `verify`
        /// (one copy), checks the far end and returns io_copy's report if `c` gives one.
        fn batch(
            &mut self,
            c: Contender,
            copies: u64,
            verify: bool,
        ) -> io::Result<(Duration, Option<Report>)>;
    }

    struct Pair<S, K> {
        src: S,
        dst: K,
        n: u64,
    }

    impl<S: Source, K: Sink> Bench for Pair<S, K> {
        fn batch(
            &mut self,
            c: Contender,
            copies: u64,
            verify: bool,
        ) -> io::Result<(Duration, Option<Report>)> {
            self.src.begin(self.n * copies)?;
            self.dst.begin(self.n * copies, verify)?;
            let (mut elapsed, mut last) = (Duration::ZERO, None);
            for _ in 0..copies {
                self.src.rewind()?;
                self.dst.rewind()?;
                let t0;
                let (written, report) = if let Contender::RawSplice = c {
                    t0 = Instant::now();
                    (raw_splice(self.src.fd(), self.dst.fd())?, None)
                } else {
                    let mut r = self.src.reader(self.n);
                    let mut w = self.dst.writer();
                    t0 = Instant::now();
                    run(c, &mut r, &mut w)?
                };
                elapsed += t0.elapsed();
                if written != self.n {
                    return Err(io::Error::other(format!(
                        "copied {written} of {} bytes",
                        self.n
                    )));
                }
                last = report;
            }
            if let Some(got) = self.dst.end(verify)? {
                let want = (self.n, checksum(&pattern()[..self.n as usize]));
                if got != want {
                    return Err(io::Error::other(format!(
                        "far end got {got:?}, expected {want:?}"
                    )));
                }
            }
            Ok((elapsed, last))
        }
    }

    /// The scratch directories: one on tmpfs, one on the disk under target/.
    struct Dirs {
        tmpfs: PathBuf,
        disk: PathBuf,
    }

    static DIRS: OnceLock<Dirs> = OnceLock::new();

    fn dirs() -> &'static Dirs {
        DIRS.get_or_init(|| {
            let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
            let scratch = |builder: &mut tempfile::Builder, dir: &FsPath| {
                let made = builder.prefix("io_copy-bench-").tempdir_in(dir);
                made.unwrap_or_else(|e| panic!("a scratch dir in {}: {e}", dir.display()))
                    .keep()
            };
            Dirs {
                tmpfs: scratch(&mut tempfile::Builder::new(), FsPath::new("/dev/shm")),
                disk: scratch(&mut tempfile::Builder::new(), &target),
            }
        })
    }

    /// Removes the scratch directories when dropped.
    pub struct Scratch;

    impl Drop for Scratch {
        fn drop(&mut self) {
            if let Some(d) = DIRS.get() {
                let _ = fs::remove_dir_all(&d.tmpfs);
                let _ = fs::remove_dir_all(&d.disk);
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Place {
        Tmpfs,
        Disk,
    }

    fn dir(at: Place) -> &'static FsPath {
        match at {
            Place::Tmpfs => &dirs().tmpfs,
            Place::Disk => &dirs().disk,
        }
    }

    fn source(at: Place, n: u64) -> io::Result<FileSource> {
        let path = dir(at).join(format!("src-{n}"));
        if fs::metadata(&path).map(|m| m.len()).ok() != Some(n) {
            fs::write(&path, &pattern()[..n as usize])?;
        }
        Ok(FileSource(File::open(path)?))
    }

    fn sink(at: Place, fresh: bool) -> io::Result<FileSink> {
        let path = dir(at).join("dst");
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(FileSink { path, file, fresh })
    }

    fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        Ok((client, server))
    }

    fn boxed<S: Source + 'static, K: Sink + 'static>(n: u64, src: S, dst: K) -> Box<dyn Bench> {
        Box::new(Pair { src, dst, n })
    }

    fn file_file(at: Place, fresh: bool, n: u64) -> io::Result<Box<dyn Bench>> {
        Ok(boxed(n, source(at, n)?, sink(at, fresh)?))
    }

    fn file_tcp(n: u64) -> io::Result<Box<dyn Bench>> {
        let (client, server) = tcp_pair()?;
        let dst = Drained {
            stream: client,
            drainer: drainer(server),
        };
        Ok(boxed(n, source(Place::Tmpfs, n)?, dst))
    }

    fn tcp_tcp(n: u64) -> io::Result<Box<dyn Bench>> {
        let (a_client, a_server) = tcp_pair()?;
        let (b_client, b_server) = tcp_pair()?;
        let src = Fed {
            stream: a_server,
            feeder: feeder(a_client),
        };
        let dst = Drained {
            stream: b_client,
            drainer: drainer(b_server),
        };
        Ok(boxed(n, src, dst))
    }

    fn tcp_file(n: u64) -> io::Result<Box<dyn Bench>> {
        let (client, server) = tcp_pair()?;
        let src = Fed {
            stream: server,
            feeder: feeder(client),
        };
        Ok(boxed(n, src, sink(Place::Tmpfs, true)?))
    }

    fn file_pipe(n: u64) -> io::Result<Box<dyn Bench>> {
        let (r, w) = io::pipe()?;
        let dst = Drained {
            stream: w,
            drainer: drainer(r),
        };
        Ok(boxed(n, source(Place::Tmpfs, n)?, dst))
    }

    fn pipe_file(n: u64) -> io::Result<Box<dyn Bench>> {
        let (r, w) = io::pipe()?;
        let src = Fed {
            stream: r,
            feeder: feeder(w),
        };
        Ok(boxed(n, src, sink(Place::Tmpfs, true)?))
    }

    fn unix_unix(n: u64) -> io::Result<Box<dyn Bench>> {
        let (a_far, a_near) = UnixStream::pair()?;
        let (b_near, b_far) = UnixStream::pair()?;
        let src = Fed {
            stream: a_near,
            feeder: feeder(a_far),
        };
        let dst = Drained {
            stream: b_near,
            drainer: drainer(b_far),
        };
        Ok(boxed(n, src, dst))
    }

    /// One group: a pair, how to build it at a size, and its contenders.
    struct Group {
        name: &'static str,
        build: Box<dyn Fn(u64) -> io::Result<Box<dyn Bench>>>,
        contenders: Vec<Contender>,
    }

    fn groups() -> Vec<Group> {
        use Contender::{IoCopy, Loop64K, RawSplice, Std};
        let file_file_group = |name, at, fresh| Group {
            name,
            build: Box::new(move |n| file_file(at, fresh, n)),
            contenders: vec![IoCopy, Std, Loop64K, SENDFILE, BUFFERED_ONLY],
        };
        let group =
            |name, build: fn(u64) -> io::Result<Box<dyn Bench>>, extra: &[Contender]| Group {
                name,
                build: Box::new(build),
                contenders: [&[IoCopy, Std, Loop64K, BUFFERED_ONLY][..], extra].concat(),
            };
        vec![
            file_file_group("file_file_tmpfs_fresh", Place::Tmpfs, true),
            file_file_group("file_file_tmpfs_overwrite", Place::Tmpfs, false),
            file_file_group("file_file_disk_fresh", Place::Disk, true),
            file_file_group("file_file_disk_overwrite", Place::Disk, false),
            group("file_tcp", file_tcp, &[]),
            group("tcp_tcp", tcp_tcp, &[]),
            group("tcp_file", tcp_file, &[]),
            group("file_pipe", file_pipe, &[RawSplice]),
            group("pipe_file", pipe_file, &[SPLICE_FROM_PIPE]),
            group("unix_unix", unix_unix, &[]),
        ]
    }

    fn size_id(n: u64) -> String {
        if n >= MIB {
            format!("{}MiB", n / MIB)
        } else {
            format!("{}KiB", n / KIB)
        }
    }

    /// Sets a group's sampling for the size: 64 MiB copies take tens of milliseconds, so their
    /// samples are flat and few.
    fn plan(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, n: u64) {
        g.throughput(Throughput::Bytes(n));
        if n >= 64 * MIB {
            g.sampling_mode(SamplingMode::Flat)
                .measurement_time(Duration::from_secs(2));
        } else {
            g.sampling_mode(SamplingMode::Linear)
                .measurement_time(Duration::from_secs(1));
        }
    }

    pub fn pairs(c: &mut Criterion) {
        for group in groups() {
            let mut g = c.benchmark_group(group.name);
            for n in SIZES {
                plan(&mut g, n);
                // Built on first use, so a filtered-out group costs nothing.
                let pair: RefCell<Option<Box<dyn Bench>>> = RefCell::new(None);
                for &contender in &group.contenders {
                    let id = BenchmarkId::new(contender.name(), size_id(n));
                    let mut checked = false;
                    g.bench_function(id, |b| {
                        let mut slot = pair.borrow_mut();
                        let bench = slot.get_or_insert_with(|| {
                            (group.build)(n)
                                .unwrap_or_else(|e| panic!("{}: cannot set up: {e}", group.name))
                        });
                        if !checked {
                            // The default contender checks through `Copier::new()`, which is what
                            // `io_copy::copy` runs, to print the path from its report.
                            let check = match contender {
                                Contender::IoCopy => Contender::Forced("io_copy", Copier::new()),
                                c => c,
                            };
                            let (_, report) = bench.batch(check, 1, true).unwrap_or_else(|e| {
                                panic!("{}/{}: check failed: {e}", group.name, contender.name())
                            });
                            if let Some(r) = report {
                                eprintln!(
                                    "{}/{}/{}: path {r}",
                                    group.name,
                                    contender.name(),
                                    size_id(n)
                                );
                            }
                            checked = true;
                        }
                        b.iter_custom(|iters| {
                            bench
                                .batch(contender, iters, false)
                                .unwrap_or_else(|e| {
                                    panic!("{}/{}: {e}", group.name, contender.name())
                                })
                                .0
                        });
                    });
                }
            }
            g.finish();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Copies at explicit offsets: `n` bytes from 4 KiB into the source to the start of a fresh
    // sink, both positions left alone.

    #[derive(Clone, Copy)]
    enum AtContender {
        IoCopyAt,
        SeekTakeStd,
        PreadPwrite,
    }

    const HEADER: u64 = 4 * KIB;

    fn copy_at(c: AtContender, src: &File, dst: &mut File, n: u64) -> io::Result<u64> {
        match c {
            AtContender::IoCopyAt => io_copy::copy_at(src, HEADER, dst, 0, n),
            AtContender::SeekTakeStd => {
                let mut src = src;
                src.seek(SeekFrom::Start(HEADER))?;
                io::copy(&mut src.take(n), dst)
            }
            AtContender::PreadPwrite => LOOP_BUF.with(|b| {
                let buf = &mut b.borrow_mut()[..];
                let mut done = 0;
                while done < n {
                    let want = (n - done).min(buf.len() as u64) as usize;
                    let k = src.read_at(&mut buf[..want], HEADER + done)?;
                    if k == 0 {
                        break;
                    }
                    dst.write_all_at(&buf[..k], done)?;
                    done += k as u64;
                }
                Ok(done)
            }),
        }
    }

    pub fn offsets(c: &mut Criterion) {
        let mut g = c.benchmark_group("offset_file_file_tmpfs");
        let contenders = [
            ("io_copy_at", AtContender::IoCopyAt),
            ("seek_take_std", AtContender::SeekTakeStd),
            ("pread_pwrite_64k", AtContender::PreadPwrite),
        ];
        for n in SIZES {
            plan(&mut g, n);
            let files: RefCell<Option<(File, File, PathBuf)>> = RefCell::new(None);
            for (name, contender) in contenders {
                let mut checked = false;
                g.bench_function(BenchmarkId::new(name, size_id(n)), |b| {
                    let mut slot = files.borrow_mut();
                    let (src, dst, dst_path) = slot.get_or_insert_with(|| {
                        let dir = &dirs().tmpfs;
                        let src_path = dir.join(format!("at-src-{n}"));
                        let mut bytes = vec![0xAA; HEADER as usize];
                        bytes.extend_from_slice(&pattern()[..n as usize]);
                        fs::write(&src_path, bytes).expect("source file");
                        let dst_path = dir.join("at-dst");
                        let dst = File::create(&dst_path).expect("sink file");
                        (File::open(src_path).expect("source file"), dst, dst_path)
                    });
                    let once = |src: &File, dst: &mut File| -> Duration {
                        dst.set_len(0).expect("truncate");
                        let t0 = Instant::now();
                        let got = copy_at(contender, src, dst, n).expect("copy");
                        let t = t0.elapsed();
                        assert_eq!(got, n, "{name}: short copy");
                        t
                    };
                    if !checked {
                        once(src, dst);
                        let bytes = fs::read(&*dst_path).expect("read back");
                        assert_eq!(
                            checksum(&bytes),
                            checksum(&pattern()[..n as usize]),
                            "{name}: bytes differ"
                        );
                        checked = true;
                    }
                    b.iter_custom(|iters| (0..iters).map(|_| once(src, dst)).sum());
                });
            }
        }
        g.finish();
    }

    // ---------------------------------------------------------------------------------------

    /// Pseudo-random bytes, so that a byte out of place changes the checksum.
    fn pattern() -> &'static [u8] {
        static DATA: OnceLock<Vec<u8>> = OnceLock::new();
        DATA.get_or_init(|| {
            let len = *SIZES.iter().max().expect("sizes") as usize;
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
        })
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
