//! A blocking TCP proxy on io_copy: two threads per connection, each copying one direction
//! (splice through a pooled pipe on Linux), with half-close and per-connection counts.
//!
//! ```text
//! cargo run --release --example proxy -- LISTEN UPSTREAM          # e.g. 127.0.0.1:9000 127.0.0.1:80
//! cargo run --release --example proxy -- LISTEN UPSTREAM --std    # std::io::copy, for comparison
//! cargo run --release --example proxy -- LISTEN UPSTREAM --quiet  # no line per connection
//! ```
//!
//! It prints `listening on ADDR` once bound (port 0 picks a free one). When one direction ends
//! (its source reached end of stream), the proxy shuts down the write side of the other end, so
//! the peer sees the end too and the other direction goes on: a client that sends a request,
//! shuts down its writing and reads the reply gets all of it. When a direction fails (a reset),
//! both sockets are shut down so the other thread ends too. On close each connection prints one
//! line on stderr: the bytes each way, the path that moved most of them, and any error.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use io_copy::{Copier, CopyError};

fn main() {
    let mut positional = Vec::new();
    let (mut use_std, mut quiet) = (false, false);
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--std" => use_std = true,
            "--quiet" => quiet = true,
            _ => positional.push(a),
        }
    }
    let [listen, upstream] = positional.as_slice() else {
        eprintln!("usage: proxy LISTEN UPSTREAM [--std] [--quiet]");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(listen).unwrap_or_else(|e| {
        eprintln!("proxy: cannot listen on {listen}: {e}");
        std::process::exit(2)
    });
    println!(
        "listening on {}",
        listener.local_addr().expect("bound address")
    );
    static NEXT: AtomicU64 = AtomicU64::new(1);
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let upstream = upstream.clone();
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        thread::spawn(move || {
            let line = match relay(client, &upstream, use_std) {
                Ok(line) => line,
                Err(e) => format!("upstream {upstream}: {e}"),
            };
            if !quiet {
                eprintln!("conn {id}: {line}");
            }
        });
    }
}

/// What one direction did: its count, the path of most of its bytes, and its error.
struct Direction {
    bytes: u64,
    path: &'static str,
    error: Option<io::Error>,
}

/// Relays between `client` and a new connection to `upstream` until both directions end.
fn relay(client: TcpStream, upstream: &str, use_std: bool) -> io::Result<String> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (c2, s2) = (client.try_clone()?, server.try_clone()?);
    let up = thread::spawn(move || one_way(c2, s2, use_std));
    let down = one_way(server, client, use_std);
    let up = up.join().expect("the client→upstream thread");
    let show = |d: &Direction| match &d.error {
        None => format!("{} bytes ({})", d.bytes, d.path),
        Some(e) => format!("{} bytes ({}), then {e}", d.bytes, d.path),
    };
    Ok(format!("up {}, down {}", show(&up), show(&down)))
}

/// Copies `from` into `to` to the end of `from`, then shuts down the write side of `to`; on an
/// error, shuts both down so the other direction ends too.
fn one_way(mut from: TcpStream, mut to: TcpStream, use_std: bool) -> Direction {
    let path = |r: &io_copy::Report| r.main_path().map_or("-", |p| p.name());
    let (bytes, path, error) = if use_std {
        match io::copy(&mut from, &mut to) {
            Ok(n) => (n, "std", None),
            // std's count is lost with its error.
            Err(e) => (0, "std", Some(e)),
        }
    } else {
        match Copier::new().copy(&mut from, &mut to) {
            Ok(r) => (r.written(), path(&r), None),
            Err(e) => {
                let (bytes, p) = (e.written(), path(e.report()));
                (bytes, p, Some(CopyError::into_parts(e).0))
            }
        }
    };
    if error.is_none() {
        let _ = to.shutdown(Shutdown::Write);
    } else {
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    }
    Direction { bytes, path, error }
}
