//! Which sources the board can act through, and their provider: what the
//! page's capabilities are read from (no credential is opened).

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A source with API settings, and its provider (`yeastar`, `dialpad`).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SourceProvider {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub provider: String,
}

/// Every source with API settings, by name.
pub async fn providers(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<SourceProvider>, diesel::result::Error> {
    diesel::sql_query("SELECT source, provider FROM source_apis ORDER BY source")
        .load(conn)
        .await
}
