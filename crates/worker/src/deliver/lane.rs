//! A lane: one claimed run (a subject's due deliveries to one endpoint)
//! sent in order on the pooled client. A 2xx or a give-up lets the next go;
//! a retry or a 410 stops the run, and the rest is given back (behind the
//! retry's time). So is the rest when the worker stops, or when the run's
//! lease could run out before the next attempt ends.

use std::time::Instant;

use store::events_out::{Claimed, Completion, Next, SigningSecrets};

use super::{metrics, parse_retry_after, send, Shared};

/// Sends `run` (one endpoint, one subject, in order).
pub async fn send_run(shared: &Shared, run: Vec<Claimed>) {
    let claimed = Instant::now();
    let mut secrets: Option<SigningSecrets> = None;
    let mut rest = run.into_iter();
    while let Some(c) = rest.next() {
        let lease_left = shared.lease.saturating_sub(claimed.elapsed());
        if *shared.stopping.borrow() || lease_left <= shared.timeout * 2 {
            release(shared, std::iter::once(c).chain(rest), None);
            return;
        }
        if secrets.is_none() {
            secrets = match c.secrets(&shared.keys) {
                Ok(s) => Some(s),
                Err(e) => {
                    let error = format!("cannot open the endpoint's secret: {e}");
                    let next = shared.schedule.after_failure(
                        c.created_at,
                        c.attempts,
                        chrono::Utc::now(),
                        None,
                    );
                    let attempt = store::events_out::Attempt {
                        error: Some(error),
                        ..Default::default()
                    };
                    finish(shared, &c, chrono::Utc::now(), attempt, next);
                    release(shared, rest, retry_time(next));
                    return;
                }
            };
        }
        let Some(keys) = secrets.as_ref() else { return };
        let at = chrono::Utc::now();
        let sent = send::send(
            &shared.clients,
            &c.url,
            c.allow_private,
            keys,
            &c.event_id,
            c.body.as_bytes().to_vec(),
        )
        .await;
        let now = chrono::Utc::now();
        let next = match sent.attempt.status {
            Some(200..=299) => Next::Delivered,
            Some(410) => Next::Gone,
            Some(429 | 503) => {
                let ra = sent
                    .retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, now));
                shared
                    .schedule
                    .after_failure(c.created_at, c.attempts, now, ra)
            }
            _ => shared
                .schedule
                .after_failure(c.created_at, c.attempts, now, None),
        };
        finish(shared, &c, at, sent.attempt, next);
        match next {
            Next::Delivered | Next::GiveUp => {}
            Next::Retry(_) | Next::Gone => {
                release(shared, rest, retry_time(next));
                return;
            }
        }
    }
}

fn retry_time(next: Next) -> Option<chrono::DateTime<chrono::Utc>> {
    match next {
        Next::Retry(t) => Some(t),
        _ => None,
    }
}

/// Counts, logs and hands in attempt `attempt` of `c`, made at `at`.
fn finish(
    shared: &Shared,
    c: &Claimed,
    at: chrono::DateTime<chrono::Utc>,
    attempt: store::events_out::Attempt,
    next: Next,
) {
    metrics::attempt(c, &attempt, next);
    match next {
        Next::Gone => {
            tracing::warn!(endpoint = %c.endpoint, "the endpoint answered 410 Gone: disabled")
        }
        Next::GiveUp => {
            tracing::warn!(endpoint = %c.endpoint, event_id = %c.event_id, attempts = c.attempts, "delivery given up")
        }
        _ => {}
    }
    shared.completer.push(Completion::Attempted {
        id: c.id,
        lease: c.lease,
        at,
        attempt,
        next,
    });
}

/// Gives back the unsent `rest`, due no earlier than `not_before`.
fn release(
    shared: &Shared,
    rest: impl Iterator<Item = Claimed>,
    not_before: Option<chrono::DateTime<chrono::Utc>>,
) {
    for c in rest {
        shared.completer.push(Completion::Released {
            id: c.id,
            lease: c.lease,
            not_before,
        });
    }
}
