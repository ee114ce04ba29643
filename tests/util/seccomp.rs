//! Errno-returning seccomp filters on the calling thread only.
//!
//! seccompiler installs the filter without TSYNC and sets `NO_NEW_PRIVS` itself, so it works
//! unprivileged and touches no other thread. A filter cannot be removed: install it on a thread
//! made for the one copy under test, and start that thread's helpers (feeders, drainers) before,
//! from another thread, or they inherit it.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};

/// Makes every later call of `syscall` (a `libc::SYS_*` number) on this thread return `errno`
/// without running; an `errno` of 0 makes it return 0, as a call that moved nothing.
pub fn deny(syscall: i64, errno: i32) -> Result<(), String> {
    let arch = std::env::consts::ARCH.try_into().map_err(|e| {
        format!(
            "seccompiler does not know {}: {e:?}",
            std::env::consts::ARCH
        )
    })?;
    let rules = BTreeMap::from([(syscall, vec![])]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch,
    )
    .map_err(|e| format!("seccomp filter: {e}"))?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e| format!("seccomp program: {e:?}"))?;
    seccompiler::apply_filter(&program).map_err(|e| format!("seccomp install: {e}"))
}
