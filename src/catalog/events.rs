//! The event feed: every new photo and comment is also an item in a per-minute partition, written in the
//! same transaction as the thing it announces, so instances that follow the feed see exactly what committed.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AddedComment, Catalog, Comment, Photo, keys, parse_time};
use crate::catalog::attributes as attr;
use crate::table::{Index, Item, ItemExt, PK, Query, SK, TTL, TableResult, Value, Write};

/// How long feed entries are kept (DynamoDB's TTL removes them).
const EVENT_LIFETIME: chrono::Duration = chrono::Duration::days(1);
/// Most events read per partition per poll.
const EVENTS_PER_READ: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Photo(Photo),
    Comment(AddedComment),
    /// A photo's processing ended (READY or FAILED).
    PhotoUpdated(Photo),
    /// A photo's name or description was edited, making this its `revision`.
    PhotoEdited {
        photo: Photo,
        revision: i64,
    },
    /// A photo was deleted.
    PhotoRemoved(Uuid),
    /// A comment was deleted.
    CommentRemoved {
        photo_id: Uuid,
        id: Uuid,
    },
}

impl Event {
    /// The id of what the event announces: unique, so instances de-duplicate by it.
    pub fn id(&self) -> Uuid {
        match self {
            Self::Photo(photo) => photo.id,
            Self::Comment(added) => added.comment.id,
            // Unique per photo and outcome (a photo's processing ends once), and unlike the photo's own id.
            Self::PhotoUpdated(photo) => {
                Uuid::from_u128(photo.id.as_u128() ^ 0x7570_6461_7465_645f_7072_6f63_6573_7365)
            }
            // Unique per photo and revision.
            Self::PhotoEdited { photo, revision } => {
                Uuid::from_u128(photo.id.as_u128() ^ 0x6564_6974_6564_5f5f_0000_0000_0000_0000 ^ (*revision as u128))
            }
            // A photo is deleted once.
            Self::PhotoRemoved(id) => Uuid::from_u128(id.as_u128() ^ 0x7265_6d6f_7665_645f_7068_6f74_6f5f_5f5f),
            // A comment is deleted once.
            Self::CommentRemoved { id, .. } => {
                Uuid::from_u128(id.as_u128() ^ 0x7265_6d6f_7665_645f_636f_6d6d_656e_7421)
            }
        }
    }

    /// What the event is, and the item it announces.
    fn parts(&self) -> (&'static str, Item) {
        match self {
            Self::Photo(photo) => ("photo", photo.to_item()),
            Self::Comment(AddedComment { comment, previous }) => {
                let mut payload = comment.to_item();
                if let Some(previous) = previous {
                    payload.insert(attr::PREVIOUS_AT.into(), Value::S(keys::time(*previous)));
                }
                ("comment", payload)
            }
            Self::PhotoUpdated(photo) => ("photoUpdated", photo.to_item()),
            Self::PhotoEdited { photo, revision } => {
                let mut payload = photo.to_item();
                payload.insert(attr::REVISION.into(), Value::N(*revision));
                ("photoEdited", payload)
            }
            Self::PhotoRemoved(id) => ("photoRemoved", Item::from([(attr::ID.into(), Value::S(id.to_string()))])),
            Self::CommentRemoved { photo_id, id } => (
                "commentRemoved",
                Item::from([
                    (attr::PHOTO_ID.into(), Value::S(photo_id.to_string())),
                    (attr::ID.into(), Value::S(id.to_string())),
                ]),
            ),
        }
    }

    fn from_parts(kind: &str, payload: &Item) -> anyhow::Result<Self> {
        match kind {
            "photo" => Ok(Self::Photo(Photo::from_item(payload)?)),
            "comment" => Ok(Self::Comment(AddedComment {
                comment: Comment::from_item(payload)?,
                previous: payload
                    .opt_string(attr::PREVIOUS_AT)
                    .is_some()
                    .then(|| parse_time(payload, attr::PREVIOUS_AT))
                    .transpose()?,
            })),
            "photoUpdated" => Ok(Self::PhotoUpdated(Photo::from_item(payload)?)),
            "photoEdited" => {
                Ok(Self::PhotoEdited { photo: Photo::from_item(payload)?, revision: payload.number(attr::REVISION)? })
            }
            "photoRemoved" => Ok(Self::PhotoRemoved(Uuid::try_parse(payload.string(attr::ID)?)?)),
            "commentRemoved" => Ok(Self::CommentRemoved {
                photo_id: Uuid::try_parse(payload.string(attr::PHOTO_ID)?)?,
                id: Uuid::try_parse(payload.string(attr::ID)?)?,
            }),
            other => anyhow::bail!("unknown event kind {other:?}"),
        }
    }

    pub(super) fn to_item(&self, at: DateTime<Utc>) -> Item {
        let key = keys::event(at, self.id());
        let (kind, payload) = self.parts();
        Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (attr::KIND.into(), Value::S(kind.into())),
            // The announced item itself, so followers need no second read.
            (attr::PAYLOAD.into(), Value::S(serde_json::to_string(&payload).unwrap_or_default())),
            (TTL.into(), Value::N((at + EVENT_LIFETIME).timestamp())),
        ])
    }

    fn from_item(item: &Item) -> anyhow::Result<Self> {
        Self::from_parts(item.string(attr::KIND)?, &serde_json::from_str(item.string(attr::PAYLOAD)?)?)
    }

    /// The event as a message for other instances (`domain::events`): `{"kind": …, "payload": {…}}`.
    pub fn to_message(&self) -> String {
        let (kind, payload) = self.parts();
        serde_json::json!({ "kind": kind, "payload": payload }).to_string()
    }

    pub fn from_message(message: &[u8]) -> anyhow::Result<Self> {
        #[derive(serde::Deserialize)]
        struct Message {
            kind: String,
            payload: Item,
        }
        let message: Message = serde_json::from_slice(message)?;
        Self::from_parts(&message.kind, &message.payload)
    }
}

impl Catalog {
    /// The feed entry announcing `event`, for the transaction that commits what it announces; none when
    /// instances hear of events from elsewhere (`without_feed`).
    pub(super) fn feed_entry(&self, event: &Event, at: DateTime<Utc>) -> Option<Write> {
        self.feed.then(|| Write::Put(event.to_item(at)))
    }

    /// Events stamped `from..=to`, oldest first: one query per minute the range touches.
    ///
    /// The newest minute is read first. Events on one photo are stamped in commit order, so an event that
    /// committed before one this read sees was already committed when the older minutes were read: a reader
    /// never gets a newer event while an older one still waits to appear in a minute it read earlier.
    pub async fn events_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TableResult<Vec<Event>> {
        let mut minutes = vec![to];
        let mut minute = to;
        while keys::event_partition(minute) != keys::event_partition(from) {
            minute = (minute - chrono::Duration::minutes(1)).max(from);
            minutes.push(minute);
        }
        let mut per_minute = Vec::with_capacity(minutes.len());
        for minute in minutes {
            let query = Query {
                index: Index::Table,
                pk: keys::event_partition(minute),
                sk_from: Some(keys::time(from)),
                sk_to: Some(format!("{}~", keys::time(to))),
                descending: false,
                limit: EVENTS_PER_READ,
                start_after: None,
            };
            let items = self.table.query(&query).await?;
            per_minute.push(items.iter().map(Event::from_item).collect::<anyhow::Result<Vec<_>>>()?);
        }
        Ok(per_minute.into_iter().rev().flatten().collect())
    }
}
