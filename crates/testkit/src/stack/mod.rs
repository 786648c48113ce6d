//! A whole Switchboard for one test: a fresh database with its sources and
//! board users, and the real `ingest`, `worker` and `board` binaries that
//! the test asks for (all stopped, and the database dropped, with the
//! stack). Webhooks are posted signed as each source's provider signs them.
//!
//! ```ignore
//! let s = Stack::builder()
//!     .yeastar("pbx", SECRET)
//!     .user("olivia", "operator", PASSWORD)
//!     .ingest(&[])
//!     .worker(&[])
//!     .board(&[])
//!     .start()
//!     .await?;
//! let id = s.deliver("pbx", &body).await?; // posted, stored and processed
//! ```

mod builder;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use domain::Provider;

pub use builder::StackBuilder;

use crate::counts::Counter;
use crate::signing::{self, Posted, SignedRequest};
use crate::{wait_until, Board, Ingest, Proc, TestDb};

/// A source of a [`Stack`], as its webhooks are signed.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name, the last segment of its webhook URL.
    pub name: String,
    /// Who sends its webhooks, and so how they are signed.
    pub provider: Provider,
    /// Its secrets; the first signs what the stack posts. None: unsigned.
    pub secrets: Vec<String>,
}

/// A running stack: see [`Stack::builder`].
pub struct Stack {
    ingest: Option<Ingest>,
    /// The running `worker run` processes.
    pub workers: Vec<Proc>,
    board: Option<Board>,
    sources: Vec<Source>,
    /// What the binaries connect to.
    url: String,
    board_args: Vec<String>,
    env: Vec<(String, String)>,
    wait: Duration,
    /// Last, so that it is dropped after the binaries are stopped.
    pub db: TestDb,
}

impl Stack {
    /// A stack to describe, then [`StackBuilder::start`].
    pub fn builder() -> StackBuilder {
        StackBuilder::new()
    }

    /// The running ingest. Test support: panics when the stack has none.
    pub fn ingest(&self) -> &Ingest {
        match &self.ingest {
            Some(i) => i,
            None => panic!("this stack runs no ingest: ask for one with StackBuilder::ingest"),
        }
    }

    /// The running board. Test support: panics when the stack has none.
    pub fn board(&self) -> &Board {
        match &self.board {
            Some(b) => b,
            None => panic!("this stack runs no board: ask for one with StackBuilder::board"),
        }
    }

    /// The running board, to stop or kill it. Test support: panics when
    /// the stack has none.
    pub fn board_mut(&mut self) -> &mut Board {
        match &mut self.board {
            Some(b) => b,
            None => panic!("this stack runs no board: ask for one with StackBuilder::board"),
        }
    }

    /// Starts the board again, with the same flags, on the port it had
    /// (where pages expect it); the old process is killed first if it
    /// still runs.
    pub async fn restart_board(&mut self) -> Result<()> {
        let port = self.board().port;
        if let Some(mut old) = self.board.take() {
            // Already dead when the test killed it: nothing to do then.
            let _ = old.proc.kill().await;
        }
        let extra: Vec<&str> = self.board_args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.board = Some(Board::start_on_with_env(&self.url, port, &extra, &env).await?);
        Ok(())
    }

    /// The source `name` as the stack was built with it.
    pub fn source(&self, name: &str) -> Result<&Source> {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .with_context(|| format!("the stack has no source {name}"))
    }

    /// `body` signed for source `name`, as its provider signs.
    pub fn sign(&self, name: &str, body: &[u8]) -> Result<SignedRequest> {
        let s = self.source(name)?;
        signing::sign(s.provider, s.secrets.first().map(String::as_str), body)
    }

    /// Signs `body` for source `name` and posts it to ingest; returns
    /// ingest's answer, whatever it is.
    pub async fn post(&self, name: &str, body: &[u8]) -> Result<Posted> {
        let req = self.sign(name, body)?;
        self.ingest().post(name, &req).await
    }

    /// [`Stack::post`], which must be answered 200 (accepted or
    /// duplicate); returns the stored event's id.
    pub async fn send(&self, name: &str, body: &[u8]) -> Result<i64> {
        let p = self.post(name, body).await?;
        if p.status != 200 {
            bail!("ingest answered {} for {name}: {}", p.status, p.text);
        }
        p.id()
            .with_context(|| format!("no event id in ingest's answer: {}", p.text))
    }

    /// [`Stack::send`], then waits until a worker has processed the event;
    /// returns its id.
    pub async fn deliver(&self, name: &str, body: &[u8]) -> Result<i64> {
        let id = self.send(name, body).await?;
        self.wait_processed(id).await?;
        Ok(id)
    }

    /// Waits until event `id` is processed.
    pub async fn wait_processed(&self, id: i64) -> Result<()> {
        let filter = format!("id = {id}");
        wait_until(self.wait, &format!("event {id} processed"), || async {
            Ok(self.db.count_where(Counter::Processed, &filter).await? == 1)
        })
        .await
    }

    /// Waits until extension `number` of source `name` has `status`.
    pub async fn wait_extension(&self, name: &str, number: &str, status: &str) -> Result<()> {
        let what = format!("extension {number} of {name} {status}");
        wait_until(self.wait, &what, || async {
            Ok(self.db.extension_status(name, number).await?.as_deref() == Some(status))
        })
        .await
    }
}
