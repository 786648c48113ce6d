//! The Prometheus recorder and the page that renders it (served on the
//! operators' port: [`crate::serve_ops`]).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Installs the global metrics recorder (Prometheus text format) with
/// latency buckets from 0.5 ms to 10 s, once per process. Returns the handle
/// that renders the page (the same one on every call), or `None` when
/// another recorder was installed first.
pub fn install_metrics() -> Option<PrometheusHandle> {
    const SECONDS: &[f64] = &[
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    const SIZES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZES)
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Renders the metrics page.
pub fn render_metrics(handle: &PrometheusHandle) -> HttpResponse {
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
