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
//! The pairs are the tour's (`examples/tour/pairs.rs`, included here): every socket or pipe end
//! is fed or drained by a separate process, this bench binary started again as the tour's
//! far-end program. Only the copy call is timed. Rewinding the source file and truncating
//! (`fresh`) or rewinding (`overwrite`) the sink file happen between copies, untimed, and a pipe
//! sink is set back to the size it was made with before each batch. The far end streams the
//! whole batch, so a copy into a socket is throttled by its reader as in real use. Before a
//! contender is measured, one copy is checked at the far end: its length and a checksum of its
//! bytes.
//!
//! Copies at explicit offsets (`io_copy::copy_at`) have their own group, `offset_file_file_tmpfs`,
//! against `seek` + `take` + `std::io::copy` and a `pread`/`pwrite` loop.

#[cfg(target_os = "linux")]
#[path = "../examples/tour/pairs.rs"]
mod pairs;

#[cfg(target_os = "linux")]
fn main() {
    pairs::far_end_main_if_asked();
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
    use std::io::{self, Read, Seek, SeekFrom};
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
    use io_copy::Copier;

    use crate::pairs::{checksum, pattern, Bench, Dirs, Far, How, Kind, Place, Seed, KIB, MIB};

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

    const IO_COPY: (&str, How) = ("io_copy", How::IoCopy);
    const STD: (&str, How) = ("std", How::Std);
    const LOOP_64K: (&str, How) = ("rw_loop_64k", How::Loop64K);
    const BUFFERED_ONLY: (&str, How) = (
        "forced_buffered",
        How::Policy("forced_buffered", Copier::buffered_only()),
    );
    /// Splice out of the source pipe, which the default policy leaves for the loop.
    const SPLICE_FROM_PIPE: (&str, How) = (
        "forced_splice",
        How::Policy("forced_splice", Copier::new().splice_from_pipe(true)),
    );
    /// No copy_file_range: a file→file copy takes sendfile.
    const SENDFILE: (&str, How) = (
        "forced_sendfile",
        How::Policy("forced_sendfile", Copier::new().copy_file_range(false)),
    );
    /// The sink pipe left at the size it was made with.
    const NO_GROW: (&str, How) = (
        "forced_no_grow",
        How::Policy("forced_no_grow", Copier::new().grow_buffers(false)),
    );
    const RAW_SPLICE: (&str, How) = ("raw_splice", How::Seed(Seed::Splice));

    // ---------------------------------------------------------------------------------------
    // Pairs

    /// The scratch directories, kept for the whole run.
    static DIRS: OnceLock<Dirs> = OnceLock::new();

    fn dirs() -> &'static Dirs {
        DIRS.get_or_init(|| Dirs::new("io_copy-bench-"))
    }

    /// Removes the scratch directories when dropped (a `static` is never dropped).
    pub struct Scratch;

    impl Drop for Scratch {
        fn drop(&mut self) {
            if let Some(d) = DIRS.get() {
                if let Ok(t) = &d.tmpfs {
                    let _ = fs::remove_dir_all(t.path());
                }
                let _ = fs::remove_dir_all(d.disk.path());
            }
        }
    }

    /// One group: a pair, where its files live, and its contenders.
    struct Group {
        name: &'static str,
        kind: Kind,
        place: Place,
        fresh: bool,
        contenders: Vec<(&'static str, How)>,
    }

    fn groups() -> Vec<Group> {
        let file_file = |name, place, fresh| Group {
            name,
            kind: Kind::FileFile,
            place,
            fresh,
            contenders: vec![IO_COPY, STD, LOOP_64K, SENDFILE, BUFFERED_ONLY],
        };
        let group = |name, kind, extra: &[(&'static str, How)]| Group {
            name,
            kind,
            place: Place::Tmpfs,
            fresh: true,
            contenders: [&[IO_COPY, STD, LOOP_64K, BUFFERED_ONLY][..], extra].concat(),
        };
        vec![
            file_file("file_file_tmpfs_fresh", Place::Tmpfs, true),
            file_file("file_file_tmpfs_overwrite", Place::Tmpfs, false),
            file_file("file_file_disk_fresh", Place::Disk, true),
            file_file("file_file_disk_overwrite", Place::Disk, false),
            group("file_tcp", Kind::FileTcp, &[]),
            group("tcp_tcp", Kind::TcpTcp, &[]),
            group("tcp_file", Kind::TcpFile, &[]),
            group("tcp_pipe", Kind::TcpPipe, &[NO_GROW]),
            group("file_pipe", Kind::FilePipe, &[RAW_SPLICE, NO_GROW]),
            group("pipe_file", Kind::PipeFile, &[SPLICE_FROM_PIPE]),
            group("unix_unix", Kind::UnixUnix, &[]),
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
                for &(name, how) in &group.contenders {
                    let id = BenchmarkId::new(name, size_id(n));
                    let mut checked = false;
                    g.bench_function(id, |b| {
                        let mut slot = pair.borrow_mut();
                        let bench = slot.get_or_insert_with(|| {
                            group
                                .kind
                                .build(dirs(), group.place, n, Far::Process, group.fresh)
                                .unwrap_or_else(|e| panic!("{}: cannot set up: {e}", group.name))
                        });
                        if !checked {
                            // The default contender checks through `Copier::new()`, which is what
                            // `io_copy::copy` runs, to print the path from its report.
                            let check = match how {
                                How::IoCopy => How::Policy("io_copy", Copier::new()),
                                h => h,
                            };
                            let mut path = None;
                            bench
                                .batch(check, 1, true, &mut |c| {
                                    path = c.report.as_ref().map(|r| r.to_string())
                                })
                                .unwrap_or_else(|e| {
                                    panic!("{}/{name}: check failed: {e}", group.name)
                                });
                            if let Some(p) = path {
                                eprintln!("{}/{name}/{}: path {p}", group.name, size_id(n));
                            }
                            checked = true;
                        }
                        b.iter_custom(|iters| {
                            bench
                                .batch(how, iters, false, &mut |_| {})
                                .unwrap_or_else(|e| panic!("{}/{name}: {e}", group.name))
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
                        let dir = dirs().dir(Place::Tmpfs).expect("a tmpfs scratch dir");
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

    thread_local! {
        static LOOP_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
    }
}
