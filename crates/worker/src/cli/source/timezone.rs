//! `source set-timezone`: the PBX's wall clock.

use anyhow::Result;
use diesel_async::AsyncPgConnection;

/// Sets the time zone the source's CDR times are read in and its "today"
/// begins in.
pub async fn set(conn: &mut AsyncPgConnection, name: &str, zone: &str) -> Result<()> {
    let zone = store::sources::set_timezone(conn, name, zone).await?;
    println!("{name}: time zone {zone} (CDR times are read in it from now on; calls applied before keep theirs)");
    Ok(())
}
