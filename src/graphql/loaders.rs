//! DataLoaders: every per-row lookup is batched into one table call per request tick; each operation (an HTTP
//! request, one operation on a WebSocket) has loaders of its own, so nothing read is kept past it.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use crate::catalog::{Catalog, Photo};
use crate::domain::caller::Caller;
use crate::state::AppState;
use crate::table::TableError;

/// Photos by id, through one BatchGetItem per batch.
pub struct PhotoLoader {
    catalog: Catalog,
}

impl PhotoLoader {
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }
}

impl Loader<Uuid> for PhotoLoader {
    type Value = Arc<Photo>;
    type Error = Arc<TableError>;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Arc<Photo>>, Self::Error> {
        self.catalog.photos(ids).await.map_err(Arc::new)
    }
}

/// Data each HTTP request carries: who is calling, and its own DataLoader (no stale cache across requests).
pub fn request_data(state: &Arc<AppState>, caller: Caller) -> async_graphql::Data {
    let mut data = async_graphql::Data::default();
    data.insert(caller);
    data.insert(new_photo_loader(state));
    data
}

/// Data a WebSocket connection carries for its whole life: who is calling, and nothing read from storage.
/// Each operation on the socket gets its own loader (`execute_stream`): one kept for the socket would answer
/// a renamed or deleted photo as it was when the socket first read it, and hold every photo it ever read.
pub fn connection_data(caller: Caller) -> async_graphql::Data {
    let mut data = async_graphql::Data::default();
    data.insert(caller);
    data
}

/// A photo loader for one operation. With its cache disabled (a subscription, whose request lives as long
/// as the stream) it still batches the lookups of one event, but reads every event's photos afresh.
pub(super) fn new_photo_loader(state: &Arc<AppState>) -> DataLoader<PhotoLoader, HashMapCache> {
    let loader = PhotoLoader::new(state.services.catalog.clone());
    // Batches load in a task of their own, inside the operation's span: their table calls are its children.
    let spawn = |load| tokio::spawn(tracing::Instrument::in_current_span(load));
    DataLoader::with_cache(loader, spawn, HashMapCache::default())
}
