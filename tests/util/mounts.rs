//! Filesystems the harness mounts itself: btrfs and xfs on loop devices, and overlayfs as Docker
//! mounts it. Each is unmounted and detached on drop (also when a test panics); directories are
//! named after the process id, and leftovers of dead processes are swept on first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Once, Weak};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Scratch directories of this harness start with this, then `PID-`.
const PREFIX: &str = "io_copy-mnt-";

/// A filesystem made with mkfs on a sparse image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoopKind {
    Btrfs,
    Xfs,
}

impl LoopKind {
    fn name(self) -> &'static str {
        match self {
            LoopKind::Btrfs => "btrfs",
            LoopKind::Xfs => "xfs",
        }
    }
}

/// Why `kind` cannot be loop-mounted here, or `None` if it can.
pub fn loop_unavailable(kind: LoopKind) -> Option<String> {
    if !super::is_root() {
        return Some("root (losetup, mount)".into());
    }
    let mkfs = format!("mkfs.{}", kind.name());
    if !super::have_program(&mkfs) || !super::have_program("losetup") {
        return Some(format!("{mkfs} and losetup"));
    }
    if !fs_known(kind.name()) {
        return Some(format!("{} in /proc/filesystems", kind.name()));
    }
    None
}

/// Why overlayfs cannot be mounted here, or `None` if it can.
pub fn overlay_unavailable() -> Option<String> {
    if !super::is_root() {
        return Some("root (mount)".into());
    }
    if !fs_known("overlay") {
        return Some("overlay in /proc/filesystems".into());
    }
    None
}

fn fs_known(name: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|s| s.lines().any(|l| l.split_whitespace().last() == Some(name)))
}

fn run(prog: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("{prog}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{prog} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn scratch_dir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .tempdir()
        .map_err(|e| format!("scratch dir: {e}"))
}

fn is_ours_and_dead(path: &str) -> bool {
    path.split(PREFIX)
        .nth(1)
        .and_then(|r| r.split('-').next())
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// Unmounts and detaches what processes of this harness left when they died without
/// dropping their guards.
fn sweep_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            for line in mounts.lines() {
                if let Some(target) = line.split_whitespace().nth(1) {
                    if is_ours_and_dead(target) {
                        let _ = umount2(target, MntFlags::MNT_DETACH);
                    }
                }
            }
        }
        // "/dev/loop3: [2049]:1234 (/tmp/io_copy-mnt-123-abc/fs.img)"
        if let Ok(list) = run("losetup", &["-a"]) {
            for line in list.lines() {
                if is_ours_and_dead(line) {
                    if let Some(dev) = line.split(':').next() {
                        let _ = run("losetup", &["-d", dev]);
                    }
                }
            }
        }
    });
}

/// A loop-mounted filesystem on a sparse image in the temp dir.
pub struct LoopFs {
    kind: LoopKind,
    mnt: PathBuf,
    dev: Option<String>,
    mounted: bool,
    // Last: removed after the unmount.
    _dir: tempfile::TempDir,
}

impl LoopFs {
    /// mkfs, losetup and mount a `kind` filesystem of 1 GiB (sparse).
    pub fn new(kind: LoopKind) -> Result<LoopFs, String> {
        sweep_stale();
        let dir = scratch_dir()?;
        let image = dir.path().join("fs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| format!("mkdir: {e}"))?;
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(1 << 30))
            .map_err(|e| format!("image: {e}"))?;
        let img = image.to_str().unwrap();
        match kind {
            LoopKind::Btrfs => run("mkfs.btrfs", &["-q", "-f", img])?,
            LoopKind::Xfs => run("mkfs.xfs", &["-q", "-f", img])?,
        };
        let mut fs = LoopFs {
            kind,
            mnt,
            dev: None,
            mounted: false,
            _dir: dir,
        };
        // Another process may take the free device between the lookup and the attach.
        let mut last = String::new();
        for _ in 0..5 {
            match run("losetup", &["--find", "--show", img]) {
                Ok(dev) => {
                    fs.dev = Some(dev);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let dev = fs.dev.clone().ok_or(last)?;
        mount(
            Some(dev.as_str()),
            &fs.mnt,
            Some(kind.name()),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| format!("mount {dev} ({}): {e}", kind.name()))?;
        fs.mounted = true;
        Ok(fs)
    }

    pub fn path(&self) -> &Path {
        &self.mnt
    }

    pub fn kind(&self) -> LoopKind {
        self.kind
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            unmount(&self.mnt);
        }
        if let Some(dev) = &self.dev {
            if let Err(e) = run("losetup", &["-d", dev]) {
                eprintln!("loop cleanup: {e}");
            }
        }
    }
}

fn unmount(path: &Path) {
    if let Err(e) = umount2(path, MntFlags::empty()) {
        // Busy (a descriptor still open somewhere): detach now, the kernel finishes later.
        eprintln!("umount {}: {e}; detaching", path.display());
        let _ = umount2(path, MntFlags::MNT_DETACH);
    }
}

/// The `kind` filesystem shared by the tests that run at the same time, unmounted when the last
/// of them drops it.
pub fn shared(kind: LoopKind) -> Result<Arc<LoopFs>, String> {
    static LIVE: Mutex<Vec<Weak<LoopFs>>> = Mutex::new(Vec::new());
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|w| w.strong_count() > 0);
    if let Some(fs) = live
        .iter()
        .filter_map(Weak::upgrade)
        .find(|f| f.kind == kind)
    {
        return Ok(fs);
    }
    let fs = Arc::new(LoopFs::new(kind)?);
    live.push(Arc::downgrade(&fs));
    Ok(fs)
}

/// An overlay mount as Docker makes one: two read-only lower layers, an upper layer and a work
/// dir, all in one scratch dir of the temp dir.
pub struct Overlay {
    merged: PathBuf,
    lower: PathBuf,
    mounted: bool,
    _dir: tempfile::TempDir,
}

impl Overlay {
    /// Calls `populate` with the top lower layer (files there are read through the overlay
    /// without being copied up), then mounts.
    pub fn new(populate: impl FnOnce(&Path)) -> Result<Overlay, String> {
        sweep_stale();
        let dir = scratch_dir()?;
        let [l1, l2, upper, work, merged] =
            ["l1", "l2", "upper", "work", "merged"].map(|n| dir.path().join(n));
        for d in [&l1, &l2, &upper, &work, &merged] {
            std::fs::create_dir(d).map_err(|e| format!("mkdir: {e}"))?;
        }
        std::fs::write(l2.join("base-layer"), b"from the bottom layer")
            .map_err(|e| format!("layer: {e}"))?;
        populate(&l1);
        let opts = format!(
            "lowerdir={}:{},upperdir={},workdir={}",
            l1.display(),
            l2.display(),
            upper.display(),
            work.display()
        );
        let mut o = Overlay {
            merged,
            lower: l1,
            mounted: false,
            _dir: dir,
        };
        mount(
            Some("overlay"),
            &o.merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| format!("mount overlay ({opts}): {e}"))?;
        o.mounted = true;
        Ok(o)
    }

    /// The merged view.
    pub fn path(&self) -> &Path {
        &self.merged
    }

    /// The top lower layer, as it was populated.
    pub fn lower(&self) -> &Path {
        &self.lower
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if self.mounted {
            unmount(&self.merged);
        }
    }
}
