//! Test-only: a per-thread script of syscall results, compiled in only with the
//! `fault-injection` feature, which the crate's own tests and fuzz targets turn on.
//!
//! Each wrapped syscall asks [`next`] before it runs. The n-th call of a syscall on this thread
//! (counted from the last [`inject`]) gets the n-th entry of that syscall's script; past its end,
//! calls run normally. This reaches what seccomp cannot: an errno after partial progress, short
//! counts, a zero result.

use std::cell::RefCell;
use std::collections::HashMap;

pub use crate::sys::calls::Syscall;

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

thread_local! {
    static SCRIPT: RefCell<HashMap<Syscall, (usize, Vec<Fault>)>> = RefCell::new(HashMap::new());
}

/// Sets the script of `call` on this thread, replacing any before.
pub fn inject(call: Syscall, script: Vec<Fault>) {
    SCRIPT.with(|s| s.borrow_mut().insert(call, (0, script)));
}

/// Removes every script on this thread.
pub fn clear() {
    SCRIPT.with(|s| s.borrow_mut().clear());
}

/// How many calls of `call` this thread made since its script was set.
pub fn calls(call: Syscall) -> usize {
    SCRIPT.with(|s| s.borrow().get(&call).map_or(0, |(n, _)| *n))
}

/// The fault for the next call of `call`.
pub(crate) fn next(call: Syscall) -> Fault {
    SCRIPT.with(|s| {
        let mut s = s.borrow_mut();
        match s.get_mut(&call) {
            Some((n, script)) => {
                let f = script.get(*n).copied().unwrap_or(Fault::Pass);
                *n += 1;
                f
            }
            None => Fault::Pass,
        }
    })
}
