//! `traffic`: sends signed call scenarios to an ingest URL.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use traffic::scenario::{self, SignedRequest};
use traffic::Client;

#[derive(Parser)]
#[command(
    name = "traffic",
    version,
    about = "Send signed call scenarios to Switchboard"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Yeastar,
    Dialpad,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send the steps of one demo call (all of them, or those named).
    Demo {
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
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Demo {
            url,
            source,
            secret,
            provider,
            call_id,
            extension,
            steps,
        } => {
            let all = match provider {
                Kind::Yeastar => scenario::yeastar_inbound(&call_id, "+15555550100", &extension),
                Kind::Dialpad => {
                    let leg: u64 = call_id.parse().context("a Dialpad --call-id is numeric")?;
                    let user: u64 = extension
                        .parse()
                        .context("a Dialpad --extension is a numeric user id")?;
                    let t0 = chrono_now_ms();
                    scenario::dialpad_inbound(leg, user, "Demo Agent", "+15555550100", t0)
                }
            };
            let chosen: Vec<_> = if steps.is_empty() {
                all
            } else {
                let mut v = Vec::new();
                for s in &steps {
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
            let (authority, base) = traffic::http::split_url(&url)?;
            let mut client = Client::new(authority, Duration::from_secs(10));
            let path = format!("{base}/webhooks/{source}");
            for step in chosen {
                let SignedRequest { headers, body } = match provider {
                    Kind::Yeastar => {
                        let Some(s) = secret.as_deref() else {
                            bail!("a Yeastar source needs --secret");
                        };
                        scenario::sign_yeastar(s, &step.body)
                    }
                    Kind::Dialpad => scenario::sign_dialpad(secret.as_deref(), &step.body),
                };
                let r = client
                    .request("POST", &path, &headers, &body)
                    .await
                    .with_context(|| format!("posting step {} to {url}{path}", step.label))?;
                println!("{:<10} -> {} {}", step.label, r.status, r.text().trim());
                if r.status != 200 {
                    bail!("step {} was refused with {}", step.label, r.status);
                }
            }
        }
    }
    Ok(())
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
