//! Photos decoded once per stored version. A gallery page reads 20 photo items, and decoding them (bytes into
//! attributes into `Photo`, 60 kept comments among them) was a third of its CPU time, though between two
//! reads almost none of them changes. Each photo decoded is kept here with the exact stored form it came
//! from; the next read hands that form back to the table (`Table::batch_get_kept`), which compares it with
//! what is stored now and decodes only what differs. So what is served is always what is stored: nothing
//! here is ever stale, and no write has to tell this cache anything.
//!
//! Only a table that reads items as stored bytes (the embedded one) can answer "unchanged"; on DynamoDB every
//! read decodes, and nothing is kept.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::keys;
use super::photos::Photo;
use crate::table::{Found, Stored, Table, TableError, TableResult};

/// Memory the kept photos may take (estimated, see `Weight`): some thousands of photos, a few gallery pages
/// of every size and the photos people open.
const CAPACITY_BYTES: u64 = 16 * 1024 * 1024;
const ESTIMATED_PHOTOS: usize = 8_192;

/// The photos decoded lately, by id, each with the stored form it was decoded from.
pub(super) struct DecodedPhotos(quick_cache::sync::Cache<Uuid, (Stored, Arc<Photo>), Weight>);

/// A kept photo's weight: its stored form twice (the decoded photo holds the same text, in structs) and the
/// struct itself.
#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Uuid, (Stored, Arc<Photo>)> for Weight {
    fn weight(&self, _: &Uuid, (stored, _): &(Stored, Arc<Photo>)) -> u64 {
        (2 * stored.len() + std::mem::size_of::<Photo>()) as u64
    }
}

impl DecodedPhotos {
    pub(super) fn new() -> Self {
        Self(quick_cache::sync::Cache::with_weighter(ESTIMATED_PHOTOS, CAPACITY_BYTES, Weight))
    }

    /// The photos with these ids that exist, by id: the kept one for each item stored as it was when it was
    /// decoded, a newly decoded one (kept from now on) for every other.
    pub(super) async fn read(&self, table: &dyn Table, ids: &[Uuid]) -> TableResult<HashMap<Uuid, Arc<Photo>>> {
        let keys: Vec<_> = ids.iter().map(|id| keys::photo(*id)).collect();
        let kept: Vec<Option<(Stored, Arc<Photo>)>> = ids.iter().map(|id| self.0.get(id)).collect();
        let forms: Vec<Option<Stored>> = kept.iter().map(|k| k.as_ref().map(|(stored, _)| stored.clone())).collect();
        let mut photos = HashMap::with_capacity(ids.len());
        for found in table.batch_get_kept(&keys, &forms).await? {
            let photo = match found {
                Found::Kept(i) => match kept.get(i) {
                    Some(Some((_, photo))) => photo.clone(),
                    _ => return Err(TableError::Internal(anyhow::anyhow!("the table found a kept form never given"))),
                },
                Found::Item(item, stored) => {
                    let photo = Arc::new(Photo::from_item(&item)?);
                    if let Some(stored) = stored {
                        self.0.insert(photo.id, (stored, photo.clone()));
                    }
                    photo
                }
            };
            photos.insert(photo.id, photo);
        }
        Ok(photos)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Catalog, photos};
    use super::*;
    use crate::table::Write;
    use crate::table::embedded::scratch::Scratch;

    #[tokio::test]
    async fn a_photo_is_decoded_again_only_when_its_item_changed() {
        let scratch = Scratch::new();
        let table = scratch.table.clone();
        let catalog = Catalog::new(table.clone());
        let (recorded, _) = catalog.record_photo(&photos::tests::photo(0, Some(Vec::new()))).await.unwrap();
        let read = |catalog: Catalog| async move { catalog.photos(&[recorded.id]).await.unwrap() };

        let first = read(catalog.clone()).await[&recorded.id].clone();
        assert_eq!(*first, recorded);
        let again = read(catalog.clone()).await[&recorded.id].clone();
        assert!(Arc::ptr_eq(&first, &again), "unchanged: the photo decoded before");

        let renamed = crate::text::PhotoName::parse("renamed").unwrap();
        catalog.edit_photo(recorded.id, Some(&renamed), None).await.unwrap();
        let edited = read(catalog.clone()).await[&recorded.id].clone();
        assert_eq!(edited.name, "renamed", "changed: decoded again");
        assert_eq!(*edited, *read(Catalog::new(table.clone())).await[&recorded.id], "as a fresh instance reads it");

        table.transact(vec![Write::Delete(keys::photo(recorded.id))]).await.unwrap();
        assert!(read(catalog).await.is_empty(), "deleted: gone, though it was kept");
    }
}
