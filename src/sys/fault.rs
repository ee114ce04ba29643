//! Test-only: a per-thread script of syscall results, compiled in only with the
//! `fault-injection` feature, which the crate's own tests and fuzz targets turn on. Without it
//! this module holds only the names of the syscalls the seam can script.
//!
//! Each wrapped syscall asks `next` before it runs. The n-th call of a syscall on this thread
//! (counted from the last [`inject`]) gets the n-th entry of that syscall's script; past its end,
//! calls run normally. This reaches what seccomp cannot: an errno after partial progress, short
//! counts, a zero result.

/// The syscalls that move data, as the fault seam names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
#[non_exhaustive]
pub enum Syscall {
    /// `copy_file_range(2)`.
    CopyFileRange,
    /// `sendfile(2)`.
    Sendfile,
    /// `splice(2)`.
    Splice,
    /// `read(2)` in the descriptor read/write loop.
    Read,
    /// `write(2)` in the descriptor read/write loop.
    Write,
    /// `fcntl(F_SETPIPE_SZ)` or `setsockopt(SO_SNDBUF)` on a sink that
    /// [`grow_buffers`](crate::Copier::grow_buffers) grows (a [`Fault::Short`] asks for that
    /// size instead).
    GrowBuffer,
}

#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
impl Syscall {
    /// How many syscalls the seam names.
    const COUNT: usize = Syscall::GrowBuffer as usize + 1;
}

#[cfg(feature = "fault-injection")]
pub use script::*;

#[cfg(feature = "fault-injection")]
mod script {
    use std::cell::RefCell;

    use super::Syscall;

    /// What one call does.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Fault {
        /// Runs normally.
        Pass,
        /// Fails with this errno without running.
        Errno(i32),
        /// Runs with its length capped at this many bytes (0 behaves as [`Fault::Zero`]).
        Short(usize),
        /// Returns 0 without running.
        Zero,
    }

    /// One slot a syscall: the script and how many calls used it. A `const` thread-local, so an idle
    /// seam costs a thread-local read per call (the examples and benches build it in too, through
    /// the crate's dev-dependency on itself).
    type Scripts = [Option<(usize, Vec<Fault>)>; Syscall::COUNT];

    thread_local! {
        static SCRIPT: RefCell<Scripts> = const { RefCell::new([const { None }; Syscall::COUNT]) };
    }

    /// Sets the script of `call` on this thread, replacing any before.
    pub fn inject(call: Syscall, script: Vec<Fault>) {
        SCRIPT.with(|s| s.borrow_mut()[call as usize] = Some((0, script)));
    }

    /// Removes every script on this thread.
    pub fn clear() {
        SCRIPT.with(|s| *s.borrow_mut() = [const { None }; Syscall::COUNT]);
    }

    /// How many calls of `call` this thread made since its script was set.
    pub fn calls(call: Syscall) -> usize {
        SCRIPT.with(|s| s.borrow()[call as usize].as_ref().map_or(0, |(n, _)| *n))
    }

    /// The fault for the next call of `call`.
    pub(crate) fn next(call: Syscall) -> Fault {
        SCRIPT.with(|s| match &mut s.borrow_mut()[call as usize] {
            Some((n, script)) => {
                let f = script.get(*n).copied().unwrap_or(Fault::Pass);
                *n += 1;
                f
            }
            None => Fault::Pass,
        })
    }
}

/// Forgets which filesystems took `RWF_DONTCACHE`, so the next uncached copy asks again (for
/// tests that script a refusal).
#[cfg(feature = "fault-injection")]
pub use super::calls::forget_dontcache;
