//! `--servers`: the file server and the proxy of `examples/` under wrk, each against the same
//! program built on `std::io::copy` (`--std`) and nginx with `sendfile on` as the ceiling.
//!
//! For every file size, wrk (one thread, four connections, keep-alive) fetches one file for a
//! few seconds from each server in turn, for two rounds; a cell is the better round of each.
//! The server's CPU is its process's user and system time over the run (`/proc/PID/stat`), per
//! GiB served. The proxy rows put `examples/proxy` (io_copy, or `--std`) in front of nginx and
//! count the proxy's CPU. Everything listens on 127.0.0.1.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::pairs::{pattern, KIB, MIB};
use crate::table::{size_name, Progress};

const SIZES: [u64; 4] = [4 * KIB, 64 * KIB, MIB, 64 * MIB];
const RUN_SECS: u64 = 3;
const ROUNDS: usize = 2;
const GIB: f64 = (1u64 << 30) as f64;

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// User plus system CPU seconds of the process so far.
    fn cpu(&self) -> f64 {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }
}

/// Starts an example that prints `listening on ADDR`.
fn example(bin: &Path, args: &[&str]) -> Result<Server, String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("{} printed {line:?}", bin.display()))?;
    Ok(Server { child, port })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

fn nginx(root: &Path, prefix: &Path) -> Result<Server, String> {
    let port = free_port();
    let conf = prefix.join("nginx.conf");
    let text = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n\
         client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fcgi;\n\
         uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
         server {{ listen 127.0.0.1:{port}; root {r}; }} }}\n",
        p = prefix.display(),
        r = root.display(),
    );
    fs::write(&conf, text).map_err(|e| e.to_string())?;
    let prog = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("-v")
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .ok_or("no nginx (apt-get install nginx-light)")?;
    let child = Command::new(prog)
        .args([
            "-c",
            conf.to_str().unwrap_or(""),
            "-p",
            prefix.to_str().unwrap_or(""),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run nginx: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("nginx did not start".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(Server { child, port })
}

/// One wrk run: requests and bytes per second.
fn wrk(port: u16, file: &str) -> Result<(f64, f64), String> {
    let url = format!("http://127.0.0.1:{port}/{file}");
    let out = Command::new("wrk")
        .args(["-t1", "-c4", &format!("-d{RUN_SECS}s"), "--latency", &url])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wrk: {e} (apt-get install wrk)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("wrk printed no rate: {text}"))?;
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk saw errors: {text}"));
    }
    let bytes = field("Transfer/sec:").map_or(0.0, parse_size);
    Ok((rps, bytes))
}

fn parse_size(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.trim().parse().unwrap_or(0.0);
    n * match unit {
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => GIB,
        _ => 1.0,
    }
}

/// The best of [`ROUNDS`] runs of one server and file: requests/s, GiB/s, CPU s per GiB.
struct Cell {
    rps: f64,
    gib_s: f64,
    cpu_per_gib: f64,
}

fn measure(server: &Server, file: &str) -> Result<Cell, String> {
    let cpu0 = server.cpu();
    let (rps, bytes) = wrk(server.port, file)?;
    let cpu = server.cpu() - cpu0;
    let gib = bytes * RUN_SECS as f64 / GIB;
    Ok(Cell {
        rps,
        gib_s: bytes / GIB,
        cpu_per_gib: if gib > 0.0 { cpu / gib } else { f64::NAN },
    })
}

fn best(a: Option<Cell>, b: Cell) -> Cell {
    match a {
        Some(a) if a.rps >= b.rps => a,
        _ => b,
    }
}

/// Builds the examples beside the tour (`cargo run` built only the tour).
fn build_examples() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--example",
            "serve",
            "--example",
            "proxy",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --example serve --example proxy: {status}"
        ));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Ok(exe.parent().expect("examples dir").to_path_buf())
}

pub fn run(progress: &Progress) -> Result<Vec<String>, String> {
    progress.show("servers: building the examples");
    let bin = build_examples()?;
    let root = tempfile::tempdir_in("/dev/shm").map_err(|e| e.to_string())?;
    let prefix = tempfile::tempdir().map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755));
    }
    for n in SIZES {
        fs::write(root.path().join(format!("f{n}")), &pattern()[..n as usize])
            .map_err(|e| e.to_string())?;
    }
    let rootarg = root.path().to_str().ok_or("a path that is not UTF-8")?;
    let ngx = nginx(root.path(), prefix.path())?;
    let io = example(&bin.join("serve"), &[rootarg, "127.0.0.1:0"])?;
    let std = example(&bin.join("serve"), &[rootarg, "127.0.0.1:0", "--std"])?;
    let upstream = format!("127.0.0.1:{}", ngx.port);
    let pio = example(&bin.join("proxy"), &["127.0.0.1:0", &upstream, "--quiet"])?;
    let pstd = example(
        &bin.join("proxy"),
        &["127.0.0.1:0", &upstream, "--std", "--quiet"],
    )?;

    let mut lines = vec![
        format!(
            "{:<12} {:>7} {:>10} {:>10} {:>10} {:>6}  {:>9} {:>9} {:>9} {:>6}",
            "server",
            "file",
            "io_copy",
            "std",
            "nginx",
            "io/std",
            "io_copy",
            "std",
            "nginx",
            "io/std"
        ),
        format!(
            "{:<12} {:>7} {:>10} {:>10} {:>10} {:>6}  {:>9} {:>9} {:>9} {:>6}",
            "", "", "req/s", "req/s", "req/s", "", "CPU s/GiB", "CPU s/GiB", "CPU s/GiB", ""
        ),
    ];
    for n in SIZES {
        let file = format!("f{n}");
        let (mut a, mut b, mut c) = (None, None, None);
        for round in 0..ROUNDS {
            progress.show(&format!("servers: {} (round {})", size_name(n), round + 1));
            a = Some(best(a, measure(&io, &file)?));
            b = Some(best(b, measure(&std, &file)?));
            c = Some(best(c, measure(&ngx, &file)?));
        }
        let (a, b, c) = (
            a.expect("measured"),
            b.expect("measured"),
            c.expect("measured"),
        );
        lines.push(format!(
            "{:<12} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>6.2}  {:>9.3} {:>9.3} {:>9.3} {:>6.2}",
            "serve",
            size_name(n),
            a.rps,
            b.rps,
            c.rps,
            a.rps / b.rps,
            a.cpu_per_gib,
            b.cpu_per_gib,
            c.cpu_per_gib,
            a.cpu_per_gib / b.cpu_per_gib
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "{:<12} {:>7} {:>10} {:>10} {:>10} {:>6}  {:>9} {:>9} {:>6}",
        "proxy", "file", "io_copy", "std", "direct", "io/std", "io_copy", "std", "io/std"
    ));
    lines.push(format!(
        "{:<12} {:>7} {:>10} {:>10} {:>10} {:>6}  {:>9} {:>9} {:>6}",
        "→ nginx", "", "GiB/s", "GiB/s", "GiB/s", "", "CPU s/GiB", "CPU s/GiB", ""
    ));
    for n in [MIB, 64 * MIB] {
        let file = format!("f{n}");
        let (mut a, mut b, mut c) = (None, None, None);
        for round in 0..ROUNDS {
            progress.show(&format!("proxy: {} (round {})", size_name(n), round + 1));
            a = Some(best(a, measure(&pio, &file)?));
            b = Some(best(b, measure(&pstd, &file)?));
            c = Some(best(c, measure(&ngx, &file)?));
        }
        let (a, b, c) = (
            a.expect("measured"),
            b.expect("measured"),
            c.expect("measured"),
        );
        lines.push(format!(
            "{:<12} {:>7} {:>10.2} {:>10.2} {:>10.2} {:>6.2}  {:>9.3} {:>9.3} {:>6.2}",
            "proxy",
            size_name(n),
            a.gib_s,
            b.gib_s,
            c.gib_s,
            a.gib_s / b.gib_s,
            a.cpu_per_gib,
            b.cpu_per_gib,
            a.cpu_per_gib / b.cpu_per_gib
        ));
    }
    Ok(lines)
}
