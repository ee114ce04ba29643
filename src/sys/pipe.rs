//! The pool of intermediate pipes for splice relays (socket → socket, socket → file).
//!
//! Creating and enlarging a pipe costs about 7–10 µs here, more than a small relay, so pipes are
//! reused. The pool is a mutex-guarded stack of at most [`POOL_MAX`] pipes; a pipe is returned
//! only when the kernel says it is empty, so no copy ever receives another copy's bytes.
//!
//! The pool belongs to the process that filled it: a child made by `fork` shares the parent's
//! pipes, and two processes splicing through one pipe would mix their bytes. The pool is stamped
//! with its process id and emptied (in the child, closing only the child's copies) when the id
//! has changed.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

use rustix::pipe::PipeFlags;

/// The most idle pipes kept; more are closed on return.
pub(crate) const POOL_MAX: usize = 16;

/// One pipe of the pool, with the bytes it holds by this crate's count.
pub(crate) struct Pipe {
    pub(crate) read: OwnedFd,
    pub(crate) write: OwnedFd,
    /// Capacity in bytes, as the kernel reports it.
    pub(crate) capacity: usize,
    /// Bytes in the pipe: moved in by splice and not yet out.
    pub(crate) len: usize,
}

impl Pipe {
    fn create() -> io::Result<Pipe> {
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        let capacity = rustix::pipe::fcntl_getpipe_size(&write)?;
        Ok(Pipe {
            read,
            write,
            capacity,
            len: 0,
        })
    }

    /// Asks for `want` bytes of capacity, capped by `/proc/sys/fs/pipe-max-size`. A refusal (for
    /// example over the per-user pipe limit) leaves the capacity as it was: not an error.
    fn resize(&mut self, want: usize) {
        let want = want.max(4096).min(max_size());
        if want == self.capacity {
            return;
        }
        if let Ok(n) = rustix::pipe::fcntl_setpipe_size(&self.write, want) {
            self.capacity = n;
        }
    }
}

/// The idle pipes, and the process they belong to.
struct Pool {
    pid: Option<rustix::process::Pid>,
    pipes: Vec<Pipe>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    pid: None,
    pipes: Vec::new(),
});

/// The pool of this process, emptied first if it was filled by a parent before a `fork`.
fn pool() -> std::sync::MutexGuard<'static, Pool> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let pid = rustix::process::getpid();
    if pool.pid != Some(pid) {
        pool.pipes.clear();
        pool.pid = Some(pid);
    }
    pool
}

/// `/proc/sys/fs/pipe-max-size`, read once (1 MiB, the kernel default, if unreadable).
fn max_size() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    })
}

/// Grows the caller's pipe `fd` to hold `want` bytes, at most `cap` and `pipe-max-size` (the
/// kernel rounds up to a power of two pages), when it holds less; the new capacity if it grew.
/// A refusal (`EPERM` past the per-user limit, `EBUSY`) leaves the pipe as it was.
pub(crate) fn grow(fd: BorrowedFd<'_>, want: u64, cap: usize) -> Option<usize> {
    let now = rustix::pipe::fcntl_getpipe_size(fd).ok()?;
    let target = usize::try_from(want)
        .unwrap_or(usize::MAX)
        .min(cap)
        .min(max_size());
    if target <= now {
        return None;
    }
    crate::sys::calls::set_pipe_size(fd, target).ok()
}

/// An empty pipe of (about) `want` bytes: from the pool, or new.
pub(crate) fn take(want: usize) -> io::Result<Pipe> {
    let pooled = pool().pipes.pop();
    let mut pipe = match pooled {
        Some(p) => p,
        None => Pipe::create()?,
    };
    pipe.resize(want);
    Ok(pipe)
}

/// Returns `pipe` to the pool if it is empty; otherwise (or when the pool is full) closes it.
///
/// The count is exact by construction (each splice adds or takes what the kernel reported), so
/// only test builds pay for asking the kernel (`FIONREAD`) as well.
pub(crate) fn give(pipe: Pipe) {
    if pipe.len != 0 {
        return;
    }
    if cfg!(debug_assertions) && !rustix::io::ioctl_fionread(&pipe.read).is_ok_and(|n| n == 0) {
        debug_assert!(false, "a pipe counted empty holds bytes");
        return;
    }
    let mut pool = pool();
    if pool.pipes.len() < POOL_MAX {
        pool.pipes.push(pipe);
    }
}

/// Idle pipes in the pool now.
#[cfg(feature = "fault-injection")]
pub fn idle() -> usize {
    pool().pipes.len()
}
