//! A small HTTP listener for the worker's `/metrics` (Prometheus) and
//! `/healthz`, and the sampler of the inbox depth gauges.

use std::time::Duration;

use diesel::sql_types::{BigInt, Double, Nullable};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use domain::db::PgPool;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `/metrics` and `/healthz` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let n = match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let (status, ctype, body) = match path {
                "/metrics" => {
                    handle.run_upkeep();
                    ("200 OK", "text/plain; version=0.0.4", handle.render())
                }
                "/healthz" => (
                    "200 OK",
                    "application/json",
                    "{\"status\":\"ok\"}".to_string(),
                ),
                _ => (
                    "404 Not Found",
                    "application/json",
                    "{\"error\":\"not_found\"}".to_string(),
                ),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[derive(QueryableByName)]
struct Depth {
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = Nullable<Double>)]
    oldest: Option<f64>,
}

/// Every `every`, sets the `switchboard_worker_pending_events` and
/// `switchboard_worker_oldest_pending_age_seconds` gauges from the inbox.
pub async fn sample_depth(pool: PgPool, every: Duration) {
    loop {
        if let Ok(mut conn) = pool.get().await {
            let r: Result<Depth, _> = diesel::sql_query(
                "SELECT count(*) AS pending,
                        extract(epoch FROM now() - min(received_at))::float8 AS oldest
                 FROM webhook_events WHERE processed_at IS NULL AND dead_at IS NULL",
            )
            .get_result(&mut conn)
            .await;
            if let Ok(d) = r {
                metrics::gauge!("switchboard_worker_pending_events").set(d.pending as f64);
                metrics::gauge!("switchboard_worker_oldest_pending_age_seconds")
                    .set(d.oldest.unwrap_or(0.0).max(0.0));
            }
        }
        tokio::time::sleep(every).await;
    }
}
