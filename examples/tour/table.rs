//! What the tour prints: the tables, from the cells it measured.

use std::io::IsTerminal;
use std::time::Instant;

use crate::pairs::{KIB, MIB};
use crate::timing::median;

const GIB: f64 = (1u64 << 30) as f64;

pub fn size_name(n: u64) -> String {
    match n {
        n if n >= MIB => format!("{} MiB", n / MIB),
        n => format!("{} KiB", n / KIB),
    }
}

pub fn gib_s(n: u64, secs: f64) -> f64 {
    n as f64 / secs / GIB
}

/// The filesystem type of `dir`, by its statfs magic.
pub fn fs_name(dir: &std::path::Path) -> String {
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

/// The progress line on stderr: rewritten in place on a terminal, a line each otherwise.
pub struct Progress {
    tty: bool,
    started: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    pub fn show(&self, what: &str) {
        let t = self.started.elapsed().as_secs_f64();
        if self.tty {
            eprint!("\r\x1b[2Ktour {t:5.1}s: {what}");
        } else {
            eprintln!("tour {t:5.1}s: {what}");
        }
    }

    pub fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!(
            "tour: done in {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// One cell of a table, as one tour measured it.
#[derive(Clone)]
pub struct Cell {
    pub pair: &'static str,
    pub fs: String,
    pub n: u64,
    pub path: String,
    pub calls: String,
    /// Median seconds per copy.
    pub io: f64,
    pub std: f64,
    pub go: Option<f64>,
    /// Median CPU seconds per copy of the copying thread (relay rows).
    pub io_cpu: f64,
    pub std_cpu: f64,
}

/// The cells of the same place in several tours, shown as medians: throughputs are the
/// medians of each tour's, ratios the medians of each tour's ratio.
pub struct Merged<'a> {
    pub runs: Vec<&'a Cell>,
}

impl Merged<'_> {
    fn first(&self) -> &Cell {
        self.runs[0]
    }

    fn med(&self, f: impl Fn(&Cell) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.runs.iter().filter_map(|c| f(c)).collect();
        (!v.is_empty()).then(|| median(&v))
    }

    fn line(&self, go_known: bool) -> String {
        let c = self.first();
        let n = c.n;
        let io = self.med(|c| Some(gib_s(n, c.io))).unwrap_or(f64::NAN);
        let std = self.med(|c| Some(gib_s(n, c.std))).unwrap_or(f64::NAN);
        let io_std = self.med(|c| Some(c.std / c.io)).unwrap_or(f64::NAN);
        let go = self.med(|c| c.go.map(|g| gib_s(n, g)));
        let io_go = self.med(|c| c.go.map(|g| g / c.io));
        let opt = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.2}"));
        let mut line = format!(
            "{:<17} {:<6} {:>7}  {:<42} {:>8} {:>8.2} {:>8.2} {:>6.2}",
            c.pair,
            c.fs,
            size_name(n),
            c.path,
            c.calls,
            io,
            std,
            io_std
        );
        if go_known {
            line += &format!(" {:>8} {:>6}", opt(go), opt(io_go));
        }
        line
    }

    fn relay_line(&self) -> String {
        let c = self.first();
        let per_gib = |cpu: f64| cpu / (c.n as f64 / GIB);
        let io = self.med(|c| Some(per_gib(c.io_cpu))).unwrap_or(f64::NAN);
        let std = self.med(|c| Some(per_gib(c.std_cpu))).unwrap_or(f64::NAN);
        let ratio = self.med(|c| Some(c.io_cpu / c.std_cpu)).unwrap_or(f64::NAN);
        format!(
            "{:<17} {:>7} {:>10.3} {:>10.3} {:>10.2}",
            c.pair,
            size_name(c.n),
            io,
            std,
            ratio
        )
    }
}

/// Groups the cells of `tours` (each tour's cells in the same order) cell by cell.
pub fn merge(tours: &[Vec<Cell>]) -> Vec<Merged<'_>> {
    let Some(first) = tours.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|i| Merged {
            runs: tours.iter().filter_map(|t| t.get(i)).collect(),
        })
        .collect()
}

pub fn print_table(title: &str, cells: &[Merged<'_>], go_known: bool) {
    println!("\n{title}");
    let mut head = format!(
        "{:<17} {:<6} {:>7}  {:<42} {:>8} {:>8} {:>8} {:>6}",
        "pair", "fs", "size", "io_copy path (fallbacks)", "calls", "io_copy", "std", "io/std"
    );
    let mut units = format!(
        "{:<17} {:<6} {:>7}  {:<42} {:>8} {:>8} {:>8} {:>6}",
        "", "", "", "", "/copy", "GiB/s", "GiB/s", ""
    );
    if go_known {
        head += &format!(" {:>8} {:>6}", "Go", "io/Go");
        units += &format!(" {:>8} {:>6}", "GiB/s", "");
    }
    println!("{head}\n{units}");
    for c in cells {
        println!("{}", c.line(go_known));
    }
}

pub fn print_relays(cells: &[Merged<'_>]) {
    println!(
        "\nrelay thread CPU (getrusage RUSAGE_THREAD), CPU-seconds per GiB relayed (io/std < 1: io_copy spends less)"
    );
    println!(
        "{:<17} {:>7} {:>10} {:>10} {:>10}",
        "pair", "size", "io_copy", "std", "io/std"
    );
    for c in cells {
        println!("{}", c.relay_line());
    }
}
