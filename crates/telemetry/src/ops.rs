//! The operators' server, written once: `/metrics`, `/readyz` (with the
//! readiness check each binary supplies), `/healthz`, and the one 404, on a
//! listener of its own that is never to be exposed publicly.

use std::fmt::Display;
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};

use crate::answers::{healthz, not_found, not_found_because};
use crate::render_metrics;

/// How long a readiness check that asks the database may take before the
/// binary counts as not ready.
pub const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What `/readyz` answers: 200 when ready, else 503, with a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    /// 200 (true) or 503 (false).
    pub ready: bool,
    /// The JSON body.
    pub body: Value,
}

impl Readiness {
    /// Ready: 200 `{"status":"ready"}`, or 503
    /// `{"status":"unavailable","error":"..."}` naming what failed.
    pub fn of<E: Display>(check: Result<(), E>) -> Readiness {
        match check {
            Ok(()) => Readiness {
                ready: true,
                body: json!({"status": "ready"}),
            },
            Err(e) => Readiness {
                ready: false,
                body: json!({"status": "unavailable", "error": e.to_string()}),
            },
        }
    }

    /// Not ready: 503 `{"status":"unavailable", ...fields}` (e.g. `error`,
    /// `cause`).
    pub fn unavailable(fields: Value) -> Readiness {
        let mut body = json!({"status": "unavailable"});
        if let (Some(b), Value::Object(f)) = (body.as_object_mut(), fields) {
            b.extend(f);
        }
        Readiness { ready: false, body }
    }

    /// The HTTP answer.
    fn response(self) -> HttpResponse {
        if self.ready {
            HttpResponse::Ok().json(self.body)
        } else {
            HttpResponse::ServiceUnavailable().json(self.body)
        }
    }
}

type CheckFuture = Pin<Box<dyn Future<Output = Readiness>>>;

/// A binary's readiness check, run on every `GET /readyz`.
#[derive(Clone)]
pub struct ReadyCheck(Arc<dyn Fn() -> CheckFuture + Send + Sync>);

impl ReadyCheck {
    /// The check `check` (called once per request).
    pub fn new<F, Fut>(check: F) -> ReadyCheck
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Readiness> + 'static,
    {
        ReadyCheck(Arc::new(move || Box::pin(check()) as CheckFuture))
    }

    /// Runs the check.
    pub async fn run(&self) -> Readiness {
        (self.0)().await
    }
}

/// Starts the operators' server on `listener` (one HTTP worker, no signal
/// handling of its own: it stops with the process). `/metrics` renders
/// `metrics` (404 when there is none), `/readyz` answers `ready`.
/// Returns the server future, to be spawned.
pub fn serve_ops(
    listener: TcpListener,
    metrics: Option<PrometheusHandle>,
    ready: ReadyCheck,
) -> std::io::Result<Server> {
    let ops = web::Data::new(Ops { metrics, ready });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(ops.clone())
            .route("/metrics", web::get().to(metrics_page))
            .route("/readyz", web::get().to(readyz))
            .route("/healthz", web::get().to(healthz))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// What the operators' routes share.
struct Ops {
    metrics: Option<PrometheusHandle>,
    ready: ReadyCheck,
}

/// `GET /metrics`: the Prometheus page, when metrics are on.
async fn metrics_page(ops: web::Data<Ops>) -> HttpResponse {
    match &ops.metrics {
        Some(h) => render_metrics(h),
        None => not_found_because("metrics are off"),
    }
}

/// `GET /readyz`: the binary's own check.
async fn readyz(ops: web::Data<Ops>) -> HttpResponse {
    ops.ready.run().await.response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_of_a_check() {
        assert_eq!(
            Readiness::of(Ok::<(), String>(())),
            Readiness {
                ready: true,
                body: json!({"status": "ready"})
            }
        );
        let r = Readiness::of(Err("database check timed out"));
        assert!(!r.ready);
        assert_eq!(
            r.body,
            json!({"status": "unavailable", "error": "database check timed out"})
        );
        let r = Readiness::unavailable(json!({"error": "full", "cause": "disk_full"}));
        assert!(!r.ready);
        assert_eq!(
            r.body,
            json!({"status": "unavailable", "error": "full", "cause": "disk_full"})
        );
    }
}
