//! What a copy does to the page cache: the policy a [`Copier`](crate::Copier) asks for, and what
//! each end of a copy got.

use std::fmt;

/// How a copy treats the page cache of the regular files at its ends (see
/// [`Copier::cache`](crate::Copier::cache)).
///
/// A copy of a large file through the page cache fills it and evicts what other programs keep
/// hot there. `Uncached` and `Direct` leave it as they found it; ends that are not regular files
/// (sockets, pipes, in-memory values) are not affected.
///
/// # Examples
///
/// ```
/// use io_copy::{Cache, Copier};
///
/// let copier = Copier::new().cache(Cache::Uncached);
/// assert_eq!(copier.cache_policy(), Cache::Uncached);
/// assert_eq!(Copier::new().cache_policy(), Cache::Keep);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cache {
    /// Through the page cache, on the kernel paths: the default.
    #[default]
    Keep,
    /// The copy leaves the page cache as it found it: `preadv2`/`pwritev2` with
    /// `RWF_DONTCACHE` where the kernel and the filesystem take it (Linux 6.14 on), otherwise
    /// the kernel paths with the copy's pages dropped behind it (`posix_fadvise(DONTNEED)`),
    /// keeping the source's pages that were cached before the copy.
    Uncached,
    /// `O_DIRECT` reads and writes on a second descriptor of each file, which bypass the page
    /// cache; a filesystem that refuses `O_DIRECT` gets `Uncached`.
    Direct,
}

/// How the bytes of one end of a copy met the page cache (see
/// [`Report::cache_mode`](crate::Report::cache_mode)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheMode {
    /// Through the page cache, which keeps them.
    Kept,
    /// `preadv2`/`pwritev2` with `RWF_DONTCACHE`: the kernel drops the pages the copy brought
    /// in once they are read or written back.
    DontCache,
    /// Through the page cache, with the pages the copy brought in dropped behind it by
    /// `posix_fadvise(POSIX_FADV_DONTNEED)` (a sink's once written back). A tmpfs file's pages
    /// are its storage and cannot be dropped.
    DropBehind,
    /// `O_DIRECT`, bypassing the page cache (an unaligned head or tail goes through it and is
    /// dropped behind).
    Direct,
}

impl CacheMode {
    pub(crate) fn code(self) -> u8 {
        match self {
            CacheMode::Kept => 1,
            CacheMode::DontCache => 2,
            CacheMode::DropBehind => 3,
            CacheMode::Direct => 4,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<CacheMode> {
        Some(match code {
            1 => CacheMode::Kept,
            2 => CacheMode::DontCache,
            3 => CacheMode::DropBehind,
            4 => CacheMode::Direct,
            _ => return None,
        })
    }

    /// A short name: `"kept"`, `"dontcache"`, `"drop-behind"`, `"direct"`.
    pub fn name(self) -> &'static str {
        match self {
            CacheMode::Kept => "kept",
            CacheMode::DontCache => "dontcache",
            CacheMode::DropBehind => "drop-behind",
            CacheMode::Direct => "direct",
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
