//! What the board's two kinds of event streams (the board's own,
//! `events.rs`, and the API's, `api_stream/`) share: the answer's headers,
//! their timers, and the gauge of open streams.

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::Stream;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// A `text/event-stream` answer of `body`: not stored, not buffered by
/// nginx.
pub fn response<S>(body: S) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
{
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// Ticks every `period` (at least 100 ms), the first one period from now.
pub fn interval(period: Duration) -> Interval {
    let period = period.max(Duration::from_millis(100));
    let mut i = tokio::time::interval_at(Instant::now() + period, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

/// [`interval`] whose first tick comes at a random point of the first
/// period: after a restart every client reconnects within a second, and
/// their checks must not all hit the database at once.
pub fn jittered(period: Duration) -> Interval {
    let period = period.max(Duration::from_millis(100));
    let first = period.mul_f64(0.5 + fastrand::f64() * 0.5);
    let mut i = tokio::time::interval_at(Instant::now() + first, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

/// Counts an open stream in the gauge `name` while alive.
pub struct Open(&'static str);

impl Open {
    pub fn new(name: &'static str) -> Open {
        metrics::gauge!(name).increment(1.0);
        Open(name)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}
