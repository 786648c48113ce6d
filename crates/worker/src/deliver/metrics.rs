//! The delivery metrics, per endpoint (docs/operations.md): attempts by
//! result, their latency, the lag from event to delivery, deliveries given
//! up, endpoints disabled; and, sampled, pending and given-up deliveries and
//! whether each endpoint is enabled.

use store::events_out::{Attempt, Claimed, DeliveryStats, Next};

/// Describes the metrics (once, with the recorder).
pub fn describe() {
    metrics::describe_counter!(
        "switchboard_delivery_attempts_total",
        "Delivery attempts per endpoint by result (delivered, failed, gone)"
    );
    metrics::describe_counter!(
        "switchboard_deliveries_given_up_total",
        "Deliveries given up after retrying for DELIVER_RETRY_FOR"
    );
    metrics::describe_counter!(
        "switchboard_endpoints_disabled_total",
        "Endpoints disabled by the delivery workers (reason: gone, failing)"
    );
    metrics::describe_histogram!(
        "switchboard_delivery_attempt_seconds",
        "Time of one delivery attempt"
    );
    metrics::describe_histogram!(
        "switchboard_delivery_lag_seconds",
        "From the event's commit to its delivery"
    );
    metrics::describe_counter!(
        "switchboard_deliveries_handed_over_total",
        "Deliveries a batch wrote leased to this process (worker run --deliver): sent on commit, or given back to the claims (result)"
    );
    metrics::describe_gauge!(
        "switchboard_deliveries_pending",
        "Pending deliveries per endpoint"
    );
    metrics::describe_gauge!(
        "switchboard_deliveries_failed",
        "Given-up deliveries per endpoint"
    );
    metrics::describe_gauge!(
        "switchboard_endpoint_enabled",
        "1 when the endpoint is enabled"
    );
}

/// Counts one attempt of `c`.
pub fn attempt(c: &Claimed, a: &Attempt, next: Next) {
    let endpoint = c.endpoint.clone();
    let result = match next {
        Next::Delivered => "delivered",
        Next::Gone => "gone",
        Next::Retry(_) | Next::GiveUp => "failed",
    };
    metrics::counter!("switchboard_delivery_attempts_total", "endpoint" => endpoint.clone(), "result" => result)
        .increment(1);
    metrics::histogram!("switchboard_delivery_attempt_seconds", "endpoint" => endpoint.clone())
        .record(f64::from(a.latency_ms) / 1000.0);
    match next {
        Next::Delivered => {
            let lag = (chrono::Utc::now() - c.created_at)
                .num_milliseconds()
                .max(0) as f64
                / 1000.0;
            metrics::histogram!("switchboard_delivery_lag_seconds", "endpoint" => endpoint)
                .record(lag);
        }
        Next::GiveUp => {
            metrics::counter!("switchboard_deliveries_given_up_total", "endpoint" => endpoint)
                .increment(1)
        }
        Next::Gone => disabled(&c.endpoint, "gone"),
        Next::Retry(_) => {}
    }
}

/// Counts an endpoint disabled for `reason`.
pub fn disabled(endpoint: &str, reason: &'static str) {
    metrics::counter!("switchboard_endpoints_disabled_total", "endpoint" => endpoint.to_string(), "reason" => reason)
        .increment(1);
}

/// Sets the sampled gauges.
pub fn gauges(stats: &[DeliveryStats]) {
    for s in stats {
        let e = s.endpoint.clone();
        metrics::gauge!("switchboard_deliveries_pending", "endpoint" => e.clone())
            .set(s.pending as f64);
        metrics::gauge!("switchboard_deliveries_failed", "endpoint" => e.clone())
            .set(s.failed as f64);
        metrics::gauge!("switchboard_endpoint_enabled", "endpoint" => e)
            .set(f64::from(u8::from(s.enabled)));
    }
}

/// Counts a batch's handed-over deliveries: `sent` queued to be sent,
/// `given_back` left to the claims.
pub fn handed_over(sent: usize, given_back: usize) {
    if sent > 0 {
        metrics::counter!("switchboard_deliveries_handed_over_total", "result" => "sent")
            .increment(sent as u64);
    }
    if given_back > 0 {
        metrics::counter!("switchboard_deliveries_handed_over_total", "result" => "given_back")
            .increment(given_back as u64);
    }
}
