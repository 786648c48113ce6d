//! Raw SQL that is prepared once per connection, for the hot statements of
//! the projections and the inbox.

/// A raw SQL statement (`diesel::sql_query(...).bind(...)`) that is prepared
/// once per connection and reused, like diesel's DSL queries. `sql_query` on
/// its own is never cached, and the hot statements (claim, apply, complete,
/// group-commit insert) would pay a parse and plan on every batch. Only for
/// statements whose SQL text is a constant.
#[derive(Debug, Clone)]
pub struct Cached<Q>(pub Q);

impl<Q> diesel::query_builder::QueryFragment<diesel::pg::Pg> for Cached<Q>
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

/// [`Cached`] whose statement is named by the type `K` (a marker type of
/// its own, one per SQL text): the statement cache finds it by that type
/// instead of building the SQL text and hashing it on every run, which
/// costs a statement of several hundred characters a measurable share of a
/// request (ingest's insert). Only for a constant SQL text with constant
/// bind types, each with a marker type no other statement uses.
#[derive(Debug, Clone)]
pub struct CachedAs<Q, K>(pub Q, pub std::marker::PhantomData<K>);

impl<Q, K> CachedAs<Q, K> {
    /// `query`, cached under `K`.
    pub fn new(query: Q) -> Self {
        CachedAs(query, std::marker::PhantomData)
    }
}

impl<Q, K> diesel::query_builder::QueryFragment<diesel::pg::Pg> for CachedAs<Q, K>
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, K: 'static> diesel::query_builder::QueryId for CachedAs<Q, K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q: diesel::query_builder::Query, K> diesel::query_builder::Query for CachedAs<Q, K> {
    type SqlType = Q::SqlType;
}
