//! `worker probe`: a container health check without curl.

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Ask an HTTP endpoint, as a container health check does (the image
/// has no curl): exit 0 when it answers 2xx within --timeout, 1
/// otherwise. Needs no database.
#[derive(clap::Args)]
pub struct Args {
    /// e.g. http://127.0.0.1:9091/readyz
    url: String,
    /// Longest wait for the answer.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Print the answer's body (e.g. a /metrics page).
    #[arg(long)]
    print: bool,
}

/// GETs the URL; Ok when it answers 2xx within the timeout.
pub async fn run(args: Args) -> Result<()> {
    let Args {
        url,
        timeout,
        print,
    } = args;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("building the HTTP client")?;
    let resp = client
        .get(&url)
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
