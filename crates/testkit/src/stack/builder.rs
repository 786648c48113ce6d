//! What a test asks of its [`Stack`]: the database, its sources and board
//! users, and which binaries run with which flags. Only what is asked for
//! is started.

use std::time::Duration;

use anyhow::{Context, Result};
use domain::Provider;

use crate::stack::{Source, Stack};
use crate::{spawn, worker_ok, Board, Ingest, TestDb};

/// The flags every worker of a stack starts with (fast polls), before its own.
const WORKER_RUN: [&str; 3] = ["run", "--poll-interval", "20ms"];

/// A [`Stack`] to start: see [`Stack::builder`].
pub struct StackBuilder {
    db: Option<TestDb>,
    via: Option<String>,
    migrate: bool,
    audit: bool,
    sources: Vec<Source>,
    users: Vec<(String, String, String)>,
    ingest: Option<Vec<String>>,
    workers: Vec<Vec<String>>,
    board: Option<Vec<String>>,
    env: Vec<(String, String)>,
    wait: Duration,
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

impl StackBuilder {
    pub(crate) fn new() -> StackBuilder {
        StackBuilder {
            db: None,
            via: None,
            migrate: false,
            audit: false,
            sources: Vec::new(),
            users: Vec::new(),
            ingest: None,
            workers: Vec::new(),
            board: None,
            env: Vec::new(),
            wait: Duration::from_secs(30),
        }
    }

    /// Uses `db` (e.g. [`TestDb::attach`]ed to a private server) instead
    /// of a fresh database from the migrated template.
    pub fn on(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }

    /// The binaries connect to `url` (e.g. through PgBouncer) instead of
    /// the database's own URL.
    pub fn via(mut self, url: &str) -> Self {
        self.via = Some(url.to_string());
        self
    }

    /// Runs `worker migrate` first (the template is migrated already: this
    /// checks that the binary finds nothing to do, as at every deploy).
    pub fn migrate(mut self) -> Self {
        self.migrate = true;
        self
    }

    /// Installs the completion audit ([`TestDb::audit_completions`]).
    pub fn audit(mut self) -> Self {
        self.audit = true;
        self
    }

    /// A source of `provider` with `secrets` (sealed with the test key);
    /// without secrets it accepts unsigned webhooks. Webhooks the stack
    /// posts for it are signed with its first secret.
    pub fn source(mut self, name: &str, provider: Provider, secrets: &[&str]) -> Self {
        self.sources.push(Source {
            name: name.to_string(),
            provider,
            secrets: owned(secrets),
        });
        self
    }

    /// A Yeastar source signing with `secret` (`X-Signature`).
    pub fn yeastar(self, name: &str, secret: &str) -> Self {
        self.source(name, Provider::Yeastar, &[secret])
    }

    /// A Dialpad source signing with `secret` (HS256 JWT bodies).
    pub fn dialpad(self, name: &str, secret: &str) -> Self {
        self.source(name, Provider::Dialpad, &[secret])
    }

    /// A Standard Webhooks source signing with `secret` (`whsec_...`).
    pub fn standard(self, name: &str, secret: &str) -> Self {
        self.source(name, Provider::Standard, &[secret])
    }

    /// A source of `provider` that accepts unsigned webhooks.
    pub fn unsigned(self, name: &str, provider: Provider) -> Self {
        self.source(name, provider, &[])
    }

    /// A board user with `role` (`operator` or `viewer`) and `password`.
    pub fn user(mut self, name: &str, role: &str, password: &str) -> Self {
        self.users
            .push((name.to_string(), role.to_string(), password.to_string()));
        self
    }

    /// Starts ingest with `extra` flags.
    pub fn ingest(mut self, extra: &[&str]) -> Self {
        self.ingest = Some(owned(extra));
        self
    }

    /// Starts one more `worker run` (polling every 20 ms) with `extra` flags.
    pub fn worker(mut self, extra: &[&str]) -> Self {
        let mut args = owned(&WORKER_RUN);
        args.extend(owned(extra));
        self.workers.push(args);
        self
    }

    /// Starts `n` more workers, as [`StackBuilder::worker`] does.
    pub fn workers(mut self, n: usize, extra: &[&str]) -> Self {
        for _ in 0..n {
            self = self.worker(extra);
        }
        self
    }

    /// Starts one more worker with exactly `args` (e.g. `run
    /// --poll-interval 10m`: a worker only a NOTIFY wakes).
    pub fn worker_command(mut self, args: &[&str]) -> Self {
        self.workers.push(owned(args));
        self
    }

    /// Starts the board with `extra` flags.
    pub fn board(mut self, extra: &[&str]) -> Self {
        self.board = Some(owned(extra));
        self
    }

    /// Sets `name` to `value` in every binary's environment.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// How long the stack's waits last (30 s unless set).
    pub fn wait(mut self, limit: Duration) -> Self {
        self.wait = limit;
        self
    }

    /// Prepares the database, then starts ingest, the workers and the
    /// board, in that order, each once it answers (workers are not waited
    /// for: they have no port).
    pub async fn start(self) -> Result<Stack> {
        let db = match self.db {
            Some(db) => db,
            None => TestDb::new().await?,
        };
        let url = self.via.unwrap_or_else(|| db.url.clone());
        if self.migrate {
            worker_ok(&db.url, &["migrate"]).await?;
        }
        if self.audit {
            db.audit_completions().await?;
        }
        for s in &self.sources {
            let secrets: Vec<&str> = s.secrets.iter().map(String::as_str).collect();
            db.add_source(&s.name, s.provider.as_str(), &secrets)
                .await?;
        }
        if !self.users.is_empty() {
            let mut c = db.conn().await?;
            for (name, role, password) in &self.users {
                let role = role.parse().map_err(anyhow::Error::msg)?;
                store::users::add(&mut c, name, role, password)
                    .await
                    .with_context(|| format!("adding board user {name}"))?;
            }
        }
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ingest = match &self.ingest {
            Some(extra) => {
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                Some(Ingest::start_with_env(&url, &extra, &env).await?)
            }
            None => None,
        };
        let mut workers = Vec::new();
        for args in &self.workers {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut all = vec![("DATABASE_URL", url.as_str())];
            all.extend_from_slice(&env);
            workers.push(spawn("worker", &args, &all)?);
        }
        let board = match &self.board {
            Some(extra) => {
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                Some(Board::start_with_env(&url, &extra, &env).await?)
            }
            None => None,
        };
        Ok(Stack {
            ingest,
            workers,
            board,
            sources: self.sources,
            url,
            board_args: self.board.unwrap_or_default(),
            env: self.env,
            wait: self.wait,
            db,
        })
    }
}
