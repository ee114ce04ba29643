//! Which pages of a file are in the page cache, by `mincore(2)` on a read-only shared mapping
//! of it: the one place the crate needs `unsafe`, as rustix has no `mincore`.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

/// The page size `mincore` counts in.
pub(super) const PAGE: u64 = 4096;

/// The most bytes mapped at once.
const WINDOW: u64 = 256 << 20;

/// The pages of a file range that were cached when it was asked, one bit a page.
pub(super) struct Resident {
    /// The range's first byte, a multiple of [`PAGE`].
    start: u64,
    bits: Vec<u64>,
}

impl Resident {
    /// The cached pages of `fd` in `[start, end)`, or `None` when the file cannot be mapped
    /// (opened without read access, or not a regular file).
    pub(super) fn of(fd: BorrowedFd<'_>, start: u64, end: u64) -> Option<Resident> {
        let start = start - start % PAGE;
        let pages = end.saturating_sub(start).div_ceil(PAGE);
        let mut bits = vec![0u64; usize::try_from(pages.div_ceil(64)).ok()?];
        let mut vec = Vec::new();
        let mut at = start;
        while at < end {
            let len = (end - at).min(WINDOW);
            let n = usize::try_from(len.div_ceil(PAGE)).ok()?;
            vec.resize(n, 0u8);
            mincore(fd, at, usize::try_from(len).ok()?, &mut vec)?;
            let first = (at - start) / PAGE;
            for (i, v) in vec.iter().enumerate() {
                if v & 1 != 0 {
                    let page = first + i as u64;
                    bits[(page / 64) as usize] |= 1 << (page % 64);
                }
            }
            at += len;
        }
        Some(Resident { start, bits })
    }

    /// Whether the page holding byte `at` was cached (outside the range: no).
    pub(super) fn has(&self, at: u64) -> bool {
        let Some(page) = at.checked_sub(self.start).map(|d| d / PAGE) else {
            return false;
        };
        self.bits
            .get((page / 64) as usize)
            .is_some_and(|w| w & (1 << (page % 64)) != 0)
    }
}

impl Resident {
    /// Whether any page of the range was cached.
    pub(super) fn any(&self) -> bool {
        self.bits.iter().any(|w| *w != 0)
    }
}

/// `mincore` of `len` bytes of `fd` from `offset` (a multiple of the page size) into `vec`,
/// one byte a page.
fn mincore(fd: BorrowedFd<'_>, offset: u64, len: usize, vec: &mut [u8]) -> Option<()> {
    let off = libc::off_t::try_from(offset).ok()?;
    // A new read-only shared mapping at an address the kernel picks, never read or written here.
    // SAFETY: it aliases no Rust memory; it is only passed to mincore and unmapped.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            off,
        )
    };
    if addr == libc::MAP_FAILED {
        return None;
    }
    debug_assert!(vec.len() >= len.div_ceil(PAGE as usize));
    // `vec` holds a byte for each page of the mapping (the caller's arithmetic, asserted above).
    // SAFETY: `addr..addr + len` is the mapping made above, `vec` long enough for its pages.
    let res = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    // SAFETY: the mapping made above, not used after this.
    unsafe { libc::munmap(addr, len) };
    (res == 0).then_some(())
}
