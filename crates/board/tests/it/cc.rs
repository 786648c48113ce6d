//! Helpers of the call-centre tests: the scenarios of
//! `traffic::scenario::callcentre` (through `testkit::plan`, the queue
//! `6405` and agents `1001` and `1002` of the Yeastar source `pbx`), sent
//! signed through the real ingest, in order, each waited for; an API token;
//! reading the API.

use serde_json::Value;
use testkit::plan::{self, CALLERS};
use testkit::Stack;
use traffic::scenario::{Scenario, CALLCENTRE_SCENARIOS};

use crate::helpers::http;

/// The Yeastar queue of the scenarios, and its agents.
pub const QUEUE: &str = plan::QUEUE;
pub const AGENTS: [&str; 2] = ["1001", "1002"];

/// The Yeastar call-centre scenario `name` as call `n`, from caller
/// `CALLERS[caller]`.
pub fn yeastar(name: &str, caller: usize, n: u64) -> Scenario {
    let pick = CALLCENTRE_SCENARIOS
        .iter()
        .position(|k| *k == name)
        .unwrap_or_else(|| panic!("no scenario {name}"));
    plan::build_callcentre(pick, 0, caller, n)
}

/// The outside number `CALLERS[i]`.
pub fn caller(i: usize) -> &'static str {
    CALLERS[i % CALLERS.len()]
}

/// Sends the steps of `sc` up to and including the one labelled `upto`
/// (all of them with `None`) to `pbx`, each once processed.
pub async fn play(s: &Stack, sc: &Scenario, upto: Option<&str>) -> anyhow::Result<()> {
    for step in &sc.steps {
        s.deliver("pbx", &step.body).await?;
        if upto == Some(step.label) {
            break;
        }
    }
    Ok(())
}

/// Adds the API token `name` (`worker token add`); returns it.
pub async fn token(s: &Stack, name: &str) -> anyhow::Result<String> {
    let out = testkit::worker_ok(&s.db.url, &["token", "add", name]).await?;
    Ok(out.trim().to_string())
}

/// `GET path` with the `Authorization` value `authz`: status and body.
pub async fn get(s: &Stack, path: &str, authz: &str) -> (u16, String) {
    let r = http()
        .get(format!("{}{path}", s.board().url()))
        .header("Authorization", authz)
        .send()
        .await
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// [`get`] of JSON, which must be 200.
pub async fn json(s: &Stack, path: &str, authz: &str) -> Value {
    let (status, body) = get(s, path, authz).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Rows of `missed_call_actions` (the audit of "done").
pub async fn audited(s: &Stack) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = s.db.conn().await.expect("a connection");
    diesel::sql_query("SELECT count(*) AS n FROM missed_call_actions")
        .get_result::<N>(&mut conn)
        .await
        .expect("counted")
        .n
}
