//! Reaching a server: the URL's hosts (`host=a,b`, or `postgres://a:5432,b:5432/db`)
//! as endpoints to try in turn, and the socket to one of them, with TCP
//! keepalives and a TCP user timeout, and the answer deadline of
//! [`stream`]. [`crate::tls`]'s `Target` runs the PostgreSQL start-up over
//! it, each host within the connect deadline, so that a host that hangs
//! costs that deadline and the next one is tried.
//!
//! The defaults below apply when the URL does not set the libpq parameter
//! of the same name (`connect_timeout`, `keepalives_idle`,
//! `keepalives_interval`, `keepalives_retries`, `tcp_user_timeout`); the
//! reasoning is in docs/operations.md (*Deadlines*).

mod stream;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;
use tokio_postgres::config::Host;

pub(crate) use stream::{Socket, Stream};

/// Per host: TCP connect, TLS, start-up and authentication, and the
/// read-write check. A server on the same network does all of it in well
/// under 100 ms; two hosts fit in ingest's 5 s request deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle time before the first keepalive probe (tokio-postgres and the
/// kernel default to two hours).
pub const KEEPALIVES_IDLE: Duration = Duration::from_secs(10);
/// Between keepalive probes.
pub const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered probes before the kernel drops the connection.
pub const KEEPALIVES_RETRIES: u32 = 3;
/// Longest time sent data may stay unacknowledged before the kernel drops
/// the connection (and, with keepalives, longest silence of an idle one).
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(15);
/// tokio-postgres's own keepalive idle default: the URL did not set it.
const UNSET_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// One host to try: where to connect, and the name TLS checks.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    host: Host,
    addr: Option<IpAddr>,
    port: u16,
}

impl Endpoint {
    /// The name the server's certificate must carry (empty for a socket
    /// directory or a bare `hostaddr`).
    pub(crate) fn tls_name(&self) -> &str {
        match &self.host {
            Host::Tcp(h) => h,
            #[cfg(unix)]
            Host::Unix(_) => "",
        }
    }
}

impl Endpoint {
    /// Puts this endpoint into `pg` (which has none yet).
    pub(crate) fn configure(&self, pg: &mut tokio_postgres::Config) {
        match &self.host {
            Host::Tcp(h) => {
                pg.host(h);
            }
            #[cfg(unix)]
            Host::Unix(p) => {
                pg.host_path(p);
            }
        }
        if let Some(a) = self.addr {
            pg.hostaddr(a);
        }
        pg.port(self.port);
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.addr) {
            (Host::Tcp(h), None) if h.contains(':') => write!(f, "[{h}]:{}", self.port),
            (Host::Tcp(h), None) => write!(f, "{h}:{}", self.port),
            (Host::Tcp(h), Some(a)) => write!(f, "{h} ({a}):{}", self.port),
            #[cfg(unix)]
            (Host::Unix(p), _) => write!(f, "{}/.s.PGSQL.{}", p.display(), self.port),
        }
    }
}

/// The endpoints of `pg`, in the URL's order (as libpq and tokio-postgres
/// number them: `host` and `hostaddr` pair up; one port serves all).
/// Returns them, or why the lists do not match.
pub(crate) fn endpoints(pg: &tokio_postgres::Config) -> Result<Vec<Endpoint>, String> {
    let hosts = pg.get_hosts();
    let addrs = pg.get_hostaddrs();
    let ports = pg.get_ports();
    let n = hosts.len().max(addrs.len());
    if n == 0 {
        return Ok(vec![Endpoint {
            host: Host::Tcp("localhost".into()),
            addr: None,
            port: ports.first().copied().unwrap_or(5432),
        }]);
    }
    if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
        return Err(format!(
            "{} hosts but {} hostaddrs: give one address per host",
            hosts.len(),
            addrs.len()
        ));
    }
    if ports.len() > 1 && ports.len() != n {
        return Err(format!(
            "{n} hosts but {} ports: give one port, or one per host",
            ports.len()
        ));
    }
    Ok((0..n)
        .map(|i| {
            let addr = addrs.get(i).copied();
            Endpoint {
                host: hosts
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| Host::Tcp(addr.map(|a| a.to_string()).unwrap_or_default())),
                addr,
                port: ports.get(i).or(ports.first()).copied().unwrap_or(5432),
            }
        })
        .collect())
}

/// Keepalive probes: idle time before the first, time between them, and
/// how many go unanswered before the connection is dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Keepalive {
    idle: Duration,
    interval: Duration,
    retries: u32,
}

/// How sockets are set up: TCP keepalives and user timeout (TCP only).
#[derive(Debug, Clone)]
pub(crate) struct SocketOptions {
    keepalive: Option<Keepalive>,
    user_timeout: Duration,
}

impl SocketOptions {
    /// The URL's settings, with the defaults above where it has none
    /// (`keepalives=0` turns keepalives off). tokio-postgres reads
    /// `tcp_user_timeout` in seconds (libpq: milliseconds) and ignores 0.
    pub(crate) fn of(pg: &tokio_postgres::Config) -> SocketOptions {
        let keepalive = pg.get_keepalives().then(|| {
            let idle = match pg.get_keepalives_idle() {
                UNSET_KEEPALIVES_IDLE => KEEPALIVES_IDLE,
                idle => idle,
            };
            Keepalive {
                idle,
                interval: pg.get_keepalives_interval().unwrap_or(KEEPALIVES_INTERVAL),
                retries: pg.get_keepalives_retries().unwrap_or(KEEPALIVES_RETRIES),
            }
        });
        let user_timeout = pg
            .get_tcp_user_timeout()
            .copied()
            .unwrap_or(TCP_USER_TIMEOUT);
        SocketOptions {
            keepalive,
            user_timeout,
        }
    }

    /// Puts these settings into `pg`, for a socket tokio-postgres opens.
    pub(crate) fn configure(&self, pg: &mut tokio_postgres::Config) {
        pg.tcp_user_timeout(self.user_timeout);
        match self.keepalive {
            None => {
                pg.keepalives(false);
            }
            Some(k) => {
                pg.keepalives(true)
                    .keepalives_idle(k.idle)
                    .keepalives_interval(k.interval)
                    .keepalives_retries(k.retries);
            }
        }
    }
}

/// Opens a socket to `ep` (every address its name resolves to, in turn)
/// with `opts`, reads failing after `answer` without one (see [`stream`]).
/// No deadline of its own: the caller bounds the whole attempt.
pub(crate) async fn open(
    ep: &Endpoint,
    opts: &SocketOptions,
    answer: Option<Duration>,
) -> io::Result<Stream> {
    let socket = match (&ep.host, ep.addr) {
        (_, Some(addr)) => Socket::Tcp(tcp(&[SocketAddr::new(addr, ep.port)], opts).await?),
        (Host::Tcp(name), None) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), ep.port))
                .await?
                .collect();
            Socket::Tcp(tcp(&addrs, opts).await?)
        }
        #[cfg(unix)]
        (Host::Unix(dir), None) => Socket::Unix(
            tokio::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{}", ep.port))).await?,
        ),
    };
    Ok(Stream::new(socket, answer))
}

/// Connects to the first of `addrs` that accepts, set up with `opts`.
async fn tcp(addrs: &[SocketAddr], opts: &SocketOptions) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the name resolved to no address",
    );
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                s.set_nodelay(true)?;
                let sock = SockRef::from(&s);
                if let Some(k) = &opts.keepalive {
                    sock.set_tcp_keepalive(
                        &TcpKeepalive::new()
                            .with_time(k.idle)
                            .with_interval(k.interval)
                            .with_retries(k.retries),
                    )?;
                }
                #[cfg(target_os = "linux")]
                sock.set_tcp_user_timeout(Some(opts.user_timeout))?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> tokio_postgres::Config {
        url.parse().expect("a URL tokio-postgres reads")
    }

    #[test]
    fn hosts_in_the_urls_order_with_their_ports() {
        let e = endpoints(&pg("postgres://u@a:5433,b:5434/x")).expect("two hosts");
        let names: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(names, ["a:5433", "b:5434"]);
        let e = endpoints(&pg("host=a,b port=6000 dbname=x")).expect("one port");
        let names: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(names, ["a:6000", "b:6000"]);
        assert_eq!(e[1].tls_name(), "b");
        let e = endpoints(&pg("host=db.example hostaddr=10.0.0.7 dbname=x")).expect("addr");
        assert_eq!(e[0].to_string(), "db.example (10.0.0.7):5432");
        assert_eq!(e[0].tls_name(), "db.example");
        assert!(endpoints(&pg("host=a,b,c port=1,2 dbname=x")).is_err());
    }

    #[test]
    fn socket_defaults_unless_the_url_sets_them() {
        let o = SocketOptions::of(&pg("postgres://u@a/x"));
        assert_eq!(o.user_timeout, TCP_USER_TIMEOUT);
        assert!(o.keepalive.is_some());
        let o = SocketOptions::of(&pg("postgres://u@a/x?keepalives=0"));
        assert!(o.keepalive.is_none());
        let o = SocketOptions::of(&pg("postgres://u@a/x?tcp_user_timeout=30"));
        assert_eq!(o.user_timeout, Duration::from_secs(30));
    }
}
