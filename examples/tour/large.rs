//! `--large`: 2 GiB files past the page cache. Each policy of [`io_copy::Cache`] copies a cold
//! 2 GiB file (and one of 2 GiB + 7) file→file and file→TCP socket (its drainer a far-end
//! process), on ext4 (the target directory's filesystem) and on xfs (a loop mount this tour
//! makes, as root, with direct I/O to its image so that the image's own pages in ext4's cache
//! do not serve xfs's reads), beside `cp`, `dd iflag=direct oflag=direct` and `dd iflag=nocache
//! oflag=nocache` (1 MiB blocks). For each: the throughput of the copy (the whole process for
//! cp and dd, the copy call for io_copy, each from a cold source, after a `sync`), and the
//! page-cache footprint the copy leaves, of source and sink, as a share of the bytes copied
//! (`mincore`). Then the hot-set check: a 256 MiB file read just before stays cached through a
//! 2 GiB copy under each policy.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use io_copy::{Cache, Copier, End};

use crate::pairs::{Far, FarEnd};

const GIB: u64 = 1 << 30;

/// The share of `path`'s pages in the page cache, by `mincore` on a fresh mapping.
pub fn cached_bytes(path: &Path) -> io::Result<u64> {
    let f = File::open(path)?;
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok(0);
    }
    let mut vec = vec![0u8; len.div_ceil(4096)];
    // SAFETY: a new read-only shared mapping of `len` bytes, never dereferenced; `vec` holds a
    // byte for each of its pages; unmapped before return.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let res = libc::mincore(addr, len, vec.as_mut_ptr());
        libc::munmap(addr, len);
        if res != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(vec.iter().filter(|v| *v & 1 != 0).count() as u64 * 4096)
}

/// Waits for all writeback, then drops `path`'s pages: a cold file.
fn make_cold(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    f.sync_all()?;
    nix::fcntl::posix_fadvise(
        &f,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .map_err(io::Error::from)
}

fn sync() {
    let _ = Command::new("sync").status();
}

/// An xfs loop mount under `dir`, unmounted on drop.
struct Xfs {
    mnt: PathBuf,
    dev: String,
}

impl Xfs {
    fn new(dir: &Path) -> Result<Xfs, String> {
        let image = dir.join("xfs.img");
        let mnt = dir.join("xfs");
        let run = |cmd: &mut Command| -> Result<String, String> {
            let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "{cmd:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let f = File::create(&image).map_err(|e| e.to_string())?;
        f.set_len(12 * GIB).map_err(|e| e.to_string())?;
        run(Command::new("mkfs.xfs").args(["-q", "-f"]).arg(&image))?;
        let dev = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image))?;
        fs::create_dir_all(&mnt).map_err(|e| e.to_string())?;
        if let Err(e) = run(Command::new("mount").arg(&dev).arg(&mnt)) {
            let _ = Command::new("losetup").args(["-d", &dev]).status();
            return Err(e);
        }
        Ok(Xfs { mnt, dev })
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// One contender's copy of `src` into `dst`: seconds.
fn run_one(who: &str, src: &Path, dst: &Path) -> io::Result<f64> {
    let _ = fs::remove_file(dst);
    sync();
    make_cold(src)?;
    let shell = |args: &[&str]| -> io::Result<f64> {
        let t = Instant::now();
        let st = Command::new(args[0]).args(&args[1..]).status()?;
        if !st.success() {
            return Err(io::Error::other(format!("{args:?} failed")));
        }
        Ok(t.elapsed().as_secs_f64())
    };
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    let (i, o) = (format!("if={s}"), format!("of={d}"));
    match who {
        "cp" => shell(&["cp", s, d]),
        "dd direct" => shell(&[
            "dd",
            &i,
            &o,
            "bs=1M",
            "iflag=direct",
            "oflag=direct",
            "status=none",
        ]),
        "dd nocache" => shell(&[
            "dd",
            &i,
            &o,
            "bs=1M",
            "iflag=nocache",
            "oflag=nocache",
            "status=none",
        ]),
        policy => {
            let copier = copier(policy);
            let mut from = File::open(src)?;
            let mut to = File::create(dst)?;
            let t = Instant::now();
            let r = copier.copy(&mut from, &mut to).map_err(io::Error::from)?;
            let secs = t.elapsed().as_secs_f64();
            let want = fs::metadata(src)?.len();
            if r.written() != want {
                return Err(io::Error::other(format!(
                    "{policy}: {} of {want} bytes",
                    r.written()
                )));
            }
            Ok(secs)
        }
    }
}

fn copier(policy: &str) -> Copier {
    match policy {
        "io_copy Keep" => Copier::new(),
        "io_copy Uncached" => Copier::new().cache(Cache::Uncached),
        _ => Copier::new().cache(Cache::Direct),
    }
}

const POLICIES: [&str; 3] = ["io_copy Keep", "io_copy Uncached", "io_copy Direct"];

/// The tour's `--large` table.
pub fn run(target: &Path) -> Result<Vec<String>, String> {
    let base = target.join("tour-large");
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&base).map_err(|e| e.to_string())?;
    let mut lines = vec![
        "| fs | size | pair | contender | path / mode | GiB/s | source cached | sink cached |"
            .to_owned(),
        "|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    let xfs = Xfs::new(&base);
    let mut places = vec![("ext4", base.join("ext4"))];
    match &xfs {
        Ok(x) => places.push(("xfs", x.mnt.join("d"))),
        Err(e) => lines.push(format!("xfs skipped: {e}")),
    }
    for (fs_name, dir) in &places {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        for size in [2 * GIB, 2 * GIB + 7] {
            let src = dir.join("src");
            write_source(&src, size).map_err(|e| format!("source: {e}"))?;
            let dst = dir.join("dst");
            let label = if size == 2 * GIB {
                "2 GiB"
            } else {
                "2 GiB + 7"
            };
            for who in POLICIES
                .iter()
                .copied()
                .chain(["cp", "dd direct", "dd nocache"])
            {
                eprint!("\r  large: {fs_name} {label} file→file {who}          ");
                let secs = run_one(who, &src, &dst).map_err(|e| format!("{who}: {e}"))?;
                let mode = if who.starts_with("io_copy") {
                    mode_of(who, &src, &dst)
                } else {
                    "-".into()
                };
                lines.push(row(
                    fs_name,
                    label,
                    "file→file",
                    who,
                    &mode,
                    size,
                    secs,
                    &src,
                    Some(&dst),
                ));
            }
            let _ = fs::remove_file(&dst);
            if size == 2 * GIB + 7 {
                for who in POLICIES {
                    eprint!("\r  large: {fs_name} {label} file→TCP {who}          ");
                    let (secs, mode) =
                        to_socket(who, &src).map_err(|e| format!("{who} → TCP: {e}"))?;
                    lines.push(row(
                        fs_name,
                        label,
                        "file→TCP",
                        who,
                        &mode,
                        size,
                        secs,
                        &src,
                        None,
                    ));
                }
            }
            if size == 2 * GIB && *fs_name == "ext4" {
                lines.extend(hot_set(dir, &src).map_err(|e| format!("hot set: {e}"))?);
            }
            let _ = fs::remove_file(&src);
        }
    }
    eprintln!();
    drop(xfs);
    let _ = fs::remove_dir_all(&base);
    Ok(lines)
}

#[allow(clippy::too_many_arguments)]
fn row(
    fs: &str,
    size: &str,
    pair: &str,
    who: &str,
    mode: &str,
    len: u64,
    secs: f64,
    src: &Path,
    dst: Option<&Path>,
) -> String {
    let pct = |p: &Path| {
        cached_bytes(p).map_or("?".into(), |b| {
            format!("{:.1}%", 100.0 * b as f64 / len as f64)
        })
    };
    format!(
        "| {fs} | {size} | {pair} | {who} | {mode} | {:.2} | {} | {} |",
        len as f64 / secs / GIB as f64,
        pct(src),
        dst.map_or("-".into(), pct),
    )
}

/// The path and the modes of one more io_copy copy, untimed, of a warm… no: of the same cold
/// source: what the report names.
fn mode_of(who: &str, src: &Path, dst: &Path) -> String {
    // The report of the timed copy is not kept across the footprint measurement; a short copy
    // of the first 64 MiB under the same policy names the same path and modes.
    let run = || -> io::Result<String> {
        let mut from = File::open(src)?;
        let tmp = dst.with_extension("mode");
        let mut to = File::create(&tmp)?;
        let r = copier(who)
            .copy_n(&mut from, &mut to, 64 << 20)
            .map_err(io::Error::from)?;
        drop(to);
        let _ = fs::remove_file(&tmp);
        let m = |e| r.cache_mode(e).map_or("-".to_owned(), |m| m.to_string());
        Ok(format!(
            "{} / {}, {}",
            r.main_path().map_or("-", |p| p.name()),
            m(End::Source),
            m(End::Sink)
        ))
    };
    run().unwrap_or_else(|e| format!("? ({e})"))
}

fn write_source(path: &Path, size: u64) -> io::Result<()> {
    let mut f = File::create(path)?;
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// A copy of the cold `src` into a TCP socket whose reader is a far-end process.
fn to_socket(who: &str, src: &Path) -> io::Result<(f64, String)> {
    let (mut a, b) = crate::pairs::tcp_pair()?;
    let mut far = FarEnd::drainer(b, Far::Process)?;
    let len = fs::metadata(src)?.len();
    sync();
    make_cold(src)?;
    far.expect(len, false)?;
    let mut from = File::open(src)?;
    let t = Instant::now();
    let r = copier(who)
        .copy(&mut from, &mut a)
        .map_err(io::Error::from)?;
    drop(a);
    let (got, _) = far.wait()?;
    let secs = t.elapsed().as_secs_f64();
    if got != len || r.written() != len {
        return Err(io::Error::other(format!(
            "{} sent, {got} arrived of {len}",
            r.written()
        )));
    }
    let m = r
        .cache_mode(End::Source)
        .map_or("-".to_owned(), |m| m.to_string());
    Ok((
        secs,
        format!("{} / {m}", r.main_path().map_or("-", |p| p.name())),
    ))
}

/// A 256 MiB file read just before a 2 GiB copy: how much of it each policy leaves cached, and
/// the source's own share when it was hot before the copy.
fn hot_set(dir: &Path, src: &Path) -> io::Result<Vec<String>> {
    let hot = dir.join("hot");
    write_source(&hot, 256 << 20)?;
    let dst = dir.join("dst");
    let mut out = vec![String::new(), "| hot set (ext4, 2 GiB copy) | 256 MiB file cached after | hot 2 GiB source cached after |".into(), "|---|---|---|".into()];
    for who in POLICIES {
        fs::read(&hot)?;
        let before = cached_bytes(&hot)?;
        let _ = run_one(who, src, &dst)?;
        let after = cached_bytes(&hot)?;
        // The source hot before the copy.
        fs::read(src)?;
        let mut from = File::open(src)?;
        let mut to = File::create(&dst)?;
        copier(who)
            .copy(&mut from, &mut to)
            .map_err(io::Error::from)?;
        let src_after = cached_bytes(src)?;
        out.push(format!(
            "| {who} | {:.1}% (of {:.1}% before) | {:.1}% |",
            100.0 * after as f64 / (256 << 20) as f64,
            100.0 * before as f64 / (256 << 20) as f64,
            100.0 * src_after as f64 / fs::metadata(src)?.len() as f64
        ));
    }
    let _ = fs::remove_file(&dst);
    let _ = fs::remove_file(&hot);
    out.push(String::new());
    Ok(out)
}
