//! DataLoaders: every per-row lookup is batched into one table call per request tick.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::catalog::{Catalog, Photo};
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
