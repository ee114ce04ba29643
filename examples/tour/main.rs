//! A tour of io_copy on this machine: every source/sink pair the kernel offers, at a few sizes,
//! copied by `io_copy`, by `std::io::copy` and by Go's `io.Copy`, with the path each copy took.
//!
//! ```text
//! cargo run --release --example tour                  # the tour, about a minute
//! cargo run --release --example tour -- --repeat 3    # each cell the median of three tours
//! cargo run --release --example tour -- --servers     # only examples/serve and proxy under wrk
//! cargo run --release --example tour -- --only tokio   # only the tokio relays
//! cargo run --release --example tour -- --large       # only 2 GiB files and the page cache (minutes)
//! ```
//!
//! For each pair and size it prints the path io_copy's [`Report`](io_copy::Report) names (and
//! any fallback), the data-moving syscalls per copy from the report (`fstat`/`fcntl` are not
//! counted), the throughput of io_copy, of std and of Go, and io_copy's ratio to each. Then the
//! same pipe and socket pairs with their far ends on threads of the measuring process, the CPU
//! the relay thread spent per GiB, and a "seed comparison": the ways to move a file into a pipe
//! or a socket by hand, with their syscalls and context switches per copy. Last, relays on
//! tokio: `io_copy::tokio` against tokio's own `copy` and `copy_bidirectional` and against
//! tokio-splice2 (see `relays.rs`).
//!
//! # What is timed
//!
//! Only the copy call, on the thread that makes it. A sample is a batch of copies (at least
//! 8 MiB in all; 2048 copies of 4 KiB); each cell is the median of its samples of each
//! contender. The samples are interleaved: each round takes one sample of io_copy, one of std
//! and one of Go, in an order that rotates per round, so that each ratio compares samples taken
//! close in time on a machine whose speed drifts. Untimed: rewinding the source file, truncating
//! the sink file before each copy, and setting a pipe sink back to the size it was made with
//! before each batch (io_copy grows the pipe it writes; every batch starts from the pipe a shell
//! would have made).
//!
//! # Far ends
//!
//! A socket or pipe source is written by a feeder and a socket or pipe sink is read by a
//! drainer, each in a separate process: this program started again as a far end (see
//! `pairs.rs`), the same for io_copy, std and Go, as in `tool | consumer`. The far end streams a
//! whole batch, so a copy into a socket is throttled by its reader as in real use. The second
//! table puts the far ends on threads of the measuring process instead (goroutines for Go), as
//! a program that relays between its own threads does. Before timing, one copy of each
//! contender is checked at the far end (its length and a checksum of its bytes), and every timed
//! copy's count is checked.
//!
//! Copies from a file run to its end; copies from a socket or pipe take exactly the size with
//! [`Read::take`](std::io::Read::take), as a relay of a framed stream does, so the connections
//! stay open between copies.

#[cfg(target_os = "linux")]
mod go;
#[cfg(target_os = "linux")]
mod large;
#[cfg(target_os = "linux")]
mod pairs;
#[cfg(target_os = "linux")]
mod relays;
#[cfg(target_os = "linux")]
mod servers;
#[cfg(target_os = "linux")]
mod table;
#[cfg(target_os = "linux")]
mod timing;

#[cfg(target_os = "linux")]
fn main() {
    pairs::far_end_main_if_asked();
    tour::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the tour measures Linux's kernel paths; here io_copy takes the read/write loop");
}

#[cfg(target_os = "linux")]
mod tour {
    use std::fs;
    use std::path::PathBuf;
    use std::thread;

    use crate::go::GoPeer;
    use crate::pairs::{Dirs, Far, How, Kind, Place, Seed, IO_COPY, KIB, MIB};
    use crate::table::{self, fs_name, gib_s, size_name, Cell, Progress};
    use crate::timing::{self, median, Tally};

    /// The sizes of the tables.
    const SIZES: [u64; 3] = [4 * KIB, MIB, 64 * MIB];
    /// The size of the seed comparison.
    const SEED_SIZE: u64 = MIB;

    /// The main table's pairs, in the order printed.
    const PAIRS: &[(Kind, Place)] = &[
        (Kind::FileFile, Place::Tmpfs),
        (Kind::FileFile, Place::Disk),
        (Kind::FileTcp, Place::Tmpfs),
        (Kind::TcpTcp, Place::Nowhere),
        (Kind::TcpFile, Place::Tmpfs),
        (Kind::TcpPipe, Place::Nowhere),
        (Kind::TcpUnix, Place::Nowhere),
        (Kind::FilePipe, Place::Tmpfs),
        (Kind::PipeFile, Place::Tmpfs),
        (Kind::FileUnix, Place::Tmpfs),
        (Kind::UnixUnix, Place::Nowhere),
        (Kind::FileNull, Place::Tmpfs),
        (Kind::FileChild, Place::Tmpfs),
        (Kind::ChildFile, Place::Tmpfs),
        (Kind::MemVec, Place::Nowhere),
    ];

    /// The pairs of the in-process table: those whose far end wakes up at every hand-over.
    const IN_PROCESS: &[(Kind, Place)] = &[
        (Kind::FilePipe, Place::Tmpfs),
        (Kind::FileUnix, Place::Tmpfs),
        (Kind::TcpTcp, Place::Nowhere),
        (Kind::UnixUnix, Place::Nowhere),
    ];

    /// The relay rows of the CPU table.
    fn is_relay(kind: Kind) -> bool {
        matches!(kind, Kind::TcpTcp | Kind::UnixUnix)
    }

    struct Options {
        repeat: usize,
        /// Only the pairs whose name (as `Kind`'s `Debug`) contains this.
        only: Option<String>,
        /// Only the servers of `examples/` under wrk.
        servers: bool,
        /// Only the large-file rows (`large.rs`).
        large: bool,
    }

    fn options() -> Options {
        let mut opts = Options {
            repeat: 1,
            only: None,
            servers: false,
            large: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--repeat" => {
                    opts.repeat = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .unwrap_or_else(|| usage("--repeat takes a count of tours"));
                }
                "--only" => {
                    opts.only = Some(args.next().unwrap_or_else(|| usage("--only takes a pair")));
                }
                "--servers" => opts.servers = true,
                "--large" => opts.large = true,
                "-h" | "--help" => usage(""),
                other => usage(&format!("unknown argument {other:?}")),
            }
        }
        opts
    }

    fn usage(why: &str) -> ! {
        if !why.is_empty() {
            eprintln!("tour: {why}");
        }
        eprintln!(
            "usage: cargo run --release --example tour [-- [--repeat N] [--only PAIR] [--servers] [--large]]"
        );
        eprintln!("  --repeat N   each cell the median of N tours");
        eprintln!("  --only PAIR  only the pairs whose name contains PAIR (FileFile, TcpTcp, MemVec, ...; tokio: the tokio relays)");
        eprintln!(
            "  --servers    only examples/serve and examples/proxy under wrk, beside std and nginx"
        );
        eprintln!("  --large      only 2 GiB files under each page-cache policy, beside cp and dd (minutes, root for xfs)");
        std::process::exit(2);
    }

    /// Everything one cell needs.
    struct Ctx<'a> {
        dirs: &'a Dirs,
        go: &'a mut Result<GoPeer, String>,
        progress: &'a Progress,
        problems: &'a mut Vec<String>,
        /// Put before each cell's name in the progress line.
        label: String,
        only: Option<String>,
    }

    /// Measures one cell: io_copy and std, and Go when the peer runs. `None` when the pair
    /// could not be built or a copy failed (the reason is in `problems`).
    fn cell(ctx: &mut Ctx<'_>, kind: Kind, place: Place, n: u64, far: Far) -> Option<Cell> {
        let fs = match place {
            Place::Nowhere => "-".to_string(),
            p => ctx.dirs.dir(p).map_or("?".into(), fs_name),
        };
        let name = format!("{} ({fs}) {}", kind.name(), size_name(n));
        ctx.progress.show(&format!("{}{name}", ctx.label));
        let mut bench = match kind.build(ctx.dirs, place, n, far, true) {
            Ok(b) => b,
            Err(e) => {
                ctx.problems.push(format!("{name}: {e}"));
                return None;
            }
        };
        // Go's side of the cell is built beside ours, so that the rounds take Go's samples
        // between io_copy's and std's.
        let dir = ctx.dirs.dir(place).ok();
        let peer = match ctx.go {
            Ok(peer) if peer.alive() => match peer.setup(kind, n, dir, far) {
                Ok(()) => Some(peer),
                Err(e) => {
                    ctx.problems.push(format!("Go peer, {name}: set-up: {e}"));
                    None
                }
            },
            _ => None,
        };
        let went_in = peer.is_some();
        let mut go_sample;
        let sampler: Option<timing::Sampler<'_>> = match peer {
            Some(peer) => {
                go_sample = move |copies| peer.sample(copies);
                Some(&mut go_sample)
            }
            None => None,
        };
        let res = timing::measure(&mut *bench, &[IO_COPY, How::Std], n, sampler);
        drop(bench);
        if let Ok(peer) = ctx.go {
            if went_in && peer.alive() {
                if let Err(e) = peer.teardown() {
                    ctx.problems.push(format!("Go peer, {name}: teardown: {e}"));
                }
            }
        }
        let (t, go) = match res {
            Ok(t) => t,
            Err(e) => {
                ctx.problems.push(format!("{name}: {e}"));
                return None;
            }
        };
        let go = match go {
            Some(Ok(secs)) => Some(secs),
            Some(Err(e)) => {
                ctx.problems.push(format!("Go peer, {name}: {e}"));
                None
            }
            None => None,
        };
        let cpu = |t: &Tally| median(&t.cpu);
        Some(Cell {
            pair: kind.name(),
            fs,
            n,
            path: t[0].path(),
            calls: t[0].calls_per_copy(),
            io: t[0].median_secs(),
            std: t[1].median_secs(),
            go,
            io_cpu: cpu(&t[0]),
            std_cpu: cpu(&t[1]),
        })
    }

    /// One table: every pair at every size. A cell that fails is left out of this tour's list;
    /// its place is kept by key so that tours merge cell by cell.
    fn tour_table(ctx: &mut Ctx<'_>, pairs: &[(Kind, Place)], far: Far) -> Vec<(String, Cell)> {
        let mut cells = Vec::new();
        for &(kind, place) in pairs {
            if ctx
                .only
                .as_ref()
                .is_some_and(|o| !format!("{kind:?}").contains(o.as_str()))
            {
                continue;
            }
            for n in SIZES {
                if far == Far::Thread && n < MIB {
                    continue;
                }
                let key = format!("{kind:?}/{place:?}/{n}");
                if let Some(c) = cell(ctx, kind, place, n, far) {
                    cells.push((key, c));
                }
            }
        }
        cells
    }

    /// Puts each tour's cells in the order of the keys of all of them.
    fn align<C: Clone>(tours: Vec<Vec<(String, C)>>) -> Vec<Vec<C>> {
        let mut keys: Vec<String> = Vec::new();
        for t in &tours {
            for (k, _) in t {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        // A cell missing from a tour is filled with another tour's, so merging stays by place.
        let any = |k: &String| {
            tours
                .iter()
                .find_map(|t| t.iter().find(|(kk, _)| kk == k).map(|(_, c)| c.clone()))
        };
        tours
            .iter()
            .map(|t| {
                keys.iter()
                    .filter_map(|k| {
                        t.iter()
                            .find(|(kk, _)| kk == k)
                            .map(|(_, c)| c.clone())
                            .or_else(|| any(k))
                    })
                    .collect()
            })
            .collect()
    }

    /// The seed comparison: the ways to put a file into a pipe or a socket by hand.
    fn seeds(ctx: &mut Ctx<'_>) -> Vec<String> {
        let hows = [
            How::Seed(Seed::ReadWrite),
            How::Seed(Seed::MmapWrite),
            How::Seed(Seed::Sendfile),
            How::Seed(Seed::Splice),
            IO_COPY,
            How::Std,
        ];
        let mut lines = Vec::new();
        for kind in [Kind::FilePipe, Kind::FileTcp] {
            let name = kind.name();
            ctx.progress
                .show(&format!("seed comparison: {name} {}", size_name(SEED_SIZE)));
            let res = kind
                .build(ctx.dirs, Place::Tmpfs, SEED_SIZE, Far::Process, true)
                .and_then(|mut b| {
                    assert!(b.seedable(), "{name} is a file → descriptor pair");
                    timing::measure(&mut *b, &hows, SEED_SIZE, None).map(|(t, _)| t)
                });
            match res {
                Ok(tallies) => {
                    for (how, t) in hows.iter().zip(&tallies) {
                        let calls = match how {
                            How::Policy(..) => format!("{} ({})", t.calls_per_copy(), t.path()),
                            _ => t
                                .calls
                                .map_or("not counted".into(), |c| format!("{:.1}", t.per_copy(c))),
                        };
                        let label = match how {
                            How::Policy(..) => "io_copy::copy",
                            h => h.label(),
                        };
                        lines.push(format!(
                            "{:<10} {:<18} {:>9.2} {:>8.1} {:>8.1}   {}",
                            name,
                            label,
                            gib_s(SEED_SIZE, t.median_secs()),
                            t.per_copy(t.csw_thread),
                            t.per_copy(t.csw_process),
                            calls,
                        ));
                    }
                }
                Err(e) => ctx.problems.push(format!("seed comparison {name}: {e}")),
            }
        }
        lines
    }

    pub fn main() {
        let opts = options();
        let progress = Progress::new();
        if opts.servers {
            let res = crate::servers::run(&progress);
            progress.done();
            match res {
                Ok(lines) => {
                    println!("examples/serve and examples/proxy under wrk -t1 -c4 (keep-alive, {} s a run, the better of 2 rounds); CPU = the server's or proxy's process, per GiB served", 3);
                    for l in lines {
                        println!("{l}");
                    }
                }
                Err(e) => println!("servers: skipped — {e}"),
            }
            return;
        }
        if opts.large {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
            match crate::large::run(&target) {
                Ok(lines) => {
                    println!("2 GiB files and the page cache: each copy from a cold source after a sync; GiB/s of the copy call (io_copy) or the process (cp, dd); cached = the share of the bytes copied left in the page cache (mincore)");
                    for l in lines {
                        println!("{l}");
                    }
                }
                Err(e) => println!("large: failed — {e}"),
            }
            return;
        }
        if opts.only.as_deref() == Some("tokio") {
            let mut problems = Vec::new();
            let tours: Vec<_> = (1..=opts.repeat)
                .map(|run| {
                    let label = match opts.repeat {
                        1 => String::new(),
                        r => format!("[tour {run}/{r}] "),
                    };
                    crate::relays::tour(&progress, &label, &mut problems)
                })
                .collect();
            progress.done();
            crate::relays::print(&align(tours));
            for p in &problems {
                println!("skipped: {p}");
            }
            return;
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let _ = fs::create_dir_all(&target);
        let mut go = GoPeer::start(&target, &|what| progress.show(what));
        let dirs = Dirs::new("tour-");
        let mut problems = Vec::new();
        let mut ctx = Ctx {
            dirs: &dirs,
            go: &mut go,
            progress: &progress,
            problems: &mut problems,
            label: String::new(),
            only: opts.only.clone(),
        };
        let (mut main_tours, mut thread_tours, mut tokio_tours) =
            (Vec::new(), Vec::new(), Vec::new());
        for run in 1..=opts.repeat {
            let run = if opts.repeat > 1 {
                format!("[tour {run}/{}] ", opts.repeat)
            } else {
                String::new()
            };
            ctx.label = run.clone();
            main_tours.push(tour_table(&mut ctx, PAIRS, Far::Process));
            ctx.label = format!("{run}in-process: ");
            thread_tours.push(tour_table(&mut ctx, IN_PROCESS, Far::Thread));
            if opts.only.is_none() {
                tokio_tours.push(crate::relays::tour(&progress, &run, ctx.problems));
            }
        }
        let seed_lines = if ctx.only.is_some() {
            Vec::new()
        } else {
            seeds(&mut ctx)
        };
        if let Ok(peer) = &mut go {
            peer.stop();
        }
        progress.done();

        let main_cells = align(main_tours);
        let thread_cells = align(thread_tours);
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        println!(
            "io_copy tour: Linux {}, {} CPUs; tmpfs = {}, disk = {} ({})",
            kernel.trim(),
            thread::available_parallelism().map_or(0, |n| n.get()),
            dirs.tmpfs
                .as_ref()
                .map_or_else(|e| e.clone(), |d| d.path().display().to_string()),
            fs_name(dirs.disk.path()),
            dirs.disk.path().display(),
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
        println!(
            "time = the copy call alone, median of {} samples ({} at 4 KiB, {} at 64 MiB); calls = data-moving syscalls per copy from the Report",
            timing::rounds(MIB),
            timing::rounds(4 * KIB),
            timing::rounds(64 * MIB)
        );
        println!("samples interleaved: each round takes one sample of io_copy, std and Go, in an order that rotates per round");
        if opts.repeat > 1 {
            println!(
                "each cell: the median of {} tours (throughputs and ratios each the median of the tours')",
                opts.repeat
            );
        }
        println!("io/std, io/Go = io_copy GiB/s / std's, Go's (> 1: io_copy faster)");
        let go_known = go.is_ok();
        table::print_table(
            "far ends in another process (the same far-end program for every contender):",
            &table::merge(&main_cells),
            go_known,
        );
        println!("(file→/dev/null is checked by its byte count only; every other pair by length and checksum at the far end)");
        table::print_table(
            "far ends on threads of the measuring process (goroutines for Go):",
            &table::merge(&thread_cells),
            go_known,
        );
        let relays: Vec<Vec<Cell>> = main_cells
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|c| {
                        PAIRS
                            .iter()
                            .any(|(k, _)| is_relay(*k) && k.name() == c.pair && c.n >= MIB)
                    })
                    .cloned()
                    .collect()
            })
            .collect();
        table::print_relays(&table::merge(&relays));
        if go_known {
            println!("(no Go column: a goroutine's thread CPU needs runtime.LockOSThread, which slowed Go's relays 1.6-5.5x in one run on the project's machine)");
        }
        if !seed_lines.is_empty() {
            println!(
                "\nseed comparison at {}, far ends in another process: context switches per copy of the copying thread and of the whole process",
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
        if !tokio_tours.is_empty() {
            crate::relays::print(&align(tokio_tours));
        }
        for p in &problems {
            println!("skipped: {p}");
        }
    }
}
