//! Photo answers kept by what they are made of. A `Photo` resolved for one field of one kept document, with
//! the same variables, from an equal record, in the same view-link window, is the same JSON every time: so
//! each such answer is kept, and a request that reads the same record again takes it instead of resolving its
//! fields. A gallery page of 20 photos resolves about 200 fields; after a comment on one of them, the next page
//! resolves that photo's fields alone.
//!
//! Nothing here can go stale: the record read for this request is compared with the one the kept answer was
//! made from (all of it: a new comment, an edit or processing changes it), so this holds with the response
//! cache off too. Not kept: answers with an error in them; answers that read anything beyond the record (a
//! comment page past the kept first comments, `Comment.photo`); documents asking for a caller's own fields
//! (`viewerCanEdit`, `viewerCanDelete`); mutations and subscriptions. View links are signed for the start of
//! their window (`photos::view_url_window`), which is part of the key, so a kept link is the one the request
//! would sign: it lasts as long.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};
use uuid::Uuid;

use crate::catalog;
use crate::domain::photos;

/// What the kept answers may weigh (`weight`): a few MB, about a thousand gallery photos.
const KEPT_BYTES: u64 = 8 * 1024 * 1024;

/// The photo answers kept, by what makes them.
pub struct Fragments {
    kept: quick_cache::sync::Cache<Key, Arc<Fragment>, Weight>,
    /// Hashes variables into keys, with keys of its own: nobody outside can make two sets collide.
    hasher: RandomState,
}

/// The document a query runs, for its photo answers: set on a request only when they may be kept.
#[derive(Clone, Copy)]
pub struct Selection {
    /// `Parsed::id`: a document in the documents cache.
    document: u64,
    /// A hash of the request's operation name and variables.
    variables: u64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    photo: Uuid,
    selection: (u64, u64),
    /// Where the field returning the photo is in the document: its selection.
    field: (usize, usize),
    /// The view-link window, in seconds.
    window: i64,
}

struct Fragment {
    photo: Arc<catalog::Photo>,
    value: Value,
    bytes: u64,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Arc<Fragment>> for Weight {
    fn weight(&self, _: &Key, fragment: &Arc<Fragment>) -> u64 {
        fragment.bytes
    }
}

tokio::task_local! {
    /// Set while a photo's fields resolve: whether one of them read more than the record.
    static BEYOND: Arc<AtomicBool>;
}

/// Called by a field of a photo that reads more than its record (the table, another photo): its answer is
/// not kept.
pub fn reads_beyond_the_record() {
    let _ = BEYOND.try_with(|beyond| beyond.store(true, Ordering::Relaxed));
}

impl Fragments {
    pub fn new() -> Self {
        let kept = quick_cache::sync::Cache::with_weighter(4096, KEPT_BYTES, Weight);
        Self { kept, hasher: RandomState::new() }
    }

    /// The selection of a request running kept document `document`.
    pub fn selection(&self, document: u64, request: &async_graphql::Request) -> Selection {
        let variables = if request.variables.is_empty() && request.operation_name.is_none() {
            0
        } else {
            let variables = serde_json::to_string(&request.variables).unwrap_or_default();
            self.hasher.hash_one((&request.operation_name, variables))
        };
        Selection { document, variables }
    }

    /// `photo` resolved as `resolve` does, or as it was before from an equal record.
    pub async fn resolve<T: OutputType>(
        &self,
        photo: &Arc<catalog::Photo>,
        fields: &T,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let Some(selection) = ctx.data_opt::<Selection>() else {
            return fields.resolve(ctx, field).await;
        };
        let key = Key {
            photo: photo.id,
            selection: (selection.document, selection.variables),
            field: (field.pos.line, field.pos.column),
            window: photos::view_url_window().timestamp(),
        };
        if let Some(kept) = self.kept.get(&key).filter(|kept| Arc::ptr_eq(&kept.photo, photo) || kept.photo == *photo) {
            return Ok(kept.value.clone());
        }
        let errors = || ctx.query_env.errors.lock().ok().map(|errors| errors.len());
        let before = errors();
        let beyond = Arc::new(AtomicBool::new(false));
        let value = BEYOND.scope(beyond.clone(), fields.resolve(ctx, field)).await?;
        // Another field's error in between only means this answer is not kept this time.
        if !beyond.load(Ordering::Relaxed) && before.is_some() && errors() == before {
            let bytes = weight(&value) + record_weight(photo);
            self.kept.insert(key, Arc::new(Fragment { photo: photo.clone(), value: value.clone(), bytes }));
        }
        Ok(value)
    }
}

/// About the bytes `value` takes in memory.
fn weight(value: &Value) -> u64 {
    const NODE: u64 = 32;
    NODE + match value {
        Value::String(s) => s.len() as u64,
        Value::List(items) => items.iter().map(weight).sum(),
        Value::Object(fields) => fields.iter().map(|(name, value)| name.len() as u64 + weight(value)).sum(),
        _ => 0,
    }
}

/// About the bytes a photo record takes in memory.
fn record_weight(photo: &catalog::Photo) -> u64 {
    let text = |s: &str| s.len() as u64;
    let comments = photo.first_comments.iter().flatten().map(|c| text(&c.body) + text(&c.author_ip) + 64).sum::<u64>();
    std::mem::size_of::<catalog::Photo>() as u64
        + text(&photo.name)
        + photo.description.as_deref().map_or(0, text)
        + text(&photo.uploader_ip)
        + text(&photo.object_key)
        + comments
        + 256
}
