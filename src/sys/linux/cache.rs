//! The page-cache policies of [`Copier::cache`](crate::Copier::cache) for copies with a regular
//! file at one end or both.
//!
//! Each file end gets a mode: [`CacheMode::Direct`] (a second descriptor with `O_DIRECT`),
//! [`CacheMode::DontCache`] (`preadv2`/`pwritev2` with `RWF_DONTCACHE`, where the filesystem is
//! not known to refuse it) or [`CacheMode::DropBehind`]. A copy with a direct or uncached end
//! takes the read/write loop at explicit offsets, through a page-aligned buffer of at least
//! 1 MiB; a copy whose file ends are all dropped behind keeps the kernel paths. A file-to-file
//! copy within one filesystem first moves [`PROBE`] bytes on the chain: when that left none of
//! the sink's pages cached and went by `copy_file_range`, the kernel cloned or offloaded them
//! (xfs, btrfs, NFS), and the rest stays on the chain, which then costs no cache at all. Either runs in
//! batches of [`BATCH`], after each of which the pages the copy brought into the page cache are
//! dropped: a source's that were not cached when the copy began (by `mincore`), and a sink's,
//! whose writeback the drop of the batch starts and the drop after the next batch finds done.
//! The last batch of a sink waits for its writeback (`fdatasync`) so that its pages can go too;
//! so does an uncached sink's, whose last pages the kernel drops only once they are written.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::cache::{Cache, CacheMode};
use crate::report::{End, Reason};
use crate::sys::calls::{self, Kind, Meta};
use crate::sys::fd_loop::{FdIn, FdOut};
use crate::transfer::Transfer;

use super::residency::{Resident, PAGE};

/// The bytes copied between two drops.
pub(super) const BATCH: u64 = 32 << 20;

/// The bytes of a file-to-file copy that the chain moves first, to see whether the kernel clones
/// them without the page cache.
const PROBE: u64 = 1 << 20;

/// The least buffer of the loop under a policy.
const BUFFER: usize = 1 << 20;

/// Read-ahead past a limited copy that the last drop of a source also clears.
const READ_AHEAD: u64 = 4 << 20;

/// One regular-file end of a copy under a policy.
struct Side {
    mode: CacheMode,
    /// The second descriptor, opened with `O_DIRECT`.
    direct: Option<OwnedFd>,
    /// Where the copy began in the file.
    start: u64,
    /// How far the pages have been dropped.
    dropped: u64,
    /// The transfer's offset before the copy: `None` when the copy runs at the file position,
    /// which is then moved to where the copy ended.
    offset: Option<u64>,
    /// A source's pages that were cached before the copy.
    resident: Option<Resident>,
    /// The copy is a clone: no page of it reaches the cache, and none is dropped or waited for.
    cloned: bool,
}

/// Which policy applies to a copy from `s` into `d`, if any.
fn policy(t: &Transfer<'_>, s: &Meta, src_pos: u64) -> Option<Cache> {
    let c = t.copier();
    match c.cache {
        Cache::Keep if c.uncached_from == u64::MAX => None,
        Cache::Keep => {
            let bytes = if s.kind == Kind::Regular {
                s.size.saturating_sub(src_pos).min(t.limit())
            } else {
                t.limit()
            };
            (bytes != u64::MAX && bytes >= c.uncached_from).then_some(Cache::Uncached)
        }
        other => Some(other),
    }
}

/// Copies under the copier's page-cache policy when it has one and an end is a regular file:
/// `Ok(false)` leaves the copy to the chain untouched.
pub(super) fn copy(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
) -> io::Result<bool> {
    let c = *t.copier();
    if (c.cache == Cache::Keep && c.uncached_from == u64::MAX) || t.limit() == 0 {
        return Ok(false);
    }
    let (s, d) = (Meta::of(src), Meta::of(dst));
    let (sf, df) = (s.kind == Kind::Regular, d.kind == Kind::Regular);
    if !sf && !df {
        return Ok(false);
    }
    let pos = |fd, off: Option<u64>| match off {
        Some(off) => Ok(off),
        None => calls::seek_cur(fd, 0),
    };
    let src_pos = if sf { pos(src, t.src_off)? } else { 0 };
    let Some(policy) = policy(t, &s, src_pos) else {
        return Ok(false);
    };
    if s.same_file(&d) {
        for end in [End::Source, End::Sink] {
            t.report_mut().set_cache_fallback(end, Reason::SameFile);
            t.report_mut().set_cache_mode(end, CacheMode::Kept);
        }
        return Ok(false);
    }
    let mut sides = [None, None];
    for (i, (end, fd, meta)) in [(End::Source, src, &s), (End::Sink, dst, &d)]
        .into_iter()
        .enumerate()
    {
        if meta.kind != Kind::Regular {
            continue;
        }
        if end == End::Sink && calls::is_append(fd) {
            // A write at an offset of an O_APPEND file lands at its end, and its position is
            // the end's: the sink is written as the chain writes it, at its position, and kept.
            t.report_mut().set_cache_fallback(end, Reason::AppendSink);
            t.report_mut().set_cache_mode(end, CacheMode::Kept);
            continue;
        }
        let offset = if end == End::Source {
            t.src_off
        } else {
            t.dst_off
        };
        let start = if end == End::Source {
            src_pos
        } else {
            pos(fd, offset)?
        };
        let mode = mode(t, policy, end, fd, meta);
        let mut side = Side {
            mode: mode.0,
            direct: mode.1,
            start,
            dropped: start,
            offset,
            resident: None,
            cloned: false,
        };
        // Asked also of an uncached source: a filesystem may refuse RWF_DONTCACHE at the first
        // read, and the drop-behind that follows must know which pages were hot.
        if end == End::Source {
            let end_at = s
                .size
                .min(start.saturating_add(t.limit()).saturating_add(READ_AHEAD));
            side.resident = Resident::of(fd, start, end_at);
        }
        t.report_mut().set_cache_mode(end, side.mode);
        sides[i] = Some(side);
    }
    let origin = (t.consumed(), t.written());
    let looped = sides
        .iter()
        .flatten()
        .any(|s| matches!(s.mode, CacheMode::Direct | CacheMode::DontCache));
    let chain = |t: &mut Transfer<'_>| super::copy_kept(t, src, dst);
    if looped && sf && df && s.dev == d.dev && c.copy_file_range {
        // A reflink or a server-side copy moves no byte through the page cache, and beats any
        // loop (xfs and btrfs clone a 2 GiB file in milliseconds): the first MiB by the chain,
        // dropped behind, shows whether the kernel read the source's pages.
        let modes: Vec<_> = sides.iter().flatten().map(|x| x.mode).collect();
        for (side, end) in sides.iter_mut().zip([End::Source, End::Sink]) {
            if let Some(side) = side {
                side.mode = CacheMode::DropBehind;
                t.report_mut().set_cache_mode(end, CacheMode::DropBehind);
            }
        }
        // The sink's pages, before the drop: a copy through the page cache left them there.
        // Asked through a read-only descriptor of the sink (a `File::create` is write-only).
        let sink_start = sides[1].as_ref().map_or(0, |x| x.start);
        let reader = calls::reopen_read(dst).ok();
        let mut through_cache = true;
        let done = batches(t, (src, dst), &mut sides, origin, Some(PROBE), chain, |t| {
            let to = sink_start + (t.written() - origin.1);
            through_cache = reader.as_ref().is_none_or(|r| {
                Resident::of(r.as_fd(), sink_start, to).is_none_or(|after| after.any())
            });
        })?;
        if done {
            return Ok(true);
        }
        if !through_cache && t.report().main_path() == Some(crate::Path::CopyFileRange) {
            for side in sides.iter_mut().flatten() {
                side.cloned = true;
            }
            batches(t, (src, dst), &mut sides, origin, None, chain, |_| {})?;
            return Ok(true);
        }
        // The loop takes over: the read-ahead of the probe goes too.
        if let Some(side) = &mut sides[0] {
            let to = side.start + (t.consumed() - origin.0);
            drop_behind(side, src, false, to, true);
            side.dropped = to;
        }
        let mut modes = modes.into_iter();
        for (side, end) in sides.iter_mut().zip([End::Source, End::Sink]) {
            if let Some(side) = side {
                side.mode = modes.next().unwrap_or(side.mode);
                t.report_mut().set_cache_mode(end, side.mode);
            }
        }
    }
    if looped {
        run_loop(t, src, dst, &s, &d, &mut sides, origin)?;
    } else {
        batches(t, (src, dst), &mut sides, origin, None, chain, |_| {})?;
    }
    Ok(true)
}

/// The mode of one regular-file end under `policy`, and its `O_DIRECT` descriptor.
fn mode(
    t: &mut Transfer<'_>,
    policy: Cache,
    end: End,
    fd: BorrowedFd<'_>,
    meta: &Meta,
) -> (CacheMode, Option<OwnedFd>) {
    if policy == Cache::Direct {
        match calls::reopen_direct(fd, end == End::Sink) {
            Ok(direct) => return (CacheMode::Direct, Some(direct)),
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                t.report_mut().set_cache_fallback(end, Reason::Errno(errno));
            }
        }
    }
    match calls::dontcache_known(meta.dev) {
        Some(false) => {
            t.report_mut().set_cache_fallback(end, Reason::Unsupported);
            (CacheMode::DropBehind, None)
        }
        _ => (CacheMode::DontCache, None),
    }
}

/// Runs `body` in batches of [`BATCH`] bytes (only one, of `once` bytes, when it is given), dropping behind each, until
/// the source ends, the limit is reached or an error (after which the pages are dropped too):
/// `Ok(true)` when the copy is done. `origin`: the transfer's consumed and written bytes when
/// the copy reached the sides' starts.
fn batches(
    t: &mut Transfer<'_>,
    (src, dst): (BorrowedFd<'_>, BorrowedFd<'_>),
    sides: &mut [Option<Side>; 2],
    (consumed, written): (u64, u64),
    once: Option<u64>,
    mut body: impl FnMut(&mut Transfer<'_>) -> io::Result<()>,
    mut before_drop: impl FnMut(&Transfer<'_>),
) -> io::Result<bool> {
    loop {
        let before = t.consumed();
        let want = t.limit().min(once.unwrap_or(BATCH));
        let res = t.limited(want, &mut body);
        let moved = t.consumed() - before;
        let last = res.is_err() || moved < want || t.limit() == 0;
        before_drop(t);
        let at = [t.consumed() - consumed, t.written() - written];
        for (i, (fd, end)) in [(src, End::Source), (dst, End::Sink)]
            .into_iter()
            .enumerate()
        {
            if let Some(side) = &mut sides[i] {
                // The loop turns an end whose filesystem refused RWF_DONTCACHE to drop-behind.
                if let Some(mode) = t.report().cache_mode(end) {
                    side.mode = mode;
                }
                drop_behind(side, fd, i == 1, side.start + at[i], last);
            }
        }
        res?;
        if last || once.is_some() {
            return Ok(last);
        }
    }
}

/// Drops the pages of `side` up to `to` that the copy brought in; at the `last` drop, a sink's
/// writeback is waited for first, and a source's read-ahead past `to` goes too.
fn drop_behind(side: &mut Side, fd: BorrowedFd<'_>, sink: bool, to: u64, last: bool) {
    if side.cloned {
        return;
    }
    match side.mode {
        CacheMode::Kept => {}
        // The kernel drops an uncached write's pages once they are written back; at the end the
        // copy waits for that, so that it returns with the cache as it found it.
        CacheMode::DontCache if !(sink && last) => {}
        _ if sink => {
            if last {
                let _ = calls::fdatasync(fd);
            }
            // This batch's drop starts its writeback; the one of the batch before finds it done.
            let from = side.dropped;
            calls::drop_cached(fd, from, to);
            side.dropped = if last {
                to
            } else {
                from.max(to.saturating_sub(BATCH))
            };
            if last {
                calls::drop_cached(fd, from, to);
            }
        }
        _ => {
            let to = if last {
                to.saturating_add(READ_AHEAD)
            } else {
                to
            };
            let from = side.dropped - side.dropped % PAGE;
            match &side.resident {
                None => calls::drop_cached(fd, from, to),
                Some(r) => {
                    // Runs of pages that were not cached before the copy.
                    let mut at = from;
                    while at < to {
                        while at < to && r.has(at) {
                            at += PAGE;
                        }
                        let run = at;
                        while at < to && !r.has(at) {
                            at += PAGE;
                        }
                        calls::drop_cached(fd, run, at.min(to));
                    }
                }
            }
            side.dropped = to;
        }
    }
}

/// The read/write loop for a copy with a direct or uncached end, in batches, with its own
/// page-aligned buffer, at explicit offsets for the file ends; the file positions of the ends
/// that had none are moved to where the copy ended, also when it failed.
fn run_loop(
    t: &mut Transfer<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    s: &Meta,
    d: &Meta,
    sides: &mut [Option<Side>; 2],
    origin: (u64, u64),
) -> io::Result<()> {
    // Past what a first batch of the chain moved.
    if let Some(side) = &sides[0] {
        t.src_off = Some(side.start + (t.consumed() - origin.0));
    }
    if let Some(side) = &sides[1] {
        t.dst_off = Some(side.start + (t.written() - origin.1));
    }
    let size = t.copier().buffer_size.max(BUFFER);
    let mut storage = vec![0u8; size + PAGE as usize];
    let pad = storage
        .as_ptr()
        .align_offset(PAGE as usize)
        .min(PAGE as usize);
    let buf = &mut storage[pad..pad + size];
    // The O_DIRECT descriptors, which the drops need not: advice on any descriptor of a file
    // reaches its pages.
    let (src_direct, dst_direct) = (
        sides[0].as_mut().and_then(|s| s.direct.take()),
        sides[1].as_mut().and_then(|s| s.direct.take()),
    );
    let mut input = FdIn {
        rewind: Some(s.is_seekable()),
        socket: s.kind == Kind::Socket,
        dontcache: sides[0]
            .as_ref()
            .filter(|s| s.mode == CacheMode::DontCache)
            .map(|_| s.dev),
        ..FdIn::plain(src_direct.as_ref().map_or(src, |d| d.as_fd()))
    };
    let mut output = FdOut {
        socket: d.kind == Kind::Socket,
        dontcache: sides[1]
            .as_ref()
            .filter(|s| s.mode == CacheMode::DontCache)
            .map(|_| d.dev),
        ..FdOut::plain(dst_direct.as_ref().map_or(dst, |d| d.as_fd()))
    };
    let body = |t: &mut Transfer<'_>| crate::pump::pump_with(t, buf, &mut input, &mut output);
    let res = batches(t, (src, dst), sides, origin, None, body, |_| {}).map(drop);
    let answered = |dev, asked: bool, now: Option<u64>| {
        if asked && now.is_some() {
            calls::dontcache_answered(dev, true);
        }
    };
    answered(
        s.dev,
        sides[0]
            .as_ref()
            .is_some_and(|x| x.mode == CacheMode::DontCache),
        input.dontcache,
    );
    answered(
        d.dev,
        sides[1]
            .as_ref()
            .is_some_and(|x| x.mode == CacheMode::DontCache),
        output.dontcache,
    );
    // Put the caller's positions where the copy ended.
    let mut moved = Ok(());
    if let Some(side) = &sides[0] {
        let at = t.src_off.unwrap_or(side.start);
        t.src_off = side.offset;
        if side.offset.is_none() {
            moved = calls::seek_set(src, at).map(drop);
        } else {
            t.src_off = Some(at);
        }
    }
    if let Some(side) = &sides[1] {
        let at = t.dst_off.unwrap_or(side.start);
        t.dst_off = side.offset;
        if side.offset.is_none() {
            moved = moved.and(calls::seek_set(dst, at).map(drop));
        } else {
            t.dst_off = Some(at);
        }
    }
    res.and(moved)
}
