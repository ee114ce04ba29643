//! How a cell is timed: interleaved rounds of samples, each a batch of copies, and what each
//! contender's samples add up to.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use io_copy::{Path, Reason};
use nix::sys::resource::{getrusage, UsageWho};

use crate::pairs::{Bench, Copied, How, MIB};

/// A sample copies at least this many bytes, so that small copies are timed in batches.
pub const SAMPLE_BYTES: u64 = 8 * MIB;

/// Rounds per cell: each takes one sample of every contender. Small copies from and to
/// streams depend most on how the far ends are scheduled, so they get the most.
pub fn rounds(n: u64) -> usize {
    match n {
        n if n >= 64 * MIB => 5,
        n if n >= MIB => 11,
        _ => 21,
    }
}

/// Copies per sample.
pub fn copies(n: u64) -> u64 {
    (SAMPLE_BYTES / n).max(1)
}

/// What a contender did over all timed copies of one cell.
#[derive(Default)]
pub struct Tally {
    /// Per sample: seconds per copy.
    pub secs: Vec<f64>,
    /// Per sample: this thread's CPU seconds per copy (getrusage RUSAGE_THREAD).
    pub cpu: Vec<f64>,
    pub copies: u64,
    pub csw_thread: u64,
    pub csw_process: u64,
    pub calls: Option<u64>,
    /// io_copy only: calls per path, the main paths seen, the fallbacks seen.
    pub path_calls: BTreeMap<Path, u64>,
    pub main_paths: Vec<Path>,
    pub fallbacks: Vec<(Path, Reason)>,
}

impl Tally {
    fn add(&mut self, c: &Copied) {
        self.copies += 1;
        if let Some(n) = c.calls {
            *self.calls.get_or_insert(0) += n;
        }
        if let Some(r) = &c.report {
            self.add_paths(r);
        }
    }

    /// Counts a copy that `r` reports.
    pub fn add_report(&mut self, r: &io_copy::Report) {
        self.copies += 1;
        self.add_paths(r);
    }

    fn add_paths(&mut self, r: &io_copy::Report) {
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

    pub fn median_secs(&self) -> f64 {
        median(&self.secs)
    }

    pub fn per_copy(&self, total: u64) -> f64 {
        total as f64 / self.copies.max(1) as f64
    }

    /// The path column: main path(s), then each fallback with its reason.
    pub fn path(&self) -> String {
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
    pub fn calls_per_copy(&self) -> String {
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
    use rustix::io::Errno;
    match r {
        Reason::Errno(e) => {
            let names = [
                (Errno::INVAL, "EINVAL"),
                (Errno::XDEV, "EXDEV"),
                (Errno::OPNOTSUPP, "EOPNOTSUPP"),
                (Errno::NOSYS, "ENOSYS"),
                (Errno::PERM, "EPERM"),
                (Errno::IO, "EIO"),
                (Errno::BADF, "EBADF"),
            ];
            let errno = Errno::from_raw_os_error(e);
            names
                .iter()
                .find(|(n, _)| *n == errno)
                .map_or_else(|| format!("errno {e}"), |(_, name)| name.to_string())
        }
        other => other.to_string(),
    }
}

pub fn median(xs: &[f64]) -> f64 {
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

/// One sample of a contender the tour does not run itself (Go's io.Copy): seconds per copy for
/// a batch of that many copies.
pub type Sampler<'a> = &'a mut dyn FnMut(u64) -> Result<f64, String>;

/// What the outside contender gave in one cell: its median seconds per copy, or why it has none.
pub type Outside = Result<f64, String>;

/// Times `hows` on `bench`, and the outside contender when there is one: one checked copy of
/// each of `hows`, then [`rounds`] rounds, each taking one sample (a batch of [`copies`]) of
/// every contender in an order that rotates per round, so that no contender always runs first
/// and drift on a noisy machine hits all of them alike. An outside sample that fails ends that
/// contender's part of the cell only.
pub fn measure(
    bench: &mut dyn Bench,
    hows: &[How],
    n: u64,
    mut outside: Option<Sampler<'_>>,
) -> io::Result<(Vec<Tally>, Option<Outside>)> {
    let copies = copies(n);
    let mut tallies: Vec<Tally> = hows.iter().map(|_| Tally::default()).collect();
    for &how in hows {
        bench.batch(how, 1, true, &mut |_| {})?;
    }
    let mut out_secs = Vec::new();
    let mut out_err = None;
    // The outside contender, when present, comes after ours.
    let contenders = hows.len() + usize::from(outside.is_some());
    for round in 0..rounds(n) {
        for k in 0..contenders {
            let i = (round + k) % contenders;
            if i == hows.len() {
                if let Some(sample) = outside.as_deref_mut().filter(|_| out_err.is_none()) {
                    match sample(copies) {
                        Ok(secs) => out_secs.push(secs),
                        Err(e) => out_err = Some(e),
                    }
                }
                continue;
            }
            let tally = &mut tallies[i];
            let (t0, p0) = (usage(UsageWho::RUSAGE_THREAD), usage(UsageWho::RUSAGE_SELF));
            let elapsed = bench.batch(hows[i], copies, false, &mut |c| tally.add(c))?;
            let (t1, p1) = (usage(UsageWho::RUSAGE_THREAD), usage(UsageWho::RUSAGE_SELF));
            tally.secs.push(elapsed.as_secs_f64() / copies as f64);
            tally
                .cpu
                .push((t1.cpu - t0.cpu).as_secs_f64() / copies as f64);
            tally.csw_thread += t1.csw - t0.csw;
            tally.csw_process += p1.csw - p0.csw;
        }
    }
    let outside = outside.map(|_| match out_err {
        Some(e) => Err(e),
        None => Ok(median(&out_secs)),
    });
    Ok((tallies, outside))
}
