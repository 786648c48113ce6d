//! `traffic http-limit`: the bench's "physical HTTP limit" anchor for
//! ingest. An actix-web server that does what ingest does with a webhook
//! short of the database: reads the body (bounded, into one buffer), checks
//! the Yeastar HMAC with domain's own verification, and answers the same
//! small JSON. `just bench` drives it with the same wrk script as ingest,
//! so ingest's rate over this one is the share of the HTTP work it keeps
//! once the database is involved.

use std::time::Duration;

use actix_web::http::header::{ContentType, CONTENT_LENGTH};
use actix_web::http::KeepAlive;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::{Context, Result};
use domain::signature::{self, SignedHeaders, VerifyOptions};
use domain::Provider;
use futures_util::StreamExt;

/// Serve `POST /webhooks/{any}` like ingest without a database: read the
/// body, verify the Yeastar signature, answer 200 (401 on a bad signature).
/// A benchmark anchor, never a receiver.
#[derive(clap::Args)]
pub struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: String,
    /// The Yeastar secret the bodies are signed with.
    #[arg(long)]
    secret: String,
    /// HTTP worker threads (default: one per core, as ingest).
    #[arg(long)]
    workers: Option<usize>,
}

/// Ingest's default largest body (`INGEST_MAX_BODY_BYTES`).
const MAX_BODY: usize = 1024 * 1024;

struct Shared {
    secrets: Vec<String>,
}

/// Serves until SIGTERM/SIGINT.
pub async fn run(args: Args) -> Result<()> {
    let shared = web::Data::new(Shared {
        secrets: vec![args.secret],
    });
    let listener = std::net::TcpListener::bind(&args.bind)
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .default_service(web::to(receive))
    })
    .keep_alive(KeepAlive::Timeout(Duration::from_secs(5)))
    .shutdown_timeout(1);
    if let Some(n) = args.workers {
        server = server.workers(n.max(1));
    }
    eprintln!("http-limit listening on {}", args.bind);
    server
        .listen(listener)
        .context("listening")?
        .run()
        .await
        .context("HTTP server failed")
}

async fn receive(
    req: HttpRequest,
    mut payload: web::Payload,
    s: web::Data<Shared>,
) -> HttpResponse {
    if req.path() == "/healthz" {
        return HttpResponse::Ok().finish();
    }
    let declared: Option<usize> = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(64 * 1024));
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return HttpResponse::BadRequest().finish();
        };
        if body.len() + chunk.len() > MAX_BODY {
            return HttpResponse::PayloadTooLarge().finish();
        }
        body.extend_from_slice(&chunk);
    }
    let signed = SignedHeaders {
        x_signature: req
            .headers()
            .get("x-signature")
            .and_then(|v| v.to_str().ok()),
        webhook_id: None,
        webhook_timestamp: None,
        webhook_signature: None,
    };
    let opts = VerifyOptions {
        timestamp_tolerance_secs: 300,
        now_unix: 0,
        jwt_leeway_secs: signature::DEFAULT_JWT_LEEWAY_SECS,
        allow_unsigned: false,
    };
    match signature::verify(Provider::Yeastar, &s.secrets, &signed, &body, &opts) {
        Ok(v) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(format!(
                r#"{{"id":{},"status":"accepted"}}"#,
                v.dedup_key.len()
            )),
        Err(_) => HttpResponse::Unauthorized().finish(),
    }
}
