//! Events out (docs/events.md): the outbox the worker's batches write
//! (`outbox.rs`), the endpoints events are delivered to (`endpoints.rs`),
//! and the deliveries the delivery workers claim and complete
//! (`deliveries.rs`), and the console's list of deliveries (`history.rs`).

mod deliveries;
mod endpoints;
mod history;
mod outbox;

pub use deliveries::{
    claim, complete, disable_failing, prune, recover, resend, Attempt, Claimed, Completion,
    DeliveryStats, Next, Pushed, Resent, Room, CLAIM_LEASE,
};
pub use endpoints::{
    add, list, remove, rotate_secret, set_enabled, valid_name, Endpoint, EndpointError,
    NewEndpoint, SigningSecrets, SECRET_PREFIX,
};
pub use history::{deliveries, wake, DeliveryRow, STATES};
pub use outbox::{head, read_after, write, HandOver, Head, StreamEvent, CHANNEL, EVENTS_CHANNEL};
