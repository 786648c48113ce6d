//! `worker`: runs the batch loop and the operator commands.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use diesel_async::AsyncPgConnection;
use domain::Provider;
use store::inbox::ReplayFilter;
use store::secrets::{KeyError, Keyring, KEY_VAR};
use store::sources::IpNet;
use telemetry::redact_url;
use tokio::sync::watch;
use worker::{render, Worker, WorkerConfig};

#[derive(Parser)]
#[command(
    name = "worker",
    version,
    about = "Switchboard worker and operator commands"
)]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    config: WorkerConfig,
    /// Claim loops in this process, each running its own batches on its own
    /// connection (concurrent batches claim disjoint events).
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Database connections held by this worker (plus one for LISTEN); at
    /// least --concurrency + 1 (one for maintenance and metrics).
    #[arg(long, env = "WORKER_POOL_SIZE", default_value_t = 3)]
    pool_size: usize,
    /// Poll only: no LISTEN connection (for poolers in transaction mode).
    #[arg(long, env = "WORKER_POLL_ONLY")]
    poll_only: bool,
    /// DATABASE_URL is a pooler in transaction mode (PgBouncer
    /// `pool_mode = transaction`): no statement stays prepared across
    /// transactions, and no LISTEN (implies --poll-only).
    #[arg(long, env = "DATABASE_TRANSACTION_POOLER")]
    transaction_pooler: bool,
    /// Serve /metrics and /healthz on this address (e.g. 0.0.0.0:9090); off when unset.
    #[arg(long, env = "WORKER_METRICS_BIND")]
    metrics_bind: Option<String>,
    /// On SIGTERM/SIGINT, how long the current batch may take to commit
    /// before the worker exits anyway (its transaction then rolls back).
    #[arg(long, env = "WORKER_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    shutdown_timeout: Duration,
}

#[derive(Subcommand)]
enum Cmd {
    /// Process events until SIGTERM/SIGINT.
    Run(RunArgs),
    /// Apply the database migrations (waiting for the database to come up).
    Migrate {
        /// How long to retry connecting before giving up.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
    /// Drain what is pending now, then exit.
    Process {
        /// Required: process once and exit (`worker run` keeps running).
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Inbox statistics: pending by source and type, lag, throughput,
    /// retrying and dead events with their latest errors, last event per source.
    Stats {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Exit with status 3 when more events than this are pending.
        #[arg(long)]
        max_pending: Option<i64>,
        /// Exit with status 3 when more events than this are dead.
        #[arg(long)]
        max_dead: Option<i64>,
    },
    /// Wait until the database has every migration this binary knows
    /// (exit 0), or fail after --timeout. Kubernetes runs it as the first
    /// step of every pod, so a new version's pods start only once the
    /// migrate Job has brought the schema up to them.
    WaitSchema {
        /// Longest wait, e.g. 30s, 10m.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Ask an HTTP endpoint, as a container health check does (the image
    /// has no curl): exit 0 when it answers 2xx within --timeout, 1
    /// otherwise. Needs no database.
    Probe {
        /// e.g. http://127.0.0.1:9091/readyz
        url: String,
        /// Longest wait for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Print the answer's body (e.g. a /metrics page).
        #[arg(long)]
        print: bool,
    },
    /// Wait until no event is pending (exit 0), or fail after --timeout.
    WaitIdle {
        /// Longest wait, e.g. 30s, 10m.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Delete processed events received before the (UTC) day of a cutoff,
    /// a whole day at a time.
    Prune {
        /// e.g. 30d, 12h.
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Duration,
        /// Also delete dead events that died before the cutoff.
        #[arg(long)]
        include_dead: bool,
    },
    /// Manage webhook sources.
    #[command(subcommand)]
    Source(SourceCmd),
    /// Re-queue dead events (by id, source, event type, or all of them).
    Replay {
        /// Event id; repeat for several.
        #[arg(long = "id")]
        ids: Vec<i64>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        event_type: Option<String>,
        /// Every dead event.
        #[arg(long, conflicts_with_all = ["ids", "source", "event_type"])]
        all: bool,
    },
    /// Manage the users of the browser board (passwords hashed with Argon2id).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage read-only API tokens for wallboards and CRMs (the board's
    /// `GET /api/extensions` and `GET /api/calls`; stored as SHA-256).
    #[command(subcommand)]
    Token(TokenCmd),
    /// List the actions operators took on calls from the board (hang-ups),
    /// newest first: who, when, which call and leg, the outcome and the
    /// phone system's answer.
    Audit {
        /// How many (newest first).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Machine-readable output (a JSON array).
        #[arg(long)]
        json: bool,
    },
    /// Print the extension board and the most recent calls.
    Board {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// First wait (at most this long) until no event is pending.
        #[arg(long, value_parser = humantime::parse_duration)]
        wait_idle: Option<Duration>,
    },
}

#[derive(Subcommand)]
enum SourceCmd {
    /// Create a source. Its signing secret(s) are read from stdin, one per
    /// line (or from --secret-file), never from the command line. Re-running
    /// it for an existing source adds the secrets not yet there.
    Add {
        /// Slug used in the URL: /webhooks/NAME.
        name: String,
        #[arg(long, value_parser = parse_provider)]
        provider: Provider,
        /// Read the secret(s) from this file, one per line, instead of stdin.
        #[arg(long, value_name = "PATH")]
        secret_file: Option<PathBuf>,
        /// Create the source WITHOUT a secret: anyone who knows the URL can
        /// post webhooks to it. Logged as a warning, shown by `source list`.
        #[arg(long, conflicts_with = "secret_file")]
        allow_unsigned: bool,
    },
    /// Add a secret to a source, read from stdin (one line) or --secret-file
    /// (rotation: add the new, switch the sender, then revoke the old or let
    /// it expire).
    AddSecret {
        name: String,
        /// Read the secret from this file instead of stdin.
        #[arg(long, value_name = "PATH")]
        secret_file: Option<PathBuf>,
        /// Every other active secret of the source expires this long from
        /// now (e.g. 24h, 30m): the sender has that long to switch.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expire_others_after: Option<Duration>,
    },
    /// Revoke a secret by its id (`source list` shows the ids). The last
    /// active secret of a source cannot be revoked: add the new one first.
    RevokeSecret { name: String, id: i64 },
    /// List sources and their secrets (id, length, a keyed fingerprint,
    /// creation and expiry; never any part of a secret).
    List,
    /// Restrict the senders of a source to these networks (CIDRs or
    /// addresses), or accept any sender again with --clear.
    SetNetworks {
        name: String,
        #[arg(value_name = "CIDR", required_unless_present = "clear", value_parser = parse_network)]
        networks: Vec<IpNet>,
        #[arg(long, conflicts_with = "networks")]
        clear: bool,
    },
    /// Re-seal every secret under the current SWITCHBOARD_SECRETS_KEY
    /// (after a key rotation, with the old key as
    /// SWITCHBOARD_SECRETS_KEY_PREVIOUS), plaintext ones included.
    Rekey,
    /// Seal the secrets still stored in plaintext (from before sealing);
    /// `worker migrate` does it too when the key is set.
    EncryptExisting,
    /// Set how the board reaches the source's phone system to hang up calls
    /// (replacing earlier settings). The credentials are read from stdin,
    /// never from the command line, and stored sealed: Yeastar: two lines,
    /// the OpenAPI client id then the client secret (PBX web portal:
    /// Integrations > API); Dialpad: one line, the API key.
    SetApi {
        name: String,
        /// The API's address: Yeastar: the PBX's web address, e.g.
        /// https://pbx.example.com:8088 (required); Dialpad: default
        /// https://dialpad.com.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
    /// Remove a source's API settings: the board can no longer hang up its calls.
    ClearApi { name: String },
    /// Accept webhooks for a source again.
    Enable { name: String },
    /// Refuse webhooks for a source (404) without deleting anything.
    Disable { name: String },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a board user, or set the role and password of an existing one
    /// (enabling it again). The password is read from stdin (one line, at
    /// least 12 characters), never from the command line.
    Add {
        /// Login name: 1-63 of a-z, 0-9, '.', '_', '-'.
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: store::users::Role,
    },
    /// List board users (name, role, created, disabled; never the hash).
    List,
    /// Disable a board user: they can no longer log in.
    Disable { name: String },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print it, once: it is not stored, only its hash.
    Add {
        /// A name for whoever uses it: 1-63 of a-z, 0-9, '.', '_', '-'.
        name: String,
    },
    /// List tokens (name, created, last used, revoked; never the value).
    List,
    /// Revoke a token: it no longer opens the API.
    Revoke { name: String },
}

fn parse_role(s: &str) -> Result<store::users::Role, String> {
    s.parse()
        .map_err(|e: store::users::UserError| e.to_string())
}

fn parse_network(s: &str) -> Result<IpNet, String> {
    store::sources::parse_network(s).map_err(|e| e.to_string())
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}

#[tokio::main]
async fn main() {
    // A failure is logged in the configured format (JSON lines in
    // containers), not as Rust's plain `Error: ...` report.
    if let Err(e) = run_main().await {
        telemetry::exit_with_error(&e);
    }
}

async fn run_main() -> Result<()> {
    let _ = dotenvy::dotenv();
    telemetry::init_logging();
    let cli = Cli::parse();
    // Every command but `probe` talks to the database.
    let url = match (&cli.cmd, cli.database_url.clone()) {
        (Cmd::Probe { .. }, _) => String::new(),
        (_, Some(url)) => url,
        (_, None) => {
            bail!("DATABASE_URL is not set (flag --database-url, environment, or .env)")
        }
    };
    match cli.cmd {
        Cmd::Migrate { wait } => migrate(&url, wait).await,
        Cmd::Run(args) => run(&url, args).await,
        Cmd::Process { once, run } => process_once(&url, once, &run).await,
        Cmd::Stats {
            json,
            max_pending,
            max_dead,
        } => stats(&url, json, max_pending, max_dead).await,
        Cmd::Probe {
            url: target,
            timeout,
            print,
        } => probe(&target, timeout, print).await,
        Cmd::WaitSchema { timeout } => wait_schema(&url, timeout).await,
        Cmd::WaitIdle { timeout } => {
            let mut conn = connect(&url).await?;
            let pending = wait_idle(&mut conn, timeout).await?;
            if pending > 0 {
                bail!(
                    "still {pending} event(s) pending after {}",
                    humantime::format_duration(timeout)
                );
            }
            Ok(())
        }
        Cmd::Prune {
            older_than,
            include_dead,
        } => {
            let mut conn = connect(&url).await?;
            let p = store::inbox::prune(&mut conn, older_than, include_dead)
                .await
                .context("pruning")?;
            println!(
                "deleted {} event(s); {} day(s) dropped whole; {} old day(s) kept (pending or dead events)",
                p.deleted, p.partitions, p.kept_days
            );
            Ok(())
        }
        Cmd::Source(cmd) => source(&url, cmd).await,
        Cmd::User(cmd) => user(&url, cmd).await,
        Cmd::Token(cmd) => token(&url, cmd).await,
        Cmd::Audit {
            limit,
            source,
            json,
        } => {
            let mut conn = connect(&url).await?;
            let rows = store::apis::audit(&mut conn, source.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", render::audit(&rows));
            }
            Ok(())
        }
        Cmd::Replay {
            ids,
            source,
            event_type,
            all,
        } => {
            let filter = ReplayFilter {
                ids,
                source,
                event_type,
                all,
            };
            if filter.is_empty() {
                bail!(
                    "say which dead events to replay: --id N, --source S, --event-type T, or --all"
                );
            }
            let mut conn = connect(&url).await?;
            let n = store::inbox::replay(&mut conn, &filter).await?;
            println!("re-queued {n} dead event(s)");
            Ok(())
        }
        Cmd::Board {
            source,
            wait_idle: wait,
        } => {
            let mut conn = connect(&url).await?;
            if let Some(limit) = wait {
                let pending = wait_idle(&mut conn, limit).await?;
                if pending > 0 {
                    eprintln!("still {pending} event(s) pending after {limit:?}");
                }
            }
            let exts = domain::projection::read::extensions(&mut conn, source.as_deref()).await?;
            let calls =
                domain::projection::read::recent_calls(&mut conn, source.as_deref(), 5).await?;
            print!("{}", render::board(&exts, &calls));
            Ok(())
        }
    }
}

async fn connect(url: &str) -> Result<AsyncPgConnection> {
    store::connect(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redact_url(url)))
}

/// Polls until nothing is pending or `limit` passes. Returns the events
/// still pending (0 when idle).
async fn wait_idle(conn: &mut AsyncPgConnection, limit: Duration) -> Result<i64> {
    let deadline = Instant::now() + limit;
    loop {
        if store::inbox::is_drained(conn).await? {
            return Ok(0);
        }
        if Instant::now() > deadline {
            return Ok(store::inbox::depth(conn).await?.pending);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GETs `url`; Ok when it answers 2xx within `timeout`.
async fn probe(url: &str, timeout: Duration, print: bool) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("building the HTTP client")?;
    let resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {}", body.trim());
    }
    if print {
        print!("{body}");
    }
    Ok(())
}

/// Waits until every embedded migration is applied. Connection failures
/// and refusals (the roles step of the same Job may not have granted the
/// read yet) are retried until `timeout`.
async fn wait_schema(url: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(200);
    let mut said = String::new();
    loop {
        let outcome = match store::connect(url).await {
            Ok(mut conn) => store::missing_migrations(&mut conn)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e)),
        };
        let why = match outcome {
            Ok(missing) if missing.is_empty() => {
                tracing::info!("the schema has every migration of this version");
                return Ok(());
            }
            Ok(missing) => format!(
                "{} migration(s) not applied yet: {}",
                missing.len(),
                missing.join(", ")
            ),
            Err(e) => format!("cannot read the schema version: {e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{why} (waited {})", humantime::format_duration(timeout));
        }
        if why != said {
            tracing::info!(waiting_for = %why, "waiting for `worker migrate`");
            said = why;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn migrate(url: &str, wait: Duration) -> Result<()> {
    // A malformed key fails before anything is applied; a missing one only
    // leaves plaintext secrets (from before sealing) as they are.
    let keys = match Keyring::from_env() {
        Ok(keys) => Some(keys),
        Err(KeyError::Missing(_)) => None,
        Err(e) => bail!("{e}"),
    };
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(200);
    let applied = loop {
        match store::migrate(url).await {
            Ok(applied) => break applied,
            Err(store::Error::Connect(e)) if Instant::now() < deadline => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e).with_context(|| format!("migrating {}", redact_url(url))),
        }
    };
    // Logged (stderr, in LOG_FORMAT) rather than printed: in a container
    // every line follows the configured format.
    if applied.is_empty() {
        tracing::info!("schema is up to date");
    }
    for v in &applied {
        tracing::info!(version = %v, "applied migration");
    }
    after_migrate(url, keys.as_ref()).await
}

async fn process_once(url: &str, once: bool, args: &RunArgs) -> Result<()> {
    if !once {
        bail!("`worker process` needs --once (use `worker run` to keep processing)");
    }
    let pool =
        store::pool(url, 1, Duration::from_secs(10)).context("building the connection pool")?;
    let r = Worker::new(pool, args.config.clone())
        .drain()
        .await
        .context("processing")?;
    println!(
        "processed {} event(s): {} applied, {} ignored, {} failed, {} dead",
        r.claimed, r.applied, r.ignored, r.failed, r.dead
    );
    Ok(())
}

async fn stats(
    url: &str,
    json: bool,
    max_pending: Option<i64>,
    max_dead: Option<i64>,
) -> Result<()> {
    let mut conn = connect(url).await?;
    let s = store::inbox::stats(&mut conn).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", render::stats(&s));
    }
    let mut over = Vec::new();
    if let Some(m) = max_pending.filter(|m| s.pending > *m) {
        over.push(format!("{} pending > {m}", s.pending));
    }
    if let Some(m) = max_dead.filter(|m| s.dead > *m) {
        over.push(format!("{} dead > {m}", s.dead));
    }
    if !over.is_empty() {
        eprintln!("threshold exceeded: {}", over.join(", "));
        std::process::exit(3);
    }
    Ok(())
}

async fn run(url: &str, args: RunArgs) -> Result<()> {
    let loops = usize::from(args.concurrency);
    let upstream = store::Upstream::when(args.transaction_pooler);
    let poll_only = args.poll_only || args.transaction_pooler;
    let pool = store::pool_to(
        url,
        args.pool_size.max(loops + 1),
        Duration::from_secs(5),
        upstream,
    )
    .context("building the connection pool")?;
    let cfg = args.config.clone();
    if let Some(bind) = &args.metrics_bind {
        serve_metrics(bind, &pool)?;
    }
    tracing::info!(
        batch_size = cfg.batch_size,
        poll_interval_ms = cfg.poll_interval.as_millis() as u64,
        max_attempts = cfg.max_attempts,
        concurrency = loops,
        listen = !poll_only,
        transaction_pooler = args.transaction_pooler,
        "worker started"
    );
    let (tx, rx) = watch::channel(false);
    let deadline = args.shutdown_timeout;
    tokio::spawn(async move {
        telemetry::shutdown_signal().await;
        tracing::info!(
            deadline_s = deadline.as_secs_f64(),
            "shutdown requested: finishing the current batch"
        );
        let _ = tx.send(true);
        tokio::time::sleep(deadline).await;
        tracing::error!(
            "the current batch did not finish within the shutdown deadline: exiting; it rolls back"
        );
        std::process::exit(1);
    });
    let wake = Arc::new(tokio::sync::Notify::new());
    if !poll_only {
        tokio::spawn(worker::listen(url.to_string(), wake.clone(), rx.clone()));
    }
    tokio::spawn(worker::maintain(pool.clone(), rx.clone()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..loops {
        let (pool, cfg, rx, wake) = (pool.clone(), cfg.clone(), rx.clone(), wake.clone());
        set.spawn(async move { Worker::new(pool, cfg).run(rx, wake).await });
    }
    while let Some(done) = set.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a claim loop ended abnormally");
        }
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Serves `/metrics` and `/healthz` on `bind`, and samples the inbox depth
/// gauges every 5 s.
fn serve_metrics(bind: &str, pool: &store::PgPool) -> Result<()> {
    let handle = telemetry::install_metrics().context("installing the metrics recorder")?;
    let listener = std::net::TcpListener::bind(bind)
        .with_context(|| format!("cannot listen on {bind} for metrics"))?;
    let server =
        telemetry::serve_metrics(listener, handle).context("starting the metrics server")?;
    tracing::info!(addr = %bind, "metrics listening");
    tokio::spawn(server);
    tokio::spawn(worker::sample_depth(pool.clone(), Duration::from_secs(5)));
    Ok(())
}

/// The secrets key, or a refusal naming the variable.
fn keyring() -> Result<Keyring> {
    Keyring::from_env().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Most bytes of secrets read from stdin or a file.
const SECRET_INPUT_LIMIT: u64 = 64 * 1024;

/// Reads secrets, one per line, from `file` or else stdin. Blank lines are
/// skipped and a line's `\r\n` ending is accepted; anything else on a line
/// is the secret, checked later (whitespace and control characters refused).
fn read_secrets(file: Option<&Path>) -> Result<Vec<String>> {
    read_lines(
        file,
        "Type or paste the secret(s), one per line, then press Ctrl-D:",
    )
}

/// [`read_secrets`], saying `prompt` first when stdin is a terminal.
fn read_lines(file: Option<&Path>, prompt: &str) -> Result<Vec<String>> {
    let mut raw = Vec::new();
    let origin = match file {
        Some(path) => {
            std::fs::File::open(path)
                .and_then(|f| f.take(SECRET_INPUT_LIMIT + 1).read_to_end(&mut raw))
                .with_context(|| format!("cannot read the secret file {}", path.display()))?;
            format!("{}", path.display())
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("{prompt}");
            }
            stdin
                .lock()
                .take(SECRET_INPUT_LIMIT + 1)
                .read_to_end(&mut raw)
                .context("cannot read the secret(s) from stdin")?;
            "stdin".to_string()
        }
    };
    if raw.len() as u64 > SECRET_INPUT_LIMIT {
        bail!("{origin} holds more than {SECRET_INPUT_LIMIT} bytes: that is not a list of secrets");
    }
    let text = String::from_utf8(raw).map_err(|_| anyhow::anyhow!("{origin} is not UTF-8 text"))?;
    Ok(text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

async fn source(url: &str, cmd: SourceCmd) -> Result<()> {
    use store::sources;
    // Fail closed: no source command runs without the key, so that no
    // secret is ever written unsealed or checked against nothing.
    let keys = keyring()?;
    let mut conn = connect(url).await?;
    match cmd {
        SourceCmd::Add {
            name,
            provider,
            secret_file,
            allow_unsigned,
        } => {
            let secrets = if allow_unsigned {
                Vec::new()
            } else {
                read_secrets(secret_file.as_deref())?
            };
            let r =
                sources::add(&mut conn, &keys, &name, provider, &secrets, allow_unsigned).await?;
            if r.allow_unsigned {
                tracing::warn!(source = %name, provider = %provider,
                    "source accepts UNSIGNED webhooks (--allow-unsigned): anyone who knows its URL can post events");
            }
            if r.now_signed {
                tracing::info!(source = %name, "source no longer accepts unsigned webhooks: it has a secret");
            }
            println!(
                "{} source {name} ({provider}): {} secret(s) added{}{}",
                if r.created { "created" } else { "updated" },
                r.added.len(),
                if r.already_active.is_empty() {
                    String::new()
                } else {
                    format!(", {} already active", r.already_active.len())
                },
                if r.allow_unsigned {
                    ", accepting UNSIGNED webhooks"
                } else {
                    ""
                },
            );
        }
        SourceCmd::AddSecret {
            name,
            secret_file,
            expire_others_after,
        } => {
            let mut secrets = read_secrets(secret_file.as_deref())?;
            let secret = match (secrets.pop(), secrets.is_empty()) {
                (Some(s), true) => s,
                (None, _) => bail!(
                    "no secret given: pipe it on stdin (e.g. `worker source add-secret {name} < new-secret.txt`) or use --secret-file"
                ),
                (Some(_), false) => bail!(
                    "add-secret takes one secret; {} lines were given",
                    secrets.len() + 1
                ),
            };
            let r =
                sources::add_secret(&mut conn, &keys, &name, &secret, expire_others_after).await?;
            println!("added secret #{} to {name}", r.id);
            for (id, at) in &r.expiring {
                println!(
                    "secret #{id} of {name} expires at {}",
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            if r.now_signed {
                tracing::info!(source = %name, "source no longer accepts unsigned webhooks: it has a secret");
            }
        }
        SourceCmd::RevokeSecret { name, id } => {
            sources::revoke_secret(&mut conn, &name, id).await?;
            println!("revoked secret #{id} of {name}");
        }
        SourceCmd::List => print!(
            "{}",
            render::sources(
                &sources::list(&mut conn, &keys).await?,
                &store::apis::list(&mut conn, &keys).await?
            )
        ),
        SourceCmd::SetApi { name, base_url } => set_api(&mut conn, &keys, &name, base_url).await?,
        SourceCmd::ClearApi { name } => {
            if store::apis::clear(&mut conn, &name).await? {
                println!(
                    "cleared the API settings of {name}: the board can no longer hang up its calls"
                );
            } else {
                println!("{name} had no API settings");
            }
        }
        SourceCmd::SetNetworks {
            name,
            networks,
            clear,
        } => {
            if clear {
                sources::set_networks(&mut conn, &name, None).await?;
                println!("{name} accepts webhooks from any network");
            } else {
                sources::set_networks(&mut conn, &name, Some(&networks)).await?;
                let list: Vec<String> = networks.iter().map(|n| n.trunc().to_string()).collect();
                println!("{name} accepts webhooks from {} only", list.join(", "));
            }
        }
        SourceCmd::Rekey => {
            let r = sources::rekey(&mut conn, &keys, false).await?;
            println!(
                "sealed under key {}: {} resealed, {} plaintext sealed, {} already current",
                keys.current_id(),
                r.resealed,
                r.sealed_plaintext,
                r.current
            );
            let a = store::apis::rekey(&mut conn, &keys).await?;
            println!(
                "API settings sealed under key {}: {} resealed, {} already current",
                keys.current_id(),
                a.resealed,
                a.current
            );
        }
        SourceCmd::EncryptExisting => {
            let r = sources::rekey(&mut conn, &keys, true).await?;
            println!(
                "sealed {} plaintext secret(s) under key {}",
                r.sealed_plaintext,
                keys.current_id()
            );
        }
        SourceCmd::Enable { name } => {
            sources::set_enabled(&mut conn, &name, true).await?;
            println!("enabled {name}");
        }
        SourceCmd::Disable { name } => {
            sources::set_enabled(&mut conn, &name, false).await?;
            println!("disabled {name}");
        }
    }
    Ok(())
}

/// `source set-api`: reads the credentials of the source's provider from
/// stdin (never printed), seals and stores them with the base URL.
async fn set_api(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    base_url: Option<String>,
) -> Result<()> {
    use store::apis::{self, Credentials};
    // Refuse an unknown source, or one without an API, before reading.
    let provider = apis::api_provider(conn, name).await?;
    let base_url = match (provider, base_url) {
        (_, Some(u)) => u,
        (Provider::Dialpad, None) => apis::DIALPAD_BASE_URL.to_string(),
        (_, None) => bail!(
            "a {provider} source needs --base-url: the PBX's web address, e.g. https://pbx.example.com:8088"
        ),
    };
    // Check the URL before asking for the credentials.
    let base_url = apis::normalize_base_url(&base_url)?;
    let (prompt, want) = match provider {
        Provider::Yeastar => (
            "Paste the OpenAPI client id, then the client secret, one per line, then press Ctrl-D:",
            2,
        ),
        _ => ("Paste the Dialpad API key, then press Ctrl-D:", 1),
    };
    let mut lines = read_lines(None, prompt)?;
    if lines.len() != want {
        bail!(
            "{}: {} line(s) given on stdin",
            match provider {
                Provider::Yeastar => r#"give the client id and the client secret, one per line, on stdin (e.g. `printf '%s\n%s\n' "$ID" "$SECRET" | worker source set-api NAME --base-url URL`)"#,
                _ => "give the API key, one line, on stdin (e.g. `worker source set-api NAME < dialpad-api-key.txt`)",
            },
            lines.len()
        );
    }
    let credentials = match provider {
        Provider::Yeastar => {
            let client_secret = lines.pop().unwrap_or_default();
            let client_id = lines.pop().unwrap_or_default();
            Credentials::Yeastar {
                client_id,
                client_secret,
            }
        }
        _ => Credentials::Dialpad {
            api_key: lines.pop().unwrap_or_default(),
        },
    };
    let r = apis::set(conn, keys, name, &base_url, &credentials).await?;
    if apis::is_plain_http_remote(&r.base_url) {
        tracing::warn!(source = %name, base_url = %r.base_url,
            "the API is reached over plain HTTP: the credentials and tokens cross the network unencrypted; use https://");
    }
    println!(
        "{} the API settings of {name} ({provider}): {}{}, credentials fp {} (sealed under key {})",
        if r.created { "set" } else { "replaced" },
        r.base_url,
        credentials
            .client_hint()
            .map(|h| format!(", client {h}"))
            .unwrap_or_default(),
        r.fingerprint,
        keys.current_id()
    );
    Ok(())
}

/// Reads one password line from stdin: a trailing `\n` or `\r\n` is
/// dropped, a second line is refused. Nothing read is ever printed.
fn read_password() -> Result<String> {
    let limit = store::users::MAX_PASSWORD_BYTES as u64 + 2;
    let stdin = std::io::stdin();
    let mut raw = Vec::new();
    if stdin.is_terminal() {
        eprintln!("Type the password (at least 12 characters) and press Enter (it is shown as you type; pipe it on stdin to avoid that):");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdin.lock().take(limit + 1), &mut line)
            .context("cannot read the password from stdin")?;
        raw = line.into_bytes();
    } else {
        stdin
            .lock()
            .take(limit + 1)
            .read_to_end(&mut raw)
            .context("cannot read the password from stdin")?;
    }
    if raw.len() as u64 > limit {
        bail!("{}", store::users::UserError::PasswordTooLong);
    }
    let text =
        String::from_utf8(raw).map_err(|_| anyhow::anyhow!("the password is not UTF-8 text"))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains('\n') {
        bail!("give the password as one line on stdin");
    }
    if line.is_empty() {
        bail!("no password given: pipe it on stdin (e.g. `worker user add NAME --role viewer < password.txt`)");
    }
    Ok(line.to_string())
}

async fn user(url: &str, cmd: UserCmd) -> Result<()> {
    use store::users;
    match cmd {
        UserCmd::Add { name, role } => {
            // Refuse a bad name before asking for a password.
            users::validate_name(&name)?;
            let password = read_password()?;
            users::validate_password(&password)?;
            let mut conn = connect(url).await?;
            let r = users::add(&mut conn, &name, role, &password).await?;
            println!(
                "{} board user {name} ({role})",
                if r.created { "created" } else { "updated" }
            );
        }
        UserCmd::List => {
            let mut conn = connect(url).await?;
            print!("{}", render::users(&users::list(&mut conn).await?));
        }
        UserCmd::Disable { name } => {
            let mut conn = connect(url).await?;
            if users::disable(&mut conn, &name).await? {
                println!("disabled board user {name}");
            } else {
                println!("board user {name} was already disabled");
            }
        }
    }
    Ok(())
}

async fn token(url: &str, cmd: TokenCmd) -> Result<()> {
    use store::access;
    let mut conn = connect(url).await?;
    match cmd {
        TokenCmd::Add { name } => {
            let secret = access::add_token(&mut conn, &name).await?;
            eprintln!("created API token {name}; it is shown once, here (store it now):");
            println!("{}", secret.expose());
        }
        TokenCmd::List => print!("{}", render::tokens(&access::list_tokens(&mut conn).await?)),
        TokenCmd::Revoke { name } => {
            if access::revoke_token(&mut conn, &name).await? {
                println!("revoked API token {name}");
            } else {
                println!("API token {name} was already revoked");
            }
        }
    }
    Ok(())
}

/// After the schema: seals the secrets still in plaintext when the key is
/// set (else says how many remain), and names the sources that now refuse
/// every webhook for want of a secret.
async fn after_migrate(url: &str, keys: Option<&Keyring>) -> Result<()> {
    let mut conn = connect(url).await?;
    match keys {
        Some(keys) => {
            let r = store::sources::rekey(&mut conn, keys, true).await?;
            if r.sealed_plaintext > 0 {
                tracing::info!(
                    sealed = r.sealed_plaintext,
                    key = keys.current_id(),
                    "sealed plaintext secret(s)"
                );
            }
        }
        None => {
            let n = store::sources::plaintext_count(&mut conn).await?;
            if n > 0 {
                tracing::warn!(plaintext = n, "{n} secret(s) are still stored in plaintext: set {KEY_VAR} and run `worker migrate` again (or `worker source encrypt-existing`)");
            }
        }
    }
    for name in store::sources::without_secret(&mut conn).await? {
        tracing::warn!(source = %name, "source has no active secret and is not --allow-unsigned: it refuses every webhook until you add a secret (worker source add-secret {name}) or re-run `worker source add {name} --provider ... --allow-unsigned`");
    }
    Ok(())
}
