//! `traffic demo`: the steps of one demo call, signed and sent.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use traffic::scenario::{self, SignedRequest};
use traffic::Client;

use super::now_ms;

/// The demo call's provider.
#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Yeastar,
    Dialpad,
}

/// Send the steps of one demo call (all of them, or those named).
#[derive(clap::Args)]
pub struct Args {
    /// Ingest base URL.
    #[arg(long, env = "INGEST_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Source name (the URL slug).
    #[arg(long)]
    source: String,
    /// The source's signing secret (Dialpad: omit for unsigned JSON).
    #[arg(long, env = "DEMO_SECRET", hide_env_values = true)]
    secret: Option<String>,
    #[arg(long, value_enum, default_value = "yeastar")]
    provider: Kind,
    /// Call id (Yeastar) or numeric leg id (Dialpad).
    #[arg(long, default_value = "1732190000.101")]
    call_id: String,
    /// Extension (Yeastar) or numeric user id (Dialpad) that takes the call.
    #[arg(long, default_value = "2002")]
    extension: String,
    /// Steps to send, comma-separated (default: all). Yeastar:
    /// ringing,answered,hold,bye,cdr. Dialpad: ringing,connected,hangup,recording.
    #[arg(long, value_delimiter = ',')]
    steps: Vec<String>,
}

/// Sends the chosen steps in order; fails on the first refusal.
pub async fn run(a: Args) -> Result<()> {
    let all = match a.provider {
        Kind::Yeastar => scenario::yeastar_inbound(&a.call_id, "+15555550100", &a.extension),
        Kind::Dialpad => {
            let leg: u64 = a
                .call_id
                .parse()
                .context("a Dialpad --call-id is numeric")?;
            let user: u64 = a
                .extension
                .parse()
                .context("a Dialpad --extension is a numeric user id")?;
            scenario::dialpad_inbound(leg, user, "Demo Agent", "+15555550100", now_ms())
        }
    };
    let chosen: Vec<_> = if a.steps.is_empty() {
        all
    } else {
        let mut v = Vec::new();
        for s in &a.steps {
            match all.iter().find(|st| st.label == s) {
                Some(st) => v.push(st.clone()),
                None => bail!(
                    "unknown step {s:?}; known: {}",
                    all.iter().map(|s| s.label).collect::<Vec<_>>().join(",")
                ),
            }
        }
        v
    };
    let mut client = Client::from_url(&a.url, Duration::from_secs(10))?;
    let path = format!("/webhooks/{}", a.source);
    for step in chosen {
        let SignedRequest { headers, body } = match a.provider {
            Kind::Yeastar => {
                let Some(s) = a.secret.as_deref() else {
                    bail!("a Yeastar source needs --secret");
                };
                scenario::sign_yeastar(s, &step.body)
            }
            Kind::Dialpad => scenario::sign_dialpad(a.secret.as_deref(), &step.body),
        };
        let r = client
            .post(&path, &headers, &body)
            .await
            .with_context(|| format!("posting step {} to {}{path}", step.label, a.url))?;
        println!("{:<10} -> {} {}", step.label, r.status, r.text().trim());
        if r.status != 200 {
            bail!("step {} was refused with {}", step.label, r.status);
        }
    }
    Ok(())
}
