//! Each syscall the crate makes, wrapped once, through rustix. The data-moving ones pass through
//! the test-only fault seam when the `fault-injection` feature is on.

use std::io;
use std::os::fd::BorrowedFd;

use crate::sys::fault::Syscall;
#[cfg(feature = "fault-injection")]
use crate::sys::fault::{self, Fault};

/// Asks the fault seam about the next `call`: `Some` answers it, `None` lets it run, with `len`
/// possibly lowered.
#[inline(always)]
#[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))]
fn seam(call: Syscall, len: &mut usize) -> Option<io::Result<usize>> {
    #[cfg(feature = "fault-injection")]
    match fault::next(call) {
        Fault::Pass => {}
        Fault::Errno(e) => return Some(Err(io::Error::from_raw_os_error(e))),
        Fault::Zero | Fault::Short(0) => return Some(Ok(0)),
        Fault::Short(n) => *len = (*len).min(n),
    }
    None
}

/// `read(2)`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Read, &mut len) {
        return r;
    }
    Ok(rustix::io::read(fd, &mut buf[..len])?)
}

/// `write(2)`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Write, &mut len) {
        return r;
    }
    Ok(rustix::io::write(fd, &buf[..len])?)
}

/// `recv(2)` with no flags: `read(2)` on a socket, without the file layer.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Read, &mut len) {
        return r;
    }
    let flags = rustix::net::RecvFlags::empty();
    Ok(rustix::net::recv(fd, &mut buf[..len], flags)?.0)
}

/// `send(2)` with `MSG_NOSIGNAL`, as std's sockets write: a closed peer gives `EPIPE`, never
/// `SIGPIPE`.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Write, &mut len) {
        return r;
    }
    Ok(rustix::net::send(
        fd,
        &buf[..len],
        rustix::net::SendFlags::NOSIGNAL,
    )?)
}

/// `pread(2)`.
pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Read, &mut len) {
        return r;
    }
    Ok(rustix::io::pread(fd, &mut buf[..len], offset)?)
}

/// `pwrite(2)`.
pub(crate) fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Write, &mut len) {
        return r;
    }
    Ok(rustix::io::pwrite(fd, &buf[..len], offset)?)
}

/// `lseek(fd, delta, SEEK_CUR)`: the new position.
pub(crate) fn seek_cur(fd: BorrowedFd<'_>, delta: i64) -> io::Result<u64> {
    Ok(rustix::fs::seek(fd, rustix::fs::SeekFrom::Current(delta))?)
}

/// What `fstat(2)` says of a descriptor, as far as the copy needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(crate) kind: Kind,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    /// A socket known to be `SOCK_STREAM` (by its std type), so `SO_TYPE` need not be asked.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) stream: bool,
    /// A socket known to be a Unix (`Some(true)`) or an IP one (`Some(false)`).
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) unix: Option<bool>,
}

/// The kinds of file the copy paths tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Block,
    Pipe,
    Socket,
    Char,
    /// A directory, a symlink, or an fd that `fstat` refused: the read/write loop will give the
    /// clear error.
    Other,
}

impl Meta {
    /// `fstat(2)`; a failure gives `Kind::Other`, leaving the error to the read/write loop.
    pub(crate) fn of(fd: BorrowedFd<'_>) -> Meta {
        use rustix::fs::FileType;
        match rustix::fs::fstat(fd) {
            Ok(st) => Meta {
                kind: match FileType::from_raw_mode(st.st_mode) {
                    FileType::RegularFile => Kind::Regular,
                    FileType::BlockDevice => Kind::Block,
                    FileType::Fifo => Kind::Pipe,
                    FileType::Socket => Kind::Socket,
                    FileType::CharacterDevice => Kind::Char,
                    _ => Kind::Other,
                },
                #[allow(clippy::unnecessary_cast)]
                dev: st.st_dev as u64,
                #[allow(clippy::unnecessary_cast)]
                ino: st.st_ino as u64,
                size: u64::try_from(st.st_size).unwrap_or(0),
                stream: false,
                unix: None,
            },
            Err(_) => Meta {
                kind: Kind::Other,
                dev: 0,
                ino: 0,
                size: 0,
                stream: false,
                unix: None,
            },
        }
    }

    /// What a [`Hint`](crate::transfer::Hint) says, for a path that takes it in place of an
    /// `fstat`: the kind only.
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn hinted(hint: Option<crate::transfer::Hint>) -> Meta {
        use crate::transfer::Hint;
        let kind = match hint {
            Some(Hint::File) => Kind::Regular,
            Some(Hint::Pipe) => Kind::Pipe,
            Some(Hint::Tcp | Hint::Unix) => Kind::Socket,
            None => Kind::Other,
        };
        Meta {
            kind,
            dev: 0,
            ino: 0,
            size: 0,
            stream: hint.is_some_and(Hint::is_stream),
            unix: match hint {
                Some(Hint::Unix) => Some(true),
                Some(Hint::Tcp) => Some(false),
                _ => None,
            },
        }
    }

    /// What `fd` is: its `fstat`, or, for a pipe or stream socket by its std type, that (a
    /// pipe or socket has no size or identity the copy needs).
    #[cfg_attr(not(kernel_paths), allow(dead_code))]
    pub(crate) fn probe(fd: BorrowedFd<'_>, hint: Option<crate::transfer::Hint>) -> Meta {
        use crate::transfer::Hint;
        match hint {
            Some(Hint::Pipe | Hint::Tcp | Hint::Unix) => Meta::hinted(hint),
            _ => Meta::of(fd),
        }
    }

    /// Reads through the page cache at an offset: a regular file or a block device.
    pub(crate) fn is_seekable(&self) -> bool {
        matches!(self.kind, Kind::Regular | Kind::Block)
    }

    pub(crate) fn same_file(&self, other: &Meta) -> bool {
        self.kind == Kind::Regular
            && other.kind == Kind::Regular
            && self.dev == other.dev
            && self.ino == other.ino
    }
}

/// Whether `fd` is open with `O_APPEND` now (`fcntl(F_GETFL)`); it can be set after `open`.
#[cfg_attr(not(kernel_paths), allow(dead_code))]
pub(crate) fn is_append(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fcntl_getfl(fd).is_ok_and(|f| f.contains(rustix::fs::OFlags::APPEND))
}

/// The alignment assumed for `O_DIRECT` positions: a read at a position off it that the file
/// refused goes through the page cache only to the next multiple (4 KiB: the logical block
/// size of nearly every device, and a multiple of the others').
pub(crate) const DIRECT_ALIGN: u64 = 4096;

/// Runs `f` with `O_DIRECT` cleared on `fd`'s open file description and sets it back after,
/// when `fd` has it (`fcntl(F_GETFL)`, `F_SETFL`); `None` when it has not. For a read or write
/// that `O_DIRECT` refused with `EINVAL` (a buffer, length or position off its alignment), so
/// that it goes through the page cache instead.
///
/// Other users of the same open file description see the flag cleared for the duration of the
/// call. A failure to set it back is not reported: the call's bytes moved, and its result is
/// what the count needs.
#[cfg(target_os = "linux")]
pub(crate) fn without_direct<T>(
    fd: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T>,
) -> Option<io::Result<T>> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(fd).ok()?;
    if !flags.contains(OFlags::DIRECT) {
        return None;
    }
    if let Err(e) = fcntl_setfl(fd, flags - OFlags::DIRECT) {
        return Some(Err(e.into()));
    }
    let res = f();
    let _ = fcntl_setfl(fd, flags);
    Some(res)
}

/// Elsewhere `O_DIRECT` is not asked about: `None`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn without_direct<T>(
    _fd: BorrowedFd<'_>,
    _f: impl FnOnce() -> io::Result<T>,
) -> Option<io::Result<T>> {
    None
}

/// `RWF_DONTCACHE` (Linux 6.14): uncached buffered I/O for one `preadv2`/`pwritev2`.
#[cfg(target_os = "linux")]
const RWF_DONTCACHE: u32 = 0x80;

/// `preadv2(2)` with `RWF_DONTCACHE` at `offset`; through the seam as a loop read.
#[cfg(target_os = "linux")]
pub(crate) fn preadv2_dontcache(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Read, &mut len) {
        return r;
    }
    let flags = rustix::io::ReadWriteFlags::from_bits_retain(RWF_DONTCACHE);
    let mut bufs = [io::IoSliceMut::new(&mut buf[..len])];
    Ok(rustix::io::preadv2(fd, &mut bufs, offset, flags)?)
}

/// `pwritev2(2)` with `RWF_DONTCACHE` at `offset`; through the seam as a loop write.
#[cfg(target_os = "linux")]
pub(crate) fn pwritev2_dontcache(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
    let mut len = buf.len();
    if let Some(r) = seam(Syscall::Write, &mut len) {
        return r;
    }
    let flags = rustix::io::ReadWriteFlags::from_bits_retain(RWF_DONTCACHE);
    Ok(rustix::io::pwritev2(
        fd,
        &[io::IoSlice::new(&buf[..len])],
        offset,
        flags,
    )?)
}

/// Elsewhere there is no `RWF_DONTCACHE`: the caller falls back as from a kernel without it.
#[cfg(not(target_os = "linux"))]
pub(crate) fn preadv2_dontcache(_: BorrowedFd<'_>, _: &mut [u8], _: u64) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(
        rustix::io::Errno::OPNOTSUPP.raw_os_error(),
    ))
}

/// Elsewhere there is no `RWF_DONTCACHE`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn pwritev2_dontcache(_: BorrowedFd<'_>, _: &[u8], _: u64) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(
        rustix::io::Errno::OPNOTSUPP.raw_os_error(),
    ))
}

/// The filesystems (`st_dev`) that answered whether they take `RWF_DONTCACHE`, for the
/// process: one process copies across several, so the answer is never process-wide.
///
/// Builds with the fault seam keep this per thread, as they keep a missing syscall: a test
/// that scripts or filters a refusal on its own thread does not change the tests beside it.
mod dontcache_table {
    #[cfg(feature = "fault-injection")]
    use std::cell::RefCell;
    #[cfg(not(feature = "fault-injection"))]
    use std::sync::Mutex;

    #[cfg(not(feature = "fault-injection"))]
    static KNOWN: Mutex<Vec<(u64, bool)>> = Mutex::new(Vec::new());

    #[cfg(feature = "fault-injection")]
    thread_local! {
        static KNOWN: RefCell<Vec<(u64, bool)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn with<T>(f: impl FnOnce(&mut Vec<(u64, bool)>) -> T) -> T {
        #[cfg(not(feature = "fault-injection"))]
        return f(&mut KNOWN.lock().unwrap_or_else(|e| e.into_inner()));
        #[cfg(feature = "fault-injection")]
        return KNOWN.with(|k| f(&mut k.borrow_mut()));
    }
}

/// What the filesystem `dev` answered to `RWF_DONTCACHE`, if it was asked.
#[cfg_attr(not(kernel_paths), allow(dead_code))]
pub(crate) fn dontcache_known(dev: u64) -> Option<bool> {
    dontcache_table::with(|known| known.iter().find(|(d, _)| *d == dev).map(|&(_, ok)| ok))
}

/// Remembers that the filesystem `dev` took `RWF_DONTCACHE` (`true`) or refused it.
pub(crate) fn dontcache_answered(dev: u64, ok: bool) {
    dontcache_table::with(|known| match known.iter_mut().find(|(d, _)| *d == dev) {
        Some(slot) => slot.1 = ok,
        None => known.push((dev, ok)),
    })
}

/// Remembers that the filesystem `dev` refused `RWF_DONTCACHE`.
pub(crate) fn dontcache_refused(dev: u64) {
    dontcache_answered(dev, false);
}

/// Forgets every filesystem's answer to `RWF_DONTCACHE` (tests that inject a refusal).
#[cfg(feature = "fault-injection")]
pub fn forget_dontcache() {
    dontcache_table::with(Vec::clear);
}

#[cfg(kernel_paths)]
pub(crate) use linux::*;

/// Reads the bytes of `fd` from `start` to `end` into the page cache (through a scratch
/// buffer, with `pread`): a blocking thread's work before a `sendfile` from them.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn read_into_cache(fd: BorrowedFd<'_>, start: u64, end: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut at = start;
    while at < end {
        let want = usize::try_from(end - at)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        match rustix::io::pread(fd, &mut buf[..want], at) {
            Ok(0) => break,
            Ok(n) => at += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether the byte of `fd` at `offset` is in the page cache: only Linux can tell (`RWF_NOWAIT`);
/// elsewhere the answer is no, so an async copy reads ahead on a blocking thread.
#[cfg(not(kernel_paths))]
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn cached(_fd: BorrowedFd<'_>, _offset: u64) -> bool {
    false
}

#[cfg(kernel_paths)]
mod linux {
    use super::*;

    /// `copy_file_range(2)` with the file positions (null offsets) or explicit offsets.
    pub(crate) fn copy_file_range(
        src: BorrowedFd<'_>,
        off_in: Option<&mut u64>,
        dst: BorrowedFd<'_>,
        off_out: Option<&mut u64>,
        mut len: usize,
    ) -> io::Result<usize> {
        if let Some(r) = seam(Syscall::CopyFileRange, &mut len) {
            return r;
        }
        Ok(rustix::fs::copy_file_range(src, off_in, dst, off_out, len)?)
    }

    /// `sendfile(2)` from the position of `src` (null offset) or an explicit offset.
    pub(crate) fn sendfile(
        dst: BorrowedFd<'_>,
        src: BorrowedFd<'_>,
        off: Option<&mut u64>,
        mut len: usize,
    ) -> io::Result<usize> {
        if let Some(r) = seam(Syscall::Sendfile, &mut len) {
            return r;
        }
        Ok(rustix::fs::sendfile(dst, src, off, len)?)
    }

    /// `splice(2)` with no flags: one end must be a pipe. `SPLICE_F_MORE` is never set, as it
    /// delayed small writes by 200 ms in an early Go patch (golang/go#10948).
    pub(crate) fn splice(
        src: BorrowedFd<'_>,
        off_in: Option<&mut u64>,
        dst: BorrowedFd<'_>,
        off_out: Option<&mut u64>,
        mut len: usize,
    ) -> io::Result<usize> {
        if let Some(r) = seam(Syscall::Splice, &mut len) {
            return r;
        }
        Ok(rustix::pipe::splice(
            src,
            off_in,
            dst,
            off_out,
            len,
            rustix::pipe::SpliceFlags::empty(),
        )?)
    }

    /// `fcntl(F_SETPIPE_SZ)`: the capacity the kernel gave.
    pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, mut size: usize) -> io::Result<usize> {
        if let Some(r) = seam(Syscall::GrowBuffer, &mut size) {
            return r;
        }
        Ok(rustix::pipe::fcntl_setpipe_size(fd, size)?)
    }

    /// Grows the send buffer of the Unix stream socket `fd` to about `want` bytes, at most
    /// `cap` (and `wmem_max`, which the kernel applies), when it is smaller: the size
    /// `SO_SNDBUF` then reports. Other sockets are left alone; `unix` says which it is, if
    /// known.
    pub(crate) fn grow_unix_send_buffer(
        fd: BorrowedFd<'_>,
        unix: Option<bool>,
        want: u64,
        cap: usize,
    ) -> Option<usize> {
        use rustix::net::sockopt;
        let unix = match unix {
            Some(known) => known,
            None => sockopt::socket_domain(fd).ok()? == rustix::net::AddressFamily::UNIX,
        };
        if !unix {
            return None;
        }
        let now = sockopt::socket_send_buffer_size(fd).ok()?;
        let target = usize::try_from(want).unwrap_or(usize::MAX).min(cap);
        if target <= now {
            return None;
        }
        // The kernel keeps twice the value set (for its own overhead) and reports that.
        let mut ask = target / 2;
        if let Some(r) = seam(Syscall::GrowBuffer, &mut ask) {
            r.ok()?;
        } else {
            sockopt::set_socket_send_buffer_size(fd, ask).ok()?;
        }
        let after = sockopt::socket_send_buffer_size(fd).ok()?;
        (after > now).then_some(after)
    }

    /// `send(2)` with `MSG_MORE`: the kernel holds a TCP segment for the bytes that follow.
    pub(crate) fn send_more(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        let mut len = buf.len();
        if let Some(r) = seam(Syscall::Write, &mut len) {
            return r;
        }
        let flags = rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL;
        Ok(rustix::net::send(fd, &buf[..len], flags)?)
    }

    /// Sends what `MSG_MORE` left held in a TCP socket: `TCP_CORK` on and off again (the
    /// second pushes what is pending). Anything else, or a refusal, is left as it is.
    pub(crate) fn push_corked(fd: BorrowedFd<'_>) {
        use rustix::net::sockopt::{set_tcp_cork, tcp_cork};
        if tcp_cork(fd) == Ok(false) && set_tcp_cork(fd, true).is_ok() {
            let _ = set_tcp_cork(fd, false);
        }
    }

    /// Whether the byte of `fd` at `offset` is in the page cache: `preadv2` of one byte with
    /// `RWF_NOWAIT`, which answers `EAGAIN` rather than wait for the disk. A kernel without it
    /// (before 4.14: `EOPNOTSUPP`) says no, so the caller reads ahead.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn cached(fd: BorrowedFd<'_>, offset: u64) -> bool {
        let mut byte = [0u8; 1];
        let mut bufs = [io::IoSliceMut::new(&mut byte)];
        let flags = rustix::io::ReadWriteFlags::NOWAIT;
        rustix::io::preadv2(fd, &mut bufs, offset, flags).is_ok_and(|n| n > 0)
    }

    /// A pipe's capacity (`fcntl(F_GETPIPE_SZ)`).
    pub(crate) fn pipe_capacity(fd: BorrowedFd<'_>) -> Option<usize> {
        rustix::pipe::fcntl_getpipe_size(fd).ok()
    }

    /// Whether the socket keeps no message boundaries (`SO_TYPE` is `SOCK_STREAM`): only then
    /// may its bytes be spliced.
    pub(crate) fn is_stream_socket(fd: BorrowedFd<'_>) -> bool {
        rustix::net::sockopt::socket_type(fd).is_ok_and(|t| t == rustix::net::SocketType::STREAM)
    }

    /// `posix_fadvise(POSIX_FADV_DONTNEED)` over `[start, end)`: drops the clean pages of the
    /// range from the page cache and starts the writeback of its dirty ones. Advice only: a
    /// refusal changes nothing the copy depends on.
    pub(crate) fn drop_cached(fd: BorrowedFd<'_>, start: u64, end: u64) {
        if let Some(len) = end.checked_sub(start).and_then(std::num::NonZeroU64::new) {
            let _ = rustix::fs::fadvise(fd, start, Some(len), rustix::fs::Advice::DontNeed);
        }
    }

    /// `fdatasync(2)`: waits for the writeback of `fd`'s data.
    pub(crate) fn fdatasync(fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(rustix::fs::fdatasync(fd)?)
    }

    /// `lseek(fd, to, SEEK_SET)`.
    pub(crate) fn seek_set(fd: BorrowedFd<'_>, to: u64) -> io::Result<u64> {
        Ok(rustix::fs::seek(fd, rustix::fs::SeekFrom::Start(to))?)
    }

    /// A second, read-only descriptor of the file `fd` is open on, through `/proc/self/fd`: to
    /// ask `mincore` about a sink opened write-only.
    pub(crate) fn reopen_read(fd: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
        reopen(fd, rustix::fs::OFlags::RDONLY)
    }

    /// Opens `/proc/self/fd/N` for `fd` with `flags` (and close-on-exec): a new open file
    /// description of the same file.
    fn reopen(fd: BorrowedFd<'_>, flags: rustix::fs::OFlags) -> io::Result<std::os::fd::OwnedFd> {
        use rustix::fs::{Mode, OFlags, CWD};
        use std::os::fd::AsRawFd;
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let flags = flags | OFlags::CLOEXEC | OFlags::NOCTTY;
        Ok(rustix::fs::openat(
            CWD,
            path.as_str(),
            flags,
            Mode::empty(),
        )?)
    }

    /// A second descriptor of the file `fd` is open on, opened with `O_DIRECT` through
    /// `/proc/self/fd` (for reading, or for writing), so the caller's descriptor keeps its flags
    /// and its position. Fails where procfs is missing, the file's permissions changed since it
    /// was opened, or its filesystem refuses `O_DIRECT` (`EINVAL`); and with `EINVAL` where
    /// `statx` says the file takes no direct I/O (`STATX_DIOALIGN`, Linux 6.1 on) or needs an
    /// alignment that 4 KiB is not a multiple of (the loop retries refused calls at 4 KiB);
    /// with `EBADF` where `fd` was not opened for that access.
    pub(crate) fn reopen_direct(
        fd: BorrowedFd<'_>,
        write: bool,
    ) -> io::Result<std::os::fd::OwnedFd> {
        use rustix::fs::{statx, AtFlags, OFlags, StatxFlags};
        // Never more access than the caller's descriptor has: a read-only one stays unwritten.
        let mode = rustix::fs::fcntl_getfl(fd)? & OFlags::ACCMODE;
        let allowed = if write {
            mode != OFlags::RDONLY
        } else {
            mode != OFlags::WRONLY
        };
        if !allowed {
            return Err(rustix::io::Errno::BADF.into());
        }
        if let Ok(st) = statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) {
            if StatxFlags::from_bits_retain(st.stx_mask).contains(StatxFlags::DIOALIGN) {
                let off = u64::from(st.stx_dio_offset_align);
                let mem = u64::from(st.stx_dio_mem_align);
                if off == 0
                    || !DIRECT_ALIGN.is_multiple_of(off)
                    || mem == 0
                    || !DIRECT_ALIGN.is_multiple_of(mem)
                {
                    return Err(rustix::io::Errno::INVAL.into());
                }
            }
        }
        let access = if write {
            OFlags::WRONLY
        } else {
            OFlags::RDONLY
        };
        reopen(fd, access | OFlags::DIRECT)
    }
}
