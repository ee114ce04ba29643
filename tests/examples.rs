//! The examples under real clients: `examples/serve.rs` under curl and ab, `examples/proxy.rs`
//! and `examples/tokio_proxy.rs` in front of nginx, socat and iperf3. Each server listens on 127.0.0.1 only, on a port the
//! kernel picks, and each load is bounded in count and time.
//!
//! The examples are the binaries `cargo test` builds beside this one (`target/*/examples/`).
//! A test that needs a tool says so in its name and, outside CI, skips when it is missing.
#![cfg(target_os = "linux")]

mod util;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rstest::rstest;
use util::{have_program, pattern, require, scratch};

/// An example's binary, built by `cargo test` next to the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is not built: `cargo test` builds the examples (`cargo test --test examples` alone does not; `cargo build --examples` first)",
        path.display()
    );
    path
}

/// A child process killed when dropped.
struct Running {
    child: Child,
    /// Where it listens, for the servers that print it.
    addr: String,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its open descriptors now.
    fn fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Waits up to `secs` for its descriptor count to come back to `baseline` (or settle, for a
    /// baseline of 0).
    fn settles_to(&self, baseline: usize, secs: u64) -> usize {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let n = self.fds();
            if n <= baseline || Instant::now() > deadline {
                return n;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an example that prints `listening on ADDR` and returns once it has.
fn start(name: &str, args: &[&str]) -> Running {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("its first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{name} printed {line:?}"))
        .to_string();
    Running { child, addr }
}

/// Starts a tool in the background.
fn spawn_tool(prog: &str, args: &[&str]) -> Running {
    let child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {prog}: {e}"));
    Running {
        child,
        addr: String::new(),
    }
}

/// Runs a tool to its end within `secs`, and returns its stdout.
fn run_tool(prog: &str, args: &[&str], secs: u64) -> String {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {prog}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{prog} {args:?} ran over {secs} s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free port on 127.0.0.1 for a tool to listen on (the kernel's pick, released at once).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Waits until something listens on `port`.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn sha256(path: &Path) -> String {
    let out = run_tool("sha256sum", &[path.to_str().expect("utf-8 path")], 60);
    out.split_whitespace().next().expect("a digest").to_string()
}

/// The files every download test fetches: name and size.
const FILES: [(&str, usize); 7] = [
    ("empty", 0),
    ("one", 1),
    ("k4095", 4095),
    ("k4097", 4097),
    ("k65537", 65537),
    ("m1p7", (1 << 20) + 7),
    ("m64", 64 << 20),
];

/// A served directory with the files of [`FILES`], readable by a server running as `nobody`.
fn www() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    for (name, len) in FILES {
        fs::write(dir.path().join(name), pattern(len, len as u64)).expect("write");
    }
    dir
}

/// Fetches `url` with curl into `out` (with `extra` arguments); returns the HTTP status.
fn curl(url: &str, out: &Path, extra: &[&str]) -> u16 {
    let mut args = vec![
        "-s",
        "-o",
        out.to_str().expect("utf-8"),
        "-w",
        "%{http_code}",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    run_tool("curl", &args, 120)
        .trim()
        .parse()
        .expect("a status")
}

/// Every file through `base` (a server, or the proxy in front of one) has the digest of the
/// file itself.
fn downloads_match(base: &str, dir: &Path, scratch_dir: &Path) {
    for (name, _) in FILES {
        let got = scratch_dir.join(format!("got-{name}"));
        let status = curl(&format!("http://{base}/{name}"), &got, &[]);
        assert_eq!(status, 200, "{name}");
        assert_eq!(sha256(&got), sha256(&dir.join(name)), "{name} by SHA-256");
    }
}

#[test]
fn serve_downloads_match_by_sha256_needs_curl() {
    if !require(
        have_program("curl"),
        "serve_downloads_match_by_sha256_needs_curl",
        "curl",
    ) {
        return;
    }
    let dir = www();
    let server = start("serve", &[dir.path().to_str().unwrap(), "127.0.0.1:0"]);
    let tmp = scratch();
    downloads_match(&server.addr, dir.path(), tmp.path());
    // HEAD gives the length and no body; a missing file is 404; a path out of the root is 404.
    let head = run_tool(
        "curl",
        &["-s", "-I", &format!("http://{}/k4097", server.addr)],
        30,
    );
    assert!(head.contains("Content-Length: 4097"), "{head}");
    let none = tmp.path().join("none");
    assert_eq!(
        curl(&format!("http://{}/nope", server.addr), &none, &[]),
        404
    );
    let escape = format!("http://{}/../../../../etc/passwd", server.addr);
    assert_eq!(curl(&escape, &none, &["--path-as-is"]), 404);
    let encoded = format!("http://{}/%2e%2e/%2e%2e/etc/passwd", server.addr);
    assert_eq!(curl(&encoded, &none, &["--path-as-is"]), 404);
}

#[test]
fn serve_ranges_at_the_edges_needs_curl() {
    if !require(
        have_program("curl"),
        "serve_ranges_at_the_edges_needs_curl",
        "curl",
    ) {
        return;
    }
    let dir = www();
    let server = start("serve", &[dir.path().to_str().unwrap(), "127.0.0.1:0"]);
    let tmp = scratch();
    let len = 65537;
    let data = pattern(len, len as u64);
    // (range, status, the bytes expected)
    let cases: [(&str, u16, std::ops::Range<usize>); 10] = [
        ("0-0", 206, 0..1),
        ("65536-65536", 206, 65536..65537),
        ("65536-", 206, 65536..65537),
        ("-1", 206, 65536..65537),
        ("-65537", 206, 0..len),
        ("-100000", 206, 0..len),
        ("100-99999", 206, 100..len),
        ("65537-", 416, 0..0),
        ("70000-80000", 416, 0..0),
        ("0-1,5-6", 200, 0..len),
    ];
    for (range, status, bytes) in cases {
        let got = tmp.path().join("got");
        let url = format!("http://{}/k65537", server.addr);
        assert_eq!(curl(&url, &got, &["-r", range]), status, "range {range}");
        if status == 416 {
            continue;
        }
        let want = tmp.path().join("want");
        fs::write(&want, &data[bytes.clone()]).unwrap();
        assert_eq!(sha256(&got), sha256(&want), "range {range} by SHA-256");
    }
}

#[test]
fn serve_keeps_alive_under_ab_needs_ab() {
    if !require(
        have_program("ab"),
        "serve_keeps_alive_under_ab_needs_ab",
        "ab (apache2-utils)",
    ) {
        return;
    }
    let dir = www();
    let server = start("serve", &[dir.path().to_str().unwrap(), "127.0.0.1:0"]);
    let url = format!("http://{}/k4097", server.addr);
    let out = run_tool(
        "ab",
        &["-k", "-n", "4000", "-c", "16", "-s", "10", &url],
        120,
    );
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name:?} in ab's output:\n{out}"))
    };
    assert_eq!(field("Complete requests:"), "4000", "{out}");
    assert_eq!(field("Failed requests:"), "0", "{out}");
    assert_eq!(field("Keep-Alive requests:"), "4000", "{out}");
}

/// Twenty clients ask for the 64 MiB file and hang up after a few KiB: the server goes on
/// serving, and its descriptors come back to what they were.
#[test]
fn serve_outlives_clients_that_hang_up_mid_body() {
    let dir = www();
    let server = start("serve", &[dir.path().to_str().unwrap(), "127.0.0.1:0"]);
    // One request first, so the baseline counts what the server keeps for good.
    let mut probe = TcpStream::connect(&server.addr).unwrap();
    probe
        .write_all(b"GET /one HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    probe.read_to_end(&mut reply).unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let baseline = server.settles_to(0, 2);
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let addr = server.addr.clone();
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(b"GET /m64 HTTP/1.1\r\n\r\n").unwrap();
                let mut buf = vec![0u8; 4096 * (1 + i % 4)];
                c.read_exact(&mut buf).unwrap();
                // Gone, with 64 MiB still to come.
                let _ = c.shutdown(Shutdown::Both);
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    let mut after = TcpStream::connect(&server.addr).unwrap();
    after.write_all(b"GET /k4097 HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    after.read_to_end(&mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200"), "still serving");
    assert!(reply.ends_with(&pattern(4097, 4097)), "the whole body");
    let fds = server.settles_to(baseline, 10);
    assert!(
        fds <= baseline,
        "server descriptors {fds}, baseline {baseline}"
    );
}

/// nginx on a port of its own with sendfile on, serving `root`; its prefix holds the config
/// and the logs.
fn nginx(root: &Path, prefix: &Path) -> (Running, u16) {
    let port = free_port();
    let conf = prefix.join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on;\n\
             client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fcgi;\n\
             uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; root {r}; }} }}\n",
            p = prefix.display(),
            r = root.display(),
        ),
    )
    .expect("nginx.conf");
    let prog = if have_program("nginx") {
        "nginx"
    } else {
        "/usr/sbin/nginx"
    };
    let n = spawn_tool(
        prog,
        &["-c", conf.to_str().unwrap(), "-p", prefix.to_str().unwrap()],
    );
    wait_listening(port);
    (n, port)
}

fn have_nginx() -> bool {
    have_program("nginx") || Path::new("/usr/sbin/nginx").is_file()
}

/// For each proxy: `examples/proxy.rs` (threads) and `examples/tokio_proxy.rs`.
#[rstest]
fn proxy_to_nginx_matches_by_sha256_needs_nginx_curl(#[values("proxy", "tokio_proxy")] name: &str) {
    const TEST: &str = "proxy_to_nginx_matches_by_sha256_needs_nginx_curl";
    if !require(have_nginx(), TEST, "nginx") || !require(have_program("curl"), TEST, "curl") {
        return;
    }
    let dir = www();
    let prefix = scratch();
    let (_nginx, port) = nginx(dir.path(), prefix.path());
    let upstream = format!("127.0.0.1:{port}");
    let proxy = start(name, &["127.0.0.1:0", &upstream, "--quiet"]);
    let tmp = scratch();
    // The first connection leaves the relay pipe of its response in the proxy's pool: the
    // baseline. (A request, a few hundred bytes, takes recv and send, and no pipe.)
    let got = tmp.path().join("warm");
    assert_eq!(curl(&format!("http://{}/m1p7", proxy.addr), &got, &[]), 200);
    let baseline = proxy.settles_to(0, 1);
    downloads_match(&proxy.addr, dir.path(), tmp.path());
    let fds = proxy.settles_to(baseline, 10);
    assert!(
        fds <= baseline,
        "proxy descriptors {fds}, baseline {baseline}"
    );
}

/// A client sends, shuts down its write side and reads the echo: through the proxy to
/// `socat … EXEC:cat`, every byte comes back, and the proxy's descriptors come back too.
/// For each proxy: `examples/proxy.rs` (threads) and `examples/tokio_proxy.rs`.
#[rstest]
fn proxy_half_close_echo_needs_socat(#[values("proxy", "tokio_proxy")] name: &str) {
    if !require(
        have_program("socat"),
        "proxy_half_close_echo_needs_socat",
        "socat",
    ) {
        return;
    }
    let port = free_port();
    let listen = format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork");
    let _echo = spawn_tool("socat", &[&listen, "EXEC:cat"]);
    wait_listening(port);
    let proxy = start(
        name,
        &["127.0.0.1:0", &format!("127.0.0.1:{port}"), "--quiet"],
    );
    let idle = proxy.settles_to(0, 1);
    let mut baseline = 0;
    // The first round leaves its relay pipes in the proxy's pool: the baseline is taken after.
    // Its request direction fills a first read and takes a relay pipe; the echo, from socat's
    // 8 KiB writes, may or may not, so a later round may leave one pipe more.
    for (round, len) in [3 << 20, 1usize, 64 * 1024, 3 << 20]
        .into_iter()
        .enumerate()
    {
        let data = pattern(len, 7);
        let mut c = TcpStream::connect(&proxy.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut w = c.try_clone().unwrap();
        let sent = data.clone();
        let sender = thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut echo = Vec::new();
        c.read_to_end(&mut echo).expect("the echo to its end");
        sender.join().unwrap();
        assert_eq!(echo.len(), len, "echoed bytes of {len}");
        assert!(echo == data, "echo of {len} differs");
        if round == 0 {
            baseline = proxy.settles_to(0, 1);
        }
    }
    // At most the two pipes one connection holds at once (one a direction) stay pooled.
    let bound = (baseline + 2).min(idle + 4);
    let fds = proxy.settles_to(bound, 10);
    assert!(
        fds <= bound,
        "proxy descriptors {fds}: idle {idle}, after the first round {baseline}"
    );
}

/// For each proxy: `examples/proxy.rs` (threads) and `examples/tokio_proxy.rs`.
#[rstest]
fn proxy_carries_iperf3_needs_iperf3(#[values("proxy", "tokio_proxy")] name: &str) {
    if !require(
        have_program("iperf3"),
        "proxy_carries_iperf3_needs_iperf3",
        "iperf3",
    ) {
        return;
    }
    let port = free_port();
    let port_s = port.to_string();
    // Not one-off (-1): the probe that waits for the port would be its one session.
    let _server = spawn_tool("iperf3", &["-s", "-B", "127.0.0.1", "-p", &port_s]);
    wait_listening(port);
    let proxy = start(
        name,
        &["127.0.0.1:0", &format!("127.0.0.1:{port}"), "--quiet"],
    );
    let baseline = proxy.settles_to(0, 1);
    let (host, pport) = proxy.addr.rsplit_once(':').unwrap();
    let out = run_tool("iperf3", &["-c", host, "-p", pport, "-t", "3", "-J"], 60);
    let bits: f64 = out
        .split("\"sum_received\"")
        .nth(1)
        .and_then(|s| s.split("\"bits_per_second\":").nth(1))
        .and_then(|s| s.split([',', '\n', '}']).next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no received rate in iperf3's report:\n{out}"));
    assert!(bits > 0.0, "iperf3 moved nothing through the proxy");
    let gbit = bits / 1e9;
    eprintln!("iperf3 through {name}: {gbit:.2} Gbit/s");
    // iperf3's control and data connections ran at once: four directions, whose relay pipes
    // (two descriptors each) stay in the pool.
    let fds = proxy.settles_to(baseline + 8, 10);
    assert!(
        fds <= baseline + 8,
        "proxy descriptors {fds}, baseline {baseline} + 4 pooled pipes"
    );
}
