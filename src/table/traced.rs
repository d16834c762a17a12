//! A table whose every call is a span (named as the DynamoDB operation it is), so a trace shows an
//! operation's table calls as its children. Used only when traces are exported (`--otlp-endpoint`): the spans'
//! target is this module's, which `telemetry` sends to the exporter and never to the logs. Why by hand: the
//! AWS SDK's own spans cover DynamoDB alone, and the embedded table is just as much a backend call.

use std::sync::Arc;

use tracing::Instrument;

use super::{Found, Item, Key, Query, Stored, Table, TableOp, TableResult, TableStats, Write};

/// The target of the operation spans (`telemetry::TARGET`): a call is traced only within one of them, so the
/// background work's calls (queue scans, feed polls) make no traces of their own.
pub const OPERATION_TARGET: &str = "photoshare::trace";

/// `inner`, with a span around each call.
pub struct Traced(pub Arc<dyn Table>);

/// The span of one call of `op`: a child of the current operation's span, or none outside one.
fn span(op: TableOp) -> tracing::Span {
    let current = tracing::Span::current();
    if !current.metadata().is_some_and(|meta| meta.target() == OPERATION_TARGET) {
        return tracing::Span::none();
    }
    tracing::info_span!("table", otel.name = op.name(), otel.kind = "client", db.operation.name = op.name())
}

#[async_trait::async_trait]
impl Table for Traced {
    async fn ensure_created(&self) -> TableResult<()> {
        self.0.ensure_created().await
    }

    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        self.0.get(key).instrument(span(TableOp::Get)).await
    }

    async fn batch_get(&self, keys: &[Key]) -> TableResult<Vec<Item>> {
        self.0.batch_get(keys).instrument(span(TableOp::BatchGet)).await
    }

    async fn batch_get_kept(&self, keys: &[Key], kept: &[Option<Stored>]) -> TableResult<Vec<Found>> {
        self.0.batch_get_kept(keys, kept).instrument(span(TableOp::BatchGet)).await
    }

    async fn query(&self, query: &Query) -> TableResult<Vec<Item>> {
        self.0.query(query).instrument(span(TableOp::Query)).await
    }

    async fn query_only(&self, query: &Query, only: &[&str]) -> TableResult<Vec<Item>> {
        self.0.query_only(query, only).instrument(span(TableOp::Query)).await
    }

    async fn transact(&self, writes: Vec<Write>) -> TableResult<()> {
        self.0.transact(writes).instrument(span(TableOp::Transact)).await
    }

    async fn put_many(&self, items: Vec<Item>) -> TableResult<()> {
        self.0.put_many(items).instrument(span(TableOp::PutMany)).await
    }

    async fn add(&self, key: &Key, attr: &str, by: i64) -> TableResult<()> {
        self.0.add(key, attr, by).instrument(span(TableOp::Add)).await
    }

    fn stats(&self) -> &TableStats {
        self.0.stats()
    }
}
