//! Editing a photo's name and description. The photo, its name-index entries (every entry carries the name's
//! words, so all of them are rewritten when the words change; none when they do not, as in a description
//! edit) and the token counts change in one transaction, on the condition that the photo is still the
//! revision read, so concurrent edits cannot leave an entry or a count of a name the photo no longer has.
//! The edit is announced on the event feed in the same transaction. A name has at most
//! `words::MAX_NAME_TOKENS` tokens, so a rename from any name to any other fits the transaction.

use std::collections::BTreeSet;

use chrono::Utc;
use uuid::Uuid;

use super::search::token_entry;
use super::{Catalog, Event, Photo, keys, s, words};
use crate::catalog::attributes as attr;
use crate::table::{Check, ItemExt, TableError, Write};
use crate::text::{PhotoDescription, PhotoName};

/// DynamoDB's most items per transaction.
const MAX_WRITES: usize = 100;
/// Tries against concurrent edits of the same photo.
const ATTEMPTS: u32 = 10;

/// Why an edit was not made.
#[derive(Debug)]
pub enum EditError {
    /// The photo is gone.
    NotFound,
    /// The new name changes more index entries than one transaction holds: only for a photo indexed before
    /// names had at most `words::MAX_NAME_TOKENS` tokens.
    TooManyChanges,
    Table(TableError),
}

impl From<TableError> for EditError {
    fn from(error: TableError) -> Self {
        Self::Table(error)
    }
}

impl From<anyhow::Error> for EditError {
    fn from(error: anyhow::Error) -> Self {
        Self::Table(error.into())
    }
}

impl Catalog {
    /// Give photo `id` the name `name` and the description `description` (`Some(None)` removes it); `None`
    /// keeps what the photo has. The edited photo and its new revision.
    pub async fn edit_photo(
        &self,
        id: Uuid,
        name: Option<&PhotoName>,
        description: Option<Option<&PhotoDescription>>,
    ) -> Result<(Photo, i64), EditError> {
        for _ in 0..ATTEMPTS {
            let item = self.table.get(&keys::photo(id)).await?.ok_or(EditError::NotFound)?;
            let revision = item.opt_number(attr::REVISION).unwrap_or(0);
            let photo = Photo::from_item(&item)?;
            let edited = Photo {
                name: name.map_or_else(|| photo.name.clone(), |name| name.as_str().to_string()),
                description: description
                    .map_or_else(|| photo.description.clone(), |new| new.map(|text| text.as_str().to_string())),
                ..photo.clone()
            };
            let writes = edit_writes(self, &photo, &edited, revision)?;
            match self.table.transact(writes).await {
                Ok(()) => return Ok((edited, revision + 1)),
                Err(TableError::ConditionFailed | TableError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(TableError::Conflict.into())
    }
}

fn edit_writes(catalog: &Catalog, photo: &Photo, edited: &Photo, revision: i64) -> Result<Vec<Write>, EditError> {
    let (old_words, new_words) = (words::words(&photo.name), words::words(&edited.name));
    // The same words, the same entries: a description edit (or a name differing only in case, accents or
    // punctuation) rewrites none of them.
    let renamed = old_words != new_words;
    let old: BTreeSet<String> = if renamed { words::tokens(&old_words) } else { BTreeSet::new() };
    let new: BTreeSet<String> = if renamed { words::tokens(&new_words) } else { BTreeSet::new() };
    let joined = new_words.join(" ");
    let mut writes = vec![Write::Update {
        key: keys::photo(photo.id),
        add: vec![(attr::REVISION.into(), 1)],
        set: vec![
            (attr::NAME.into(), s(&edited.name)),
            // An empty description is none (`Photo::from_item`).
            (attr::DESCRIPTION.into(), s(edited.description.as_deref().unwrap_or_default())),
        ],
        checks: vec![Check::Revision(attr::REVISION.into(), revision)],
    }];
    for token in &new {
        writes.push(Write::Put(token_entry(token, edited, &joined)));
        if !old.contains(token) {
            writes.push(Write::Increment {
                key: keys::name_token_count(token, photo.name_shard),
                attr: attr::COUNT.into(),
                by: 1,
            });
        }
    }
    for token in old.difference(&new) {
        writes.push(Write::Delete(keys::name_token(token, photo.name_shard, photo.uploaded_at, photo.id)));
        writes.push(Write::Increment {
            key: keys::name_token_count(token, photo.name_shard),
            attr: attr::COUNT.into(),
            by: -1,
        });
    }
    let event = Event::PhotoEdited { photo: edited.clone(), revision: revision + 1 };
    writes.extend(catalog.feed_entry(&event, Utc::now()));
    if writes.len() > MAX_WRITES {
        return Err(EditError::TooManyChanges);
    }
    Ok(writes)
}
