//! The policy of a copy: which kernel paths may run, the sizes they use, and the page cache.

use crate::cache::Cache;

/// The buffer of the read/write loop when the caller gives none.
pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

/// The most bytes one `copy_file_range`, `sendfile` or `splice` call is asked for: Linux's
/// `MAX_RW_COUNT`, the cap the kernel would apply anyway.
pub const MAX_CHUNK: usize = 0x7fff_f000;

/// The capacity asked for the intermediate pipe of a splice relay.
pub const DEFAULT_PIPE_SIZE: usize = 1024 * 1024;

/// Copies known to be smaller than this are made without probing the descriptors (see
/// [`Copier::small_copy`]): below it, the `fstat`s, `getsockopt` and the two splices of a relay
/// cost more than they save (the `tcp_tcp` and `unix_unix` groups of `benches/copy.rs` break
/// even near 64 KiB).
pub const DEFAULT_SMALL_COPY: u64 = 64 * 1024;

/// The most bytes a first read from a socket asks for before its bytes are relayed through a
/// pipe (see [`Copier::first_read`]).
pub const DEFAULT_FIRST_READ: usize = 16 * 1024;

/// How copies are made: which kernel paths may run, chunk and buffer sizes.
///
/// `Copier::new()` is what [`copy`](crate::copy), [`copy_n`](crate::copy_n) and
/// [`copy_buffer`](crate::copy_buffer) use. Its methods also return a [`Report`](crate::Report) of what moved
/// and by which path, or a [`CopyError`](crate::CopyError) that carries that report.
///
/// # Examples
///
/// Refuse zero-copy from files to sockets and pipes, and see which path ran:
///
/// ```
/// use io_copy::{Copier, Path};
///
/// let copier = Copier::new().share_file_pages(false).buffer_size(16 * 1024);
/// let mut src: &[u8] = &[7u8; 100_000];
/// let mut dst = Vec::new();
/// let report = copier.copy(&mut src, &mut dst)?;
/// assert_eq!(report.written(), 100_000);
/// assert_eq!(report.main_path(), Some(Path::Buffered));
/// # Ok::<(), io_copy::CopyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copier {
    pub(crate) copy_file_range: bool,
    pub(crate) sendfile: bool,
    pub(crate) splice: bool,
    pub(crate) share_file_pages: bool,
    pub(crate) splice_from_pipe: bool,
    pub(crate) grow_buffers: bool,
    pub(crate) chunk_size: usize,
    pub(crate) buffer_size: usize,
    pub(crate) pipe_size: usize,
    pub(crate) small_copy: u64,
    pub(crate) first_read: usize,
    pub(crate) cache: Cache,
    pub(crate) uncached_from: u64,
}

impl Default for Copier {
    fn default() -> Self {
        Copier::new()
    }
}

impl Copier {
    /// The default policy: every kernel path on, page sharing allowed, 64 KiB buffer.
    pub const fn new() -> Self {
        Copier {
            copy_file_range: true,
            sendfile: true,
            splice: true,
            share_file_pages: true,
            splice_from_pipe: false,
            grow_buffers: true,
            chunk_size: MAX_CHUNK,
            buffer_size: DEFAULT_BUFFER_SIZE,
            pipe_size: DEFAULT_PIPE_SIZE,
            small_copy: DEFAULT_SMALL_COPY,
            first_read: DEFAULT_FIRST_READ,
            cache: Cache::Keep,
            uncached_from: u64::MAX,
        }
    }

    /// Only the read/write loop: every kernel path off.
    pub const fn buffered_only() -> Self {
        Copier::new()
            .copy_file_range(false)
            .sendfile(false)
            .splice(false)
    }

    /// Allows or forbids `copy_file_range(2)`.
    pub const fn copy_file_range(mut self, on: bool) -> Self {
        self.copy_file_range = on;
        self
    }

    /// Allows or forbids `sendfile(2)`.
    pub const fn sendfile(mut self, on: bool) -> Self {
        self.sendfile = on;
        self
    }

    /// Allows or forbids `splice(2)`.
    pub const fn splice(mut self, on: bool) -> Self {
        self.splice = on;
        self
    }

    /// Allows or forbids handing a regular file's pages to a socket or pipe (`sendfile`,
    /// `splice`).
    ///
    /// Those pages are referenced, not copied: if the file is written before the socket or
    /// pipe drains, the reader may see the new bytes (rust-lang/rust#108283). Pass `false` when
    /// a source file may change during or right after the copy; file→file copies keep their
    /// kernel paths, which do copy.
    pub const fn share_file_pages(mut self, on: bool) -> Self {
        self.share_file_pages = on;
        self
    }

    /// Allows or forbids `splice(2)` out of a pipe the caller gave as the source (default:
    /// forbidden; a socket relay's own pipe is not affected).
    ///
    /// Splicing out of a pipe holds the pipe's lock while the sink takes the bytes, so the
    /// process writing into the pipe waits; the read/write loop, reading at most half the pipe
    /// at a time, lets it refill the other half meanwhile. With a writer feeding a 64 KiB pipe,
    /// the loop moved 1.4–2× the bytes per second of splice into a tmpfs file, a TCP socket or
    /// another pipe here (see the README's Performance section). Turn it on for a pipe that is
    /// filled before the copy starts.
    pub const fn splice_from_pipe(mut self, on: bool) -> Self {
        self.splice_from_pipe = on;
        self
    }

    /// Allows or forbids growing the sink's kernel buffer before `sendfile` or `splice` write
    /// it (default: allowed): a pipe's capacity when the source is a file, or a Unix stream
    /// socket's send buffer.
    ///
    /// Zero-copy into a small buffer hands it over to its reader every time it fills, and on
    /// an idle machine each hand-over can cost a sleeping CPU's wake-up: from a file, a pipe of
    /// 1 MiB moved several times the bytes per second of one of 64 KiB here, and a Unix socket
    /// with a larger send buffer about twice those of the default (see the README's
    /// Performance section). So when such a copy is known to be larger than 64 KiB (a file's
    /// size, or the limit), the sink is grown to hold it, up to
    /// [`pipe_size`](Copier::pipe_size): a pipe with `F_SETPIPE_SZ` (also capped by
    /// `/proc/sys/fs/pipe-max-size`), a Unix socket with `SO_SNDBUF` (capped by
    /// `/proc/sys/net/core/wmem_max`). TCP sockets are left to the kernel's own tuning, and a
    /// pipe spliced from a socket is left alone (a larger one was slower here).
    /// [`Report::grown_sink`](crate::Report::grown_sink) says when a sink was grown.
    ///
    /// The descriptor belongs to the caller and stays grown. A refusal (`EPERM` past the
    /// per-user limit `/proc/sys/fs/pipe-user-pages-soft`, which grown pipes count against)
    /// leaves it as it was and is not an error. Pass `false` to leave sinks alone.
    pub const fn grow_buffers(mut self, on: bool) -> Self {
        self.grow_buffers = on;
        self
    }

    /// The most bytes one kernel call is asked for (default and maximum [`MAX_CHUNK`]).
    ///
    /// Values above `MAX_CHUNK` are lowered to it and 0 is raised to 1.
    pub const fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = if bytes == 0 {
            1
        } else if bytes > MAX_CHUNK {
            MAX_CHUNK
        } else {
            bytes
        };
        self
    }

    /// The size of the read/write loop's buffer (default [`DEFAULT_BUFFER_SIZE`]); 0 is raised
    /// to 1.
    pub const fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = if bytes == 0 { 1 } else { bytes };
        self
    }

    /// The capacity asked for a splice relay's pipe (default [`DEFAULT_PIPE_SIZE`]); the kernel
    /// rounds it and caps it at `/proc/sys/fs/pipe-max-size`.
    pub const fn pipe_size(mut self, bytes: usize) -> Self {
        self.pipe_size = bytes;
        self
    }

    /// Copies whose limit (from [`copy_n`](Copier::copy_n), [`Take`](std::io::Take) or
    /// [`copy_range`](Copier::copy_range)) is below `bytes` are made without probing the
    /// descriptors (default [`DEFAULT_SMALL_COPY`]); 0 sends every copy to the kernel paths.
    /// They take the read/write loop, except where one kernel call costs less than a read and a
    /// write and the ends' std types say which: a regular file copied into a
    /// [`File`](std::fs::File) takes one `copy_file_range`, a `File` into a pipe or stream
    /// socket one `sendfile`, a pipe into anything with a descriptor, or a stream socket into a
    /// pipe, one `splice`. A guess the kernel refuses falls back to the loop.
    pub const fn small_copy(mut self, bytes: u64) -> Self {
        self.small_copy = bytes;
        self
    }

    /// Before a stream socket's bytes are spliced through a relay pipe (into another socket or
    /// a file), they are read with `recv` into the loop's buffer, at most `bytes` at a time
    /// (default [`DEFAULT_FIRST_READ`], and never more than the
    /// [`buffer_size`](Copier::buffer_size)), and written, for as long as each read comes back
    /// short of `bytes`; the first read that fills it hands the rest of the copy to the relay.
    /// 0 relays from the first byte.
    ///
    /// A request, a small response or interactive traffic never fills such a read, and for
    /// them a `recv` and a `send` cost less than two splices: a relay of 4 KiB per connection
    /// took 10–20% longer by splice than by `recv`/`send` here (see the README's Async
    /// section). A bulk flow fills the first read at once and pays one copy of `bytes`.
    /// Each call starts with first reads again; an async copy's later rounds, once its relay
    /// has moved bytes, do not.
    pub const fn first_read(mut self, bytes: usize) -> Self {
        self.first_read = bytes;
        self
    }

    /// How the copy treats the page cache of the regular files at its ends (default
    /// [`Cache::Keep`]).
    ///
    /// # Platform-specific behavior
    ///
    /// On Linux, [`Cache::Uncached`] reads and writes a regular file with `preadv2`/`pwritev2`
    /// and `RWF_DONTCACHE` where its filesystem takes the flag (Linux 6.14 on: ext4 and xfs;
    /// tmpfs and btrfs answer `EOPNOTSUPP`), asked once per filesystem (`st_dev`) and
    /// remembered for the process; elsewhere it keeps the kernel paths and drops the pages the
    /// copy brought in behind it, in batches of 32 MiB, with `posix_fadvise(POSIX_FADV_DONTNEED)`
    /// (a sink's after its writeback, which the next batch's drop starts). A source's pages that
    /// were cached when the copy began (by `mincore(2)`) are left cached. A file-to-file copy
    /// within one filesystem first moves 1 MiB by `copy_file_range`: where that left no sink
    /// page cached (a reflink on xfs or btrfs, a server-side copy), the rest stays on it.
    /// [`Cache::Direct`] opens a second descriptor of each regular file with `O_DIRECT`
    /// (through `/proc/self/fd`), so the caller's descriptor keeps its flags, and copies with
    /// the read/write loop at explicit offsets, its buffer page-aligned and at least 1 MiB;
    /// reads and writes that `O_DIRECT` refuses (an unaligned head, tail or position) go through
    /// the page cache and are dropped behind. A file whose filesystem refuses `O_DIRECT` gets
    /// `Uncached`, and [`Report::cache_fallback`](crate::Report::cache_fallback) says why. Both
    /// move the caller's file positions by exactly the bytes copied, as the kernel paths do.
    /// [`Report::cache_mode`](crate::Report::cache_mode) says what each end got. Other
    /// platforms, and copies from or into a value without a descriptor, keep the cache.
    ///
    /// # Examples
    ///
    /// ```
    /// use io_copy::{Cache, Copier, End};
    ///
    /// # #[cfg(target_os = "linux")] {
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("a"), vec![1u8; 100_000])?;
    /// let mut src = std::fs::File::open(dir.path().join("a"))?;
    /// let mut dst = std::fs::File::create(dir.path().join("b"))?;
    /// let report = Copier::new().cache(Cache::Uncached).copy(&mut src, &mut dst)?;
    /// assert_eq!(report.written(), 100_000);
    /// assert!(report.cache_mode(End::Source).is_some());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn cache(mut self, policy: Cache) -> Self {
        self.cache = policy;
        self
    }

    /// The page-cache policy this copier asks for (see [`Copier::cache`]).
    pub const fn cache_policy(&self) -> Cache {
        self.cache
    }

    /// Under [`Cache::Keep`], a copy of at least `bytes` from a regular file (its bytes from the
    /// position or offset, within the limit) or, from a stream, with a limit of at least `bytes`
    /// into a regular file, takes [`Cache::Uncached`], as nginx's `directio` threshold sends
    /// large files past the cache. The default, `u64::MAX`, turns it off: an uncached copy costs
    /// its writeback up front, and a file read again soon after (a build's outputs, a cache
    /// fill) is better kept (see the README's "Large files and the page cache").
    pub const fn uncached_from(mut self, bytes: u64) -> Self {
        self.uncached_from = bytes;
        self
    }
}
