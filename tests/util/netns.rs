//! Two network namespaces joined by a veth pair, with one NIC offload condition set by
//! `ethtool -K` on both ends. Made with iproute2, torn down on drop (also when a test panics),
//! named after the process id and a counter so parallel tests and processes never collide.
//!
//! Sockets are made on short-lived threads that `setns` into a namespace; once made they work
//! from any thread.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::thread;
use std::time::Duration;

/// The address of the listening side, in namespace `a`.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);
/// The address of the connecting side, in namespace `b`.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 2);

/// Namespaces of this harness start with this, then `PID-N-a|b`.
const PREFIX: &str = "iocm-";

/// An offload condition of both veth ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nic {
    /// The veth defaults: scatter-gather, TSO, GSO and checksum offload on.
    SgOn,
    /// `sg off` (which also turns TSO and GSO off).
    SgOff,
    /// `tso off`.
    TsoOff,
    /// `gso off`.
    GsoOff,
    /// `tx off`: no transmit checksum offload.
    TxOff,
    /// Everything above off.
    AllOff,
}

impl Nic {
    pub const ALL: [Nic; 6] = [
        Nic::SgOn,
        Nic::SgOff,
        Nic::TsoOff,
        Nic::GsoOff,
        Nic::TxOff,
        Nic::AllOff,
    ];

    /// The `ethtool -K DEV ...` arguments.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Nic::SgOn => &[],
            Nic::SgOff => &["sg", "off"],
            Nic::TsoOff => &["tso", "off"],
            Nic::GsoOff => &["gso", "off"],
            Nic::TxOff => &["tx", "off"],
            Nic::AllOff => &["sg", "off", "tso", "off", "gso", "off", "tx", "off"],
        }
    }

    /// What `ethtool -k` must show afterwards.
    fn shows(self) -> &'static [&'static str] {
        match self {
            Nic::SgOn => &["scatter-gather: on"],
            Nic::SgOff => &["scatter-gather: off"],
            Nic::TsoOff => &["tcp-segmentation-offload: off"],
            Nic::GsoOff => &["generic-segmentation-offload: off"],
            Nic::TxOff => &["tx-checksumming: off"],
            Nic::AllOff => &[
                "scatter-gather: off",
                "tcp-segmentation-offload: off",
                "generic-segmentation-offload: off",
                "tx-checksumming: off",
            ],
        }
    }
}

/// Why veth pairs cannot be made here, or `None` if they can.
pub fn unavailable() -> Option<String> {
    if !super::is_root() {
        return Some("root (CAP_NET_ADMIN and CAP_SYS_ADMIN for namespaces)".into());
    }
    let ip = Command::new("ip").arg("-V").output();
    if !ip.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("iproute2")) {
        return Some("iproute2's ip (busybox ip has no netns)".into());
    }
    if !super::have_program("ethtool") {
        return Some("ethtool".into());
    }
    None
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Deletes namespaces left by processes of this harness that died without dropping them.
fn sweep_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(dir) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(PREFIX)
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = run(&["ip", "netns", "del", &name]);
            }
        }
    });
}

/// Two namespaces `a` and `b` with a veth pair between them: `a` has [`SERVER`], `b` has
/// [`CLIENT`].
pub struct Veth {
    nic: Nic,
    ns: [String; 2],
    dev: [String; 2],
    made: Vec<String>,
}

impl Veth {
    /// Makes the namespaces and the pair and sets `nic` on both ends.
    pub fn new(nic: Nic) -> Result<Veth, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        sweep_stale();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let ns = [0, 1].map(|i| format!("{PREFIX}{pid}-{n}-{}", ["a", "b"][i]));
        // IFNAMSIZ is 16: "vm" + 7 pid digits + "x" + counter + side stays within 15.
        let dev = [0, 1].map(|i| format!("vm{pid}x{n}{}", ["a", "b"][i]));
        let mut v = Veth {
            nic,
            ns,
            dev,
            made: Vec::new(),
        };
        for ns in v.ns.clone() {
            run(&["ip", "netns", "add", &ns])?;
            v.made.push(ns);
        }
        let (ns, dev) = (&v.ns, &v.dev);
        run(&[
            "ip", "link", "add", &dev[0], "netns", &ns[0], "type", "veth", "peer", "name", &dev[1],
            "netns", &ns[1],
        ])?;
        for (i, addr) in [SERVER, CLIENT].into_iter().enumerate() {
            let cidr = format!("{addr}/24");
            run(&["ip", "-n", &ns[i], "addr", "add", &cidr, "dev", &dev[i]])?;
            run(&["ip", "-n", &ns[i], "link", "set", &dev[i], "up"])?;
            run(&["ip", "-n", &ns[i], "link", "set", "lo", "up"])?;
            if !nic.features().is_empty() {
                let mut args = vec!["ip", "netns", "exec", &ns[i], "ethtool", "-K", &dev[i]];
                args.extend(nic.features());
                run(&args)?;
            }
            let shown = run(&["ip", "netns", "exec", &ns[i], "ethtool", "-k", &dev[i]])?;
            for want in nic.shows() {
                if !shown.lines().any(|l| l.starts_with(want)) {
                    return Err(format!(
                        "{}: {nic:?} did not take: {want}:\n{shown}",
                        dev[i]
                    ));
                }
            }
        }
        Ok(v)
    }

    pub fn nic(&self) -> Nic {
        self.nic
    }

    /// A connected TCP pair across the veth: the client end (made in `b`) and the server end
    /// (accepted in `a`).
    pub fn tcp_pair(&self) -> io::Result<(TcpStream, TcpStream)> {
        let listener = in_netns(&self.ns[0], || TcpListener::bind((SERVER, 0)))??;
        let addr: SocketAddr = listener.local_addr()?;
        let client = in_netns(&self.ns[1], || {
            // The link may take a moment to come up after `ip link set up`.
            let mut tries = 0;
            loop {
                match TcpStream::connect(addr) {
                    Ok(s) => return Ok(s),
                    Err(e) if tries < 50 => {
                        tries += 1;
                        let _ = e;
                        thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => return Err(e),
                }
            }
        })??;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end inside it, and with it the pair.
        for ns in self.made.drain(..) {
            if let Err(e) = run(&["ip", "netns", "del", &ns]) {
                eprintln!("netns cleanup: {e}");
            }
        }
    }
}

/// Runs `f` on a new thread inside the network namespace `ns`.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    let handle = File::open(format!("/run/netns/{ns}"))?;
    thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&handle, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
            Ok(f())
        })
        .join()
        .expect("netns thread panicked")
    })
}

/// The veth pair of `nic`, shared by the tests that run at the same time and torn down when
/// the last of them drops it.
pub fn shared(nic: Nic) -> Result<Arc<Veth>, String> {
    static LIVE: Mutex<Vec<Weak<Veth>>> = Mutex::new(Vec::new());
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|w| w.strong_count() > 0);
    if let Some(v) = live.iter().filter_map(Weak::upgrade).find(|v| v.nic == nic) {
        return Ok(v);
    }
    let v = Arc::new(Veth::new(nic)?);
    live.push(Arc::downgrade(&v));
    Ok(v)
}
