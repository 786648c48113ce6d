//! A lane: one claimed run (a subject's due deliveries to one endpoint)
//! sent in order on the pooled client. A 2xx or a give-up lets the next go;
//! a retry or a 410 stops the run, and the rest is given back (behind the
//! retry's time). So is the rest when the worker stops, or when the run's
//! lease could run out before the next attempt ends. One attempt
//! ([`attempt`]) is shared with the handed-over chains (`handoff.rs`).

use std::time::Instant;

use chrono::{DateTime, Utc};
use store::events_out::{Claimed, Completion, Next, SigningSecrets};
use tokio::sync::OwnedSemaphorePermit;

use super::{metrics, parse_retry_after, send, Shared};

/// Sends `run` (one endpoint, one subject, in order), holding `slot`.
pub async fn send_run(shared: &Shared, run: Vec<Claimed>, slot: OwnedSemaphorePermit) {
    let claimed = Instant::now();
    let Some(endpoint) = run.first().map(|c| c.endpoint_id) else {
        return;
    };
    // Claims take only the room there is: this fails only when handed-over
    // chains took it meanwhile; the run waits for a claim again.
    let Ok(_permit) = shared.limits.endpoint(endpoint).try_acquire_owned() else {
        release(shared, run.into_iter(), None);
        return;
    };
    let _slot = slot;
    let mut secrets = None;
    let mut rest = run.into_iter();
    while let Some(c) = rest.next() {
        if !may_send(shared, claimed) {
            release(shared, std::iter::once(c).chain(rest), None);
            return;
        }
        if let Some(not_before) = stops(attempt(shared, &c, &mut secrets).await) {
            release(shared, rest, not_before);
            return;
        }
    }
}

/// Whether another attempt of deliveries leased at `leased` may start: the
/// worker is not stopping, and the lease outlasts the attempt with room.
pub fn may_send(shared: &Shared, leased: Instant) -> bool {
    let lease_left = shared.lease.saturating_sub(leased.elapsed());
    !*shared.stopping.borrow() && lease_left > shared.timeout * 2
}

/// Whether `next` stops a run, and then when the rest is due again.
pub fn stops(next: Next) -> Option<Option<DateTime<Utc>>> {
    match next {
        Next::Delivered | Next::GiveUp => None,
        Next::Retry(t) => Some(Some(t)),
        Next::Gone => Some(None),
    }
}

/// One attempt of `c`, signed with its endpoint's secrets (opened into
/// `secrets` on first use), counted, logged and handed to the completer.
/// Returns what follows it.
pub async fn attempt(shared: &Shared, c: &Claimed, secrets: &mut Option<SigningSecrets>) -> Next {
    if secrets.is_none() {
        match c.secrets(&shared.keys) {
            Ok(s) => *secrets = Some(s),
            Err(e) => {
                let now = Utc::now();
                let next = shared
                    .schedule
                    .after_failure(c.created_at, c.attempts, now, None);
                let attempt = store::events_out::Attempt {
                    error: Some(format!("cannot open the endpoint's secret: {e}")),
                    ..Default::default()
                };
                finish(shared, c, now, attempt, next);
                return next;
            }
        }
    }
    let Some(keys) = secrets.as_ref() else {
        return Next::Retry(Utc::now());
    };
    let at = Utc::now();
    let sent = send::send(
        &shared.clients,
        &c.url,
        c.allow_private,
        keys,
        &c.event_id,
        c.body.as_bytes().to_vec(),
    )
    .await;
    let now = Utc::now();
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
    finish(shared, c, at, sent.attempt, next);
    next
}

/// Counts, logs and hands in attempt `attempt` of `c`, made at `at`.
fn finish(
    shared: &Shared,
    c: &Claimed,
    at: DateTime<Utc>,
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
pub fn release(
    shared: &Shared,
    rest: impl Iterator<Item = Claimed>,
    not_before: Option<DateTime<Utc>>,
) {
    for c in rest {
        shared.completer.push(Completion::Released {
            id: c.id,
            lease: c.lease,
            not_before,
        });
    }
}
