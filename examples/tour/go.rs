//! Go's `io.Copy`, timed by `benches/go-peer` with the tour's method.
//!
//! The peer is the newest Go that Debian ships, 1.24 (`golang-1.24-go` from trixie), fetched by
//! `benches/go-peer/fetch-go.sh` into the target directory with a private apt configuration
//! (nothing is installed, the system's sources are not changed), or bookworm's 1.19 when trixie
//! cannot be reached. `$IO_COPY_GO` names another toolchain (`none`: no Go). The tour builds
//! the peer once and runs one `gopeer serve` for its tables: for each cell it sets up Go's pair
//! (with its checked copy) beside its own, with far ends from the same far-end program, asks for
//! one Go sample in each round, and tears the pair down. A peer that does not answer a command
//! within [`GO_TIMEOUT`] is killed and the tour goes on without Go.

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::pairs::{self, Far, Kind};

/// How long the peer may take to answer one command (a set-up with its checked copy, a sample,
/// a teardown) before it is killed.
const GO_TIMEOUT: Duration = Duration::from_secs(20);

/// The Go peer, built, and `gopeer serve` running.
pub struct GoPeer {
    /// What the peer reports: Go's version, OS and architecture.
    pub version: String,
    pub toolchain: PathBuf,
    pub build_secs: f64,
    /// `None` once the peer has stopped (killed after a timeout, or exited).
    server: Option<Server>,
}

/// A running `gopeer serve`: commands go to its stdin, a thread hands over its stdout lines,
/// so that a peer that stops answering is noticed after [`GO_TIMEOUT`].
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<String>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
}

impl Server {
    fn spawn(exe: &FsPath) -> Result<Server, String> {
        let mut child = Command::new(exe)
            .arg("serve")
            .arg(pairs::far_end_program())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {} serve: {e}", exe.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (tx, replies) = mpsc::channel();
        // The channel disconnects when the peer exits; the child stays unreaped until `stop`,
        // so killing it by its id after a timeout is safe.
        thread::spawn(move || {
            for line in io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stderr.read_to_end(&mut v);
            v
        });
        Ok(Server {
            stdin: child.stdin.take(),
            child,
            replies,
            stderr: Some(stderr),
        })
    }

    /// Ends the peer: closes its stdin (it exits at the end of its commands), kills it if it is
    /// still there after a moment, or at once with `kill`; returns its status and the start of
    /// its stderr.
    fn stop(&mut self, kill: bool) -> String {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while !kill && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
            }
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let status = self
            .child
            .wait()
            .map_or_else(|e| e.to_string(), |s| s.to_string());
        let errs = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        match first_lines(&errs) {
            e if e.is_empty() => status,
            e => format!("{status}: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            self.stop(false);
        }
    }
}

fn executable(p: &FsPath) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The Go toolchain to build the peer with: `$IO_COPY_GO` (`none`: no Go), else the one
/// `fetch-go.sh` keeps (fetching it first) in `<target>/go`, else `go` on `PATH`, else the
/// newest `/usr/lib/go-*/bin/go`.
fn find_go(target: &FsPath, progress: &dyn Fn(&str)) -> Result<PathBuf, String> {
    if let Some(v) = std::env::var_os("IO_COPY_GO") {
        if v.is_empty() || v == "none" {
            return Err("IO_COPY_GO=none".into());
        }
        return Ok(v.into());
    }
    let script = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("benches/go-peer/fetch-go.sh");
    progress("fetching Go 1.24 (benches/go-peer/fetch-go.sh)");
    let fetched = Command::new("bash")
        .arg(&script)
        .arg(target.join("go"))
        .stdin(Stdio::null())
        .output();
    let why = match fetched {
        Ok(out) if out.status.success() => {
            let go = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if executable(&go) {
                return Ok(go);
            }
            format!("{} printed no Go toolchain", script.display())
        }
        Ok(out) => format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            first_lines(&out.stderr)
        ),
        Err(e) => format!("cannot run {}: {e}", script.display()),
    };
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(go) = std::env::split_paths(&path)
            .map(|d| d.join("go"))
            .find(|p| executable(p))
        {
            return Ok(go);
        }
    }
    fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let version = name
                .strip_prefix("go-")?
                .split('.')
                .map(|x| x.parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()?;
            let go = e.path().join("bin/go");
            executable(&go).then_some((version, go))
        })
        .max()
        .map(|(_, go)| go)
        .ok_or_else(|| format!("no Go toolchain: {why} (or set IO_COPY_GO)"))
}

/// The first lines of a failed command's stderr, on one line.
fn first_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    lines.join(" / ")
}

impl GoPeer {
    /// Finds or fetches Go, builds benches/go-peer into `<target>/go-peer/gopeer` (the build
    /// cache and GOPATH are there too, so nothing is written into the source tree; nothing is
    /// fetched: the peer uses Go's standard library only), and starts `gopeer serve`.
    pub fn start(target: &FsPath, progress: &dyn Fn(&str)) -> Result<GoPeer, String> {
        let toolchain = find_go(target, progress)?;
        progress("building the Go peer");
        let src = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("benches/go-peer");
        if !src.join("main.go").is_file() {
            return Err(format!("{} is missing", src.display()));
        }
        let dir = target.join("go-peer");
        let exe = dir.join("gopeer");
        let t0 = Instant::now();
        let built = Command::new(&toolchain)
            .args(["build", "-buildvcs=false", "-o"])
            .arg(&exe)
            .arg(".")
            .current_dir(&src)
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOWORK", "off")
            .env("GOENV", "off")
            .env("CGO_ENABLED", "0")
            .env("GOCACHE", dir.join("cache"))
            .env("GOPATH", dir.join("gopath"))
            .env_remove("GOOS")
            .env_remove("GOARCH")
            .env_remove("GOROOT")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", toolchain.display()))?;
        if !built.status.success() {
            return Err(format!(
                "`{} build` failed ({}): {}",
                toolchain.display(),
                built.status,
                first_lines(&built.stderr)
            ));
        }
        let build_secs = t0.elapsed().as_secs_f64();
        let out = Command::new(&exe)
            .arg("version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} version failed ({}): {}",
                exe.display(),
                out.status,
                first_lines(&out.stderr)
            ));
        }
        Ok(GoPeer {
            version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            toolchain,
            build_secs,
            server: Some(Server::spawn(&exe)?),
        })
    }

    /// Whether the peer still runs.
    pub fn alive(&self) -> bool {
        self.server.is_some()
    }

    /// Sends one command and returns the peer's answer; an `err` answer is the error. A peer
    /// that does not answer within [`GO_TIMEOUT`] is killed, and one that exits is reaped:
    /// either way no command goes to it again.
    fn ask(&mut self, command: &str) -> Result<String, String> {
        let server = self
            .server
            .as_mut()
            .ok_or_else(|| "the peer has stopped".to_string())?;
        let sent = server
            .stdin
            .as_mut()
            .expect("stdin open while the peer runs")
            .write_all(format!("{command}\n").as_bytes());
        let got = match sent {
            Ok(()) => server.replies.recv_timeout(GO_TIMEOUT),
            Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
        };
        match got {
            Ok(line) => match line.strip_prefix("err ") {
                Some(why) => Err(why.to_string()),
                None => Ok(line),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let status = server.stop(true);
                self.server = None;
                Err(format!(
                    "no answer to `{command}` in {} s: killed ({status}); the rest of the tour goes on without Go",
                    GO_TIMEOUT.as_secs()
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.stop(false);
                self.server = None;
                Err(format!(
                    "exited at `{command}` ({status}); the rest of the tour goes on without Go"
                ))
            }
        }
    }

    /// Builds Go's side of one cell, with its far ends as `far`, and makes its checked copy,
    /// which must match the tour's bytes (only the count for a sink that cannot be read back).
    pub fn setup(
        &mut self,
        kind: Kind,
        n: u64,
        dir: Option<&FsPath>,
        far: Far,
    ) -> Result<(), String> {
        let dir = dir.map_or_else(|| "-".into(), |d| d.display().to_string());
        if dir.contains(char::is_whitespace) {
            return Err(format!("the peer's commands cannot carry the path {dir:?}"));
        }
        let command = format!("setup {} {n} {dir} {}", kind.go_name(), far.go_name());
        let line = self.ask(&command)?;
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .ok_or_else(|| format!("no {key} in {:?}", line.trim()))
        };
        let (want_checked, want_sum) = if kind.checkable() {
            let sum = pairs::checksum(&pairs::pattern()[..n as usize]);
            (n.to_string(), format!("{sum:#x}"))
        } else {
            ("count".to_string(), "-".to_string())
        };
        let (checked, got_sum) = (field("checked")?, field("checksum")?);
        if (checked, got_sum) != (want_checked.as_str(), want_sum.as_str()) {
            let _ = self.ask("teardown");
            return Err(format!(
                "the far end got checked={checked} checksum={got_sum}, expected {want_checked} {want_sum}"
            ));
        }
        Ok(())
    }

    /// Times one batch of `copies` copies of the cell set up; returns seconds per copy.
    pub fn sample(&mut self, copies: u64) -> Result<f64, String> {
        let line = self.ask(&format!("sample {copies}"))?;
        line.trim()
            .parse()
            .map_err(|e| format!("sample answer {line:?}: {e}"))
    }

    /// Closes the cell set up.
    pub fn teardown(&mut self) -> Result<(), String> {
        self.ask("teardown").map(drop)
    }

    /// Stops the peer, at the end of the tour.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop(false);
        }
    }
}
