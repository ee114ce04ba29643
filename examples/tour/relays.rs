//! Relays on tokio: `io_copy::tokio` against `tokio::io::copy`, `tokio::io::copy_bidirectional`
//! and tokio-splice2, over loopback TCP and Unix sockets.
//!
//! The relay runs in this process on a `current_thread` runtime, so the copying thread is the
//! whole relay; its ends are far ends in separate processes (`pairs.rs`), the same program for
//! every contender. Three shapes:
//!
//! - **stream**: one connection in, one out, kept open; each copy moves exactly `n` bytes with
//!   `AsyncReadExt::take`, as a relay of a framed stream does. tokio-splice2 has no place here:
//!   its copy shuts its sink down when it reaches its length.
//! - **conn**: a connection per copy, as a proxy takes them: the relay accepts the client's
//!   connection, connects to the server, and copies client → server to the end of the stream
//!   (`copy`), then closes both.
//! - **bidi**: the same, with `copy_bidirectional` on the two connections: it ends when the
//!   client has shut its write half, the server has read the end and closed, and the relay has
//!   passed that end back to the client.
//!
//! Timed: the copy call alone (accepting and connecting are not). CPU: `getrusage(RUSAGE_SELF)`
//! around each copy call, per GiB relayed. Samples are interleaved per round, as in the rest of
//! the tour; each contender's first copy in a cell is checked at the server (length and
//! checksum), and every copy's count.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use io_copy::tokio::{AsyncReaderFrom, AsyncWriterTo};
use io_copy::Copier;
use nix::sys::resource::{getrusage, UsageWho};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::pairs::{checksum, pattern, tcp_pair, Far, FarEnd, KIB, MIB};
use crate::table::{gib_s, size_name, Progress};
use crate::timing::{self, median, Tally};

/// The sizes of the table.
const SIZES: [u64; 3] = [4 * KIB, MIB, 64 * MIB];

/// At most this many connections per sample in the shapes that take a connection per copy.
const MAX_CONNECTIONS: u64 = 256;

/// How long one sample may take before the relay gives up on the cell.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Stream,
    Conn,
    Bidi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    Tcp,
    Unix,
}

/// The contenders, in the order of the table's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    IoCopy,
    Tokio,
    Splice2,
}

const WHO: [Who; 3] = [Who::IoCopy, Who::Tokio, Who::Splice2];

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Stream => "stream copy",
            Shape::Conn => "conn copy",
            Shape::Bidi => "conn bidi",
        }
    }

    fn contenders(self) -> &'static [Who] {
        match self {
            Shape::Stream => &WHO[..2],
            _ => &WHO,
        }
    }
}

impl Net {
    fn name(self) -> &'static str {
        match self {
            Net::Tcp => "TCP",
            Net::Unix => "Unix",
        }
    }
}

/// One cell as one tour measured it: per contender (in [`WHO`]'s order) median seconds and CPU
/// seconds per copy, `None` where the contender has no place or failed.
#[derive(Clone)]
pub struct Cell {
    pub shape: Shape,
    pub net: Net,
    pub n: u64,
    pub path: String,
    pub calls: String,
    pub secs: [Option<f64>; 3],
    pub cpu: [Option<f64>; 3],
}

/// A socket type every contender can relay.
trait Stream:
    AsyncRead
    + AsyncWrite
    + AsyncWriterTo
    + AsyncReaderFrom
    + tokio_splice2::AsyncReadFd
    + tokio_splice2::AsyncWriteFd
    + tokio_splice2::IsNotFile
    + AsFd
    + Unpin
{
}
impl Stream for TcpStream {}
impl Stream for UnixStream {}

/// Where the relay takes its connections from and where it connects them to.
trait Transport {
    type S: Stream;
    fn accept(&self) -> impl Future<Output = io::Result<Self::S>>;
    fn connect(&self) -> impl Future<Output = io::Result<Self::S>>;
}

struct TcpNet {
    listener: TcpListener,
    upstream: SocketAddr,
}

impl Transport for TcpNet {
    type S = TcpStream;
    async fn accept(&self) -> io::Result<TcpStream> {
        let (s, _) = self.listener.accept().await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
    async fn connect(&self) -> io::Result<TcpStream> {
        let s = TcpStream::connect(self.upstream).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

struct UnixNet {
    listener: UnixListener,
    upstream: PathBuf,
}

impl Transport for UnixNet {
    type S = UnixStream;
    async fn accept(&self) -> io::Result<UnixStream> {
        Ok(self.listener.accept().await?.0)
    }
    async fn connect(&self) -> io::Result<UnixStream> {
        UnixStream::connect(&self.upstream).await
    }
}

fn process_cpu() -> f64 {
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let s = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 * 1e-6;
    s(u.user_time()) + s(u.system_time())
}

/// What one sample of a contender took: seconds and CPU seconds in the copy calls.
#[derive(Default)]
struct Spent {
    secs: f64,
    cpu: f64,
}

impl Spent {
    async fn time<T>(&mut self, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        let c0 = process_cpu();
        let t0 = Instant::now();
        let r = f.await;
        self.secs += t0.elapsed().as_secs_f64();
        self.cpu += process_cpu() - c0;
        r
    }
}

fn short(what: &str, got: u64, want: u64) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: {got} bytes, want {want}"
        )))
    }
}

fn splice2_count(r: tokio_splice2::traffic::TrafficResult) -> io::Result<u64> {
    Ok(r.into_result()?.tx as u64)
}

/// One copy of `n` bytes from `a` to `b` by `who` on an open stream; `tally` gets io_copy's
/// report.
async fn stream_copy<S: Stream>(
    who: Who,
    a: &mut S,
    b: &mut S,
    n: u64,
    spent: &mut Spent,
    tally: &mut Tally,
) -> io::Result<()> {
    let got = match who {
        Who::IoCopy => {
            let report = spent
                .time(async {
                    io_copy::tokio::copy_with(&Copier::new(), &mut (&mut *a).take(n), b)
                        .await
                        .map_err(io::Error::from)
                })
                .await?;
            tally.add_report(&report);
            report.written()
        }
        Who::Tokio => {
            spent
                .time(tokio::io::copy(&mut (&mut *a).take(n), b))
                .await?
        }
        Who::Splice2 => unreachable!("tokio-splice2 has no stream shape"),
    };
    short("the copy", got, n)
}

/// One connection relayed by `who`: accepted, connected upstream, copied.
async fn conn_copy<T: Transport>(
    t: &T,
    shape: Shape,
    who: Who,
    n: u64,
    spent: &mut Spent,
    tally: &mut Tally,
) -> io::Result<()> {
    let mut client = t.accept().await?;
    let mut server = t.connect().await?;
    let (c, s) = (&mut client, &mut server);
    let (up, down) = match (shape, who) {
        (Shape::Conn, Who::IoCopy) => {
            let report = spent
                .time(async {
                    io_copy::tokio::copy_with(&Copier::new(), c, s)
                        .await
                        .map_err(io::Error::from)
                })
                .await?;
            tally.add_report(&report);
            (report.written(), 0)
        }
        (Shape::Conn, Who::Tokio) => (spent.time(tokio::io::copy(c, s)).await?, 0),
        (Shape::Conn, Who::Splice2) => {
            let r = spent
                .time(async { tokio_splice2::copy(c, s).await })
                .await?;
            (splice2_count(r)?, 0)
        }
        (Shape::Bidi, Who::IoCopy) => {
            let (ab, ba) = spent
                .time(async {
                    io_copy::tokio::copy_bidirectional_with(&Copier::new(), c, s)
                        .await
                        .map_err(io::Error::from)
                })
                .await?;
            tally.add_report(&ab);
            (ab.written(), ba.written())
        }
        (Shape::Bidi, Who::Tokio) => spent.time(tokio::io::copy_bidirectional(c, s)).await?,
        (Shape::Bidi, Who::Splice2) => {
            let r = spent
                .time(async { tokio_splice2::copy_bidirectional(c, s).await })
                .await?
                .into_result()?;
            (r.tx as u64, r.rx as u64)
        }
        (Shape::Stream, _) => unreachable!("a stream is not a connection per copy"),
    };
    short("client → server", up, n)?;
    short("server → client", down, 0)
}

/// A cell's relay and far ends.
enum Ends {
    Stream {
        feeder: FarEnd,
        drainer: FarEnd,
    },
    Conn {
        client: FarEnd,
        server: FarEnd,
        /// The Unix socket paths to remove.
        paths: Vec<PathBuf>,
    },
}

impl Drop for Ends {
    fn drop(&mut self) {
        if let Ends::Conn { paths, .. } = self {
            for p in paths {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// A far end's copy of a socket's descriptor.
fn dup(fd: &impl AsFd) -> io::Result<OwnedFd> {
    fd.as_fd().try_clone_to_owned()
}

fn unix_path(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("io_copy-tour-{}-{what}.sock", std::process::id()))
}

/// A sample's work: `copies` copies of `n` bytes, the far end's checksum checked or not.
#[derive(Clone, Copy)]
struct Job {
    n: u64,
    copies: u64,
    verify: bool,
}

/// Runs a job of one contender on a stream pair.
async fn stream_sample<S: Stream>(
    who: Who,
    (a, b): &mut (S, S),
    (feeder, drainer): (&mut FarEnd, &mut FarEnd),
    Job { n, copies, verify }: Job,
    tally: &mut Tally,
) -> io::Result<Spent> {
    let mut spent = Spent::default();
    feeder.feed(n * copies)?;
    drainer.expect(n * copies, verify)?;
    for _ in 0..copies {
        stream_copy(who, a, b, n, &mut spent, tally).await?;
    }
    check_far(drainer.wait()?, n * copies, verify, n)?;
    Ok(spent)
}

fn check_far((got, sum): (u64, u64), total: u64, verify: bool, n: u64) -> io::Result<()> {
    short("the far end", got, total)?;
    if verify && sum != checksum(&pattern()[..n as usize]) {
        return Err(io::Error::other("the far end's checksum differs"));
    }
    Ok(())
}

/// Runs a job of one contender, a connection a copy.
async fn conn_sample<T: Transport>(
    (t, shape): (&T, Shape),
    who: Who,
    (client, server): (&mut FarEnd, &mut FarEnd),
    Job { n, copies, verify }: Job,
    tally: &mut Tally,
) -> io::Result<Spent> {
    let mut spent = Spent::default();
    client.connect(n, copies)?;
    server.accept(n, copies, verify)?;
    for _ in 0..copies {
        conn_copy(t, shape, who, n, &mut spent, tally).await?;
    }
    check_far(server.wait()?, n * copies, verify, n)?;
    short("bytes back at the client", client.wait_client()?, 0)?;
    Ok(spent)
}

/// The relay's side of a cell, and a sample of it.
struct Relay {
    shape: Shape,
    n: u64,
    tcp_stream: Option<(TcpStream, TcpStream)>,
    unix_stream: Option<(UnixStream, UnixStream)>,
    tcp: Option<TcpNet>,
    unix: Option<UnixNet>,
    ends: Ends,
}

impl Relay {
    /// Sets a cell up; called inside the runtime.
    fn new(shape: Shape, net: Net, n: u64) -> io::Result<Relay> {
        let (mut tcp_stream, mut unix_stream, mut tcp, mut unix) = (None, None, None, None);
        let ends = match (shape, net) {
            (Shape::Stream, Net::Tcp) => {
                let (a_client, a_server) = tcp_pair()?;
                let (b_client, b_server) = tcp_pair()?;
                let feeder = FarEnd::feeder(a_client, Far::Process)?;
                let drainer = FarEnd::drainer(b_server, Far::Process)?;
                a_server.set_nonblocking(true)?;
                b_client.set_nonblocking(true)?;
                tcp_stream = Some((
                    TcpStream::from_std(a_server)?,
                    TcpStream::from_std(b_client)?,
                ));
                Ends::Stream { feeder, drainer }
            }
            (Shape::Stream, Net::Unix) => {
                let (a_client, a_server) = std::os::unix::net::UnixStream::pair()?;
                let (b_client, b_server) = std::os::unix::net::UnixStream::pair()?;
                let feeder = FarEnd::feeder(a_client, Far::Process)?;
                let drainer = FarEnd::drainer(b_server, Far::Process)?;
                a_server.set_nonblocking(true)?;
                b_client.set_nonblocking(true)?;
                unix_stream = Some((
                    UnixStream::from_std(a_server)?,
                    UnixStream::from_std(b_client)?,
                ));
                Ends::Stream { feeder, drainer }
            }
            (_, Net::Tcp) => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                let upstream = std::net::TcpListener::bind("127.0.0.1:0")?;
                let up_addr = upstream.local_addr()?;
                let client = FarEnd::client(dup(&listener)?, Far::Process)?;
                let server = FarEnd::server(upstream, Far::Process)?;
                listener.set_nonblocking(true)?;
                tcp = Some(TcpNet {
                    listener: TcpListener::from_std(listener)?,
                    upstream: up_addr,
                });
                Ends::Conn {
                    client,
                    server,
                    paths: Vec::new(),
                }
            }
            (_, Net::Unix) => {
                let (lp, up) = (unix_path("relay"), unix_path("server"));
                let _ = std::fs::remove_file(&lp);
                let _ = std::fs::remove_file(&up);
                let listener = std::os::unix::net::UnixListener::bind(&lp)?;
                let upstream = std::os::unix::net::UnixListener::bind(&up)?;
                let client = FarEnd::client(dup(&listener)?, Far::Process)?;
                let server = FarEnd::server(upstream, Far::Process)?;
                listener.set_nonblocking(true)?;
                unix = Some(UnixNet {
                    listener: UnixListener::from_std(listener)?,
                    upstream: up.clone(),
                });
                Ends::Conn {
                    client,
                    server,
                    paths: vec![lp, up],
                }
            }
        };
        Ok(Relay {
            shape,
            n,
            tcp_stream,
            unix_stream,
            tcp,
            unix,
            ends,
        })
    }

    async fn sample(
        &mut self,
        who: Who,
        copies: u64,
        verify: bool,
        tally: &mut Tally,
    ) -> io::Result<Spent> {
        let (shape, n) = (self.shape, self.n);
        let job = Job { n, copies, verify };
        match &mut self.ends {
            Ends::Stream {
                feeder, drainer, ..
            } => {
                if let Some(p) = &mut self.tcp_stream {
                    stream_sample(who, p, (feeder, drainer), job, tally).await
                } else if let Some(p) = &mut self.unix_stream {
                    stream_sample(who, p, (feeder, drainer), job, tally).await
                } else {
                    unreachable!("a stream cell has its streams")
                }
            }
            Ends::Conn { client, server, .. } => {
                if let Some(t) = &self.tcp {
                    conn_sample((t, shape), who, (client, server), job, tally).await
                } else if let Some(t) = &self.unix {
                    conn_sample((t, shape), who, (client, server), job, tally).await
                } else {
                    unreachable!("a connection cell has its listener")
                }
            }
        }
    }
}

async fn timed<T>(f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(SAMPLE_TIMEOUT, f)
        .await
        .map_err(|_| io::Error::other(format!("no answer within {SAMPLE_TIMEOUT:?}")))?
}

/// Measures one cell.
async fn cell(shape: Shape, net: Net, n: u64) -> io::Result<Cell> {
    let mut relay = Relay::new(shape, net, n)?;
    let contenders = shape.contenders();
    let mut tallies: Vec<Tally> = contenders.iter().map(|_| Tally::default()).collect();
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for &who in contenders {
        timed(relay.sample(who, 1, true, &mut Tally::default()))
            .await
            .map_err(|e| io::Error::other(format!("{who:?}'s checked copy: {e}")))?;
    }
    let copies = match shape {
        Shape::Stream => timing::copies(n),
        _ => timing::copies(n).min(MAX_CONNECTIONS),
    };
    for round in 0..timing::rounds(n) {
        for k in 0..contenders.len() {
            let i = (round + k) % contenders.len();
            let who = contenders[i];
            let spent = timed(relay.sample(who, copies, false, &mut tallies[i]))
                .await
                .map_err(|e| io::Error::other(format!("{who:?}: {e}")))?;
            secs[i].push(spent.secs / copies as f64);
            cpu[i].push(spent.cpu / copies as f64);
        }
    }
    let mut out = Cell {
        shape,
        net,
        n,
        path: tallies[0].path(),
        calls: tallies[0].calls_per_copy(),
        secs: [None; 3],
        cpu: [None; 3],
    };
    for (i, &who) in contenders.iter().enumerate() {
        let col = WHO.iter().position(|&w| w == who).expect("a contender");
        out.secs[col] = Some(median(&secs[i]));
        out.cpu[col] = Some(median(&cpu[i]));
    }
    Ok(out)
}

/// One tour of the table; a cell that fails is left out, with its reason in `problems`.
pub fn tour(progress: &Progress, label: &str, problems: &mut Vec<String>) -> Vec<(String, Cell)> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            problems.push(format!("tokio relays: no runtime: {e}"));
            return Vec::new();
        }
    };
    let mut cells = Vec::new();
    for shape in [Shape::Stream, Shape::Conn, Shape::Bidi] {
        for net in [Net::Tcp, Net::Unix] {
            for n in SIZES {
                let name = format!("tokio {} {} {}", net.name(), shape.name(), size_name(n));
                progress.show(&format!("{label}{name}"));
                match rt.block_on(cell(shape, net, n)) {
                    Ok(c) => cells.push((format!("{shape:?}/{net:?}/{n}"), c)),
                    Err(e) => problems.push(format!("{name}: {e}")),
                }
            }
        }
    }
    cells
}

/// Prints the table: each cell the median over the tours of throughputs and of ratios.
pub fn print(tours: &[Vec<Cell>]) {
    let Some(first) = tours.first() else {
        return;
    };
    println!("\ntokio relays: relay on a current_thread runtime in this process, client and server in separate processes; time = the copy call alone");
    println!("stream = one open connection, `take(n)` per copy; conn = a connection per copy, copy to its end; bidi = copy_bidirectional per connection");
    println!("CPU = the relaying process (getrusage RUSAGE_SELF) around the copy call, CPU-seconds per GiB relayed");
    println!(
        "{:<5} {:<11} {:>7}  {:<30} {:>6} | {:>7} {:>7} {:>7} {:>6} {:>6} | {:>6} {:>6} {:>6} {:>6} {:>6}",
        "net", "shape", "size", "io_copy path", "calls",
        "io", "tokio", "splice2", "io/tk", "io/sp2",
        "io", "tokio", "splic2", "io/tk", "io/sp2"
    );
    println!(
        "{:<5} {:<11} {:>7}  {:<30} {:>6} | {:>7} {:>7} {:>7} {:>6} {:>6} | {:>6} {:>6} {:>6} {:>6} {:>6}",
        "", "", "", "", "/copy", "GiB/s", "GiB/s", "GiB/s", "", "", "s/GiB", "s/GiB", "s/GiB", "", ""
    );
    for (i, c) in first.iter().enumerate() {
        let runs: Vec<&Cell> = tours.iter().filter_map(|t| t.get(i)).collect();
        let med = |f: &dyn Fn(&Cell) -> Option<f64>| {
            let v: Vec<f64> = runs.iter().filter_map(|c| f(c)).collect();
            (!v.is_empty()).then(|| median(&v))
        };
        let n = c.n;
        let per_gib = |cpu: f64| cpu / (n as f64 / (1u64 << 30) as f64);
        let opt = |x: Option<f64>, w: usize, p: usize| {
            x.map_or_else(|| format!("{:>w$}", "-"), |x| format!("{x:>w$.p$}"))
        };
        let gib = |k: usize| med(&|c: &Cell| c.secs[k].map(|s| gib_s(n, s)));
        let ratio = |k: usize| med(&|c: &Cell| Some(c.secs[k]? / c.secs[0]?));
        let cpu = |k: usize| med(&|c: &Cell| c.cpu[k].map(per_gib));
        let cpu_ratio = |k: usize| med(&|c: &Cell| Some(c.cpu[0]? / c.cpu[k]?));
        println!(
            "{:<5} {:<11} {:>7}  {:<30} {:>6} | {} {} {} {} {} | {} {} {} {} {}",
            c.net.name(),
            c.shape.name(),
            size_name(n),
            c.path,
            c.calls,
            opt(gib(0), 7, 2),
            opt(gib(1), 7, 2),
            opt(gib(2), 7, 2),
            opt(ratio(1), 6, 2),
            opt(ratio(2), 6, 2),
            opt(cpu(0), 6, 3),
            opt(cpu(1), 6, 3),
            opt(cpu(2), 6, 3),
            opt(cpu_ratio(1), 6, 2),
            opt(cpu_ratio(2), 6, 2),
        );
    }
    println!("io/tk, io/sp2 = io_copy's throughput over tokio's, tokio-splice2's (> 1: io_copy faster); CPU io/tk, io/sp2 = io_copy's CPU per GiB over theirs (< 1: io_copy spends less)");
}
