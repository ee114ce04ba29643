//! An async TCP proxy on io_copy's tokio support: one task per connection running
//! `io_copy::tokio::copy_bidirectional_with` (splice through a pooled pipe on Linux once a read
//! comes back full, `recv`/`send` before), with half-close and per-connection counts.
//!
//! ```text
//! cargo run --release --example tokio_proxy -- LISTEN UPSTREAM          # e.g. 127.0.0.1:9000 127.0.0.1:80
//! cargo run --release --example tokio_proxy -- LISTEN UPSTREAM --tokio  # tokio::io::copy_bidirectional, for comparison
//! cargo run --release --example tokio_proxy -- LISTEN UPSTREAM --quiet  # no line per connection
//! cargo run --release --example tokio_proxy -- LISTEN UPSTREAM --threads 2  # a multi-thread runtime
//! ```
//!
//! It prints `listening on ADDR` once bound (port 0 picks a free one). The runtime is
//! current-thread unless `--threads N` asks for N workers. When one direction ends, the proxy
//! shuts down the write side of the other end and the other direction goes on, as tokio's
//! `copy_bidirectional` does. When a direction fails (a reset), the connection is dropped,
//! which closes both sockets. On close each connection prints one line on stderr: the bytes
//! each way, the path that moved most of them, and any error with the counts it kept.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use io_copy::{Copier, Report};
use tokio::net::{TcpListener, TcpStream};

struct Options {
    listen: String,
    upstream: String,
    use_tokio: bool,
    quiet: bool,
    threads: usize,
}

fn options() -> Options {
    let usage = |why: &str| -> ! {
        eprintln!("tokio_proxy: {why}");
        eprintln!("usage: tokio_proxy LISTEN UPSTREAM [--tokio] [--quiet] [--threads N]");
        std::process::exit(2)
    };
    let mut positional = Vec::new();
    let (mut use_tokio, mut quiet, mut threads) = (false, false, 0);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tokio" => use_tokio = true,
            "--quiet" => quiet = true,
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage("--threads takes a count of workers above 0"));
            }
            _ if a.starts_with("--") => usage(&format!("unknown option {a}")),
            _ => positional.push(a),
        }
    }
    let [listen, upstream] = <[String; 2]>::try_from(positional)
        .unwrap_or_else(|_| usage("LISTEN and UPSTREAM are needed"));
    Options {
        listen,
        upstream,
        use_tokio,
        quiet,
        threads,
    }
}

fn main() {
    let opts = options();
    let runtime = match opts.threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .unwrap_or_else(|e| {
        eprintln!("tokio_proxy: cannot start the runtime: {e}");
        std::process::exit(1)
    });
    runtime.block_on(serve(opts));
}

async fn serve(opts: Options) {
    let listener = TcpListener::bind(&opts.listen).await.unwrap_or_else(|e| {
        eprintln!("tokio_proxy: cannot listen on {}: {e}", opts.listen);
        std::process::exit(2)
    });
    println!(
        "listening on {}",
        listener.local_addr().expect("bound address")
    );
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loop {
        // An accept error (out of descriptors, a connection reset before accept) ends one
        // attempt, not the proxy.
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let upstream = opts.upstream.clone();
        let (use_tokio, quiet) = (opts.use_tokio, opts.quiet);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let line = match relay(client, &upstream, use_tokio).await {
                Ok(line) => line,
                Err(e) => format!("upstream {upstream}: {e}"),
            };
            if !quiet {
                eprintln!("conn {id}: {line}");
            }
        });
    }
}

/// Relays between `client` and a new connection to `upstream` until both directions end or
/// one fails; returns the connection's line.
async fn relay(mut client: TcpStream, upstream: &str, use_tokio: bool) -> io::Result<String> {
    let mut server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    if use_tokio {
        return Ok(
            match tokio::io::copy_bidirectional(&mut client, &mut server).await {
                Ok((up, down)) => format!("up {up} bytes (tokio), down {down} bytes (tokio)"),
                // tokio's counts are lost with its error.
                Err(e) => format!("tokio: {e}"),
            },
        );
    }
    let show = |r: &Report| {
        let path = r.main_path().map_or("-", |p| p.name());
        format!("{} bytes ({path})", r.written())
    };
    Ok(
        match io_copy::tokio::copy_bidirectional_with(&Copier::new(), &mut client, &mut server)
            .await
        {
            Ok((up, down)) => format!("up {}, down {}", show(&up), show(&down)),
            Err(e) => format!(
                "up {}, down {}, then {} ({})",
                show(&e.a_to_b),
                show(&e.b_to_a),
                e.error,
                if e.a_to_b_failed { "up" } else { "down" }
            ),
        },
    )
}
