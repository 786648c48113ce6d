//! What the board reads and locks of a call before acting on it (a
//! hang-up): the leg's state and channel (`call_legs`, written by the
//! worker's projection), and the call's action lock, which keeps to one
//! action per call at a time across every board instance.

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A leg as an action on it needs it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Leg {
    /// `ringing`, `incall` or `ended` (`domain::LegState::as_str`).
    #[diesel(sql_type = Text)]
    pub state: String,
    /// The PBX's channel of the leg (Yeastar's hang-up API needs it).
    #[diesel(sql_type = Nullable<Text>)]
    pub channel_id: Option<String>,
}

/// The leg `leg_id` of call `call_id` of `source`; `None` when it is not
/// on the board.
pub async fn leg(
    conn: &mut AsyncPgConnection,
    source: &str,
    call_id: &str,
    leg_id: &str,
) -> Result<Option<Leg>, diesel::result::Error> {
    let mut rows: Vec<Leg> = diesel::sql_query(
        "SELECT state, channel_id FROM call_legs WHERE source = $1 AND call_id = $2 AND leg_id = $3",
    )
    .bind::<Text, _>(source)
    .bind::<Text, _>(call_id)
    .bind::<Text, _>(leg_id)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// Takes the action lock of call `call_id` of `source` for the current
/// transaction (an advisory lock, released when it ends); `false` when
/// another transaction (on any board instance) holds it.
pub async fn try_action_lock(
    conn: &mut AsyncPgConnection,
    source: &str,
    call_id: &str,
) -> Result<bool, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let r: Locked = diesel::sql_query(
        "SELECT pg_try_advisory_xact_lock(
                    hashtextextended('switchboard.action:' || $1 || ':' || $2, 0)) AS locked",
    )
    .bind::<Text, _>(source)
    .bind::<Text, _>(call_id)
    .get_result(conn)
    .await?;
    Ok(r.locked)
}

/// The channel of the other party of call `call_id` of `source`, seen from
/// leg `leg_id`: a live leg of the call that is not `leg_id` and has a
/// channel, a trunk party (the caller) first, else the oldest extension.
/// What a transfer or a park moves (Yeastar). `None` when there is none.
pub async fn other_channel(
    conn: &mut AsyncPgConnection,
    source: &str,
    call_id: &str,
    leg_id: &str,
) -> Result<Option<String>, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Channel {
        #[diesel(sql_type = Text)]
        channel_id: String,
    }
    let mut rows: Vec<Channel> = diesel::sql_query(
        "SELECT channel_id FROM call_legs
          WHERE source = $1 AND call_id = $2 AND leg_id <> $3
            AND state <> 'ended' AND channel_id IS NOT NULL
          ORDER BY (kind = 'extension'), leg_id
          LIMIT 1",
    )
    .bind::<Text, _>(source)
    .bind::<Text, _>(call_id)
    .bind::<Text, _>(leg_id)
    .load(conn)
    .await?;
    Ok(rows.pop().map(|r| r.channel_id))
}
