//! Photos and pending uploads as items, and their access patterns.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::keys::{self, PhotoCursor};
use super::{Catalog, Event, parse_id, parse_time, s};
use crate::table::{GSI1_PK, GSI1_SK, Item, ItemExt, PK, SK, TTL, TableError, TableResult, Value, Write};

/// How long after its ticket expires a pending upload record stays before DynamoDB's TTL removes it.
const UPLOAD_RECORD_GRACE: chrono::Duration = chrono::Duration::days(1);

/// A recorded photo.
#[derive(Debug, Clone, PartialEq)]
pub struct Photo {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub uploaded_at: DateTime<Utc>,
    pub uploader_ip: String,
    /// Where the bytes are in the bucket.
    pub object_key: String,
    pub comment_count: i64,
}

/// An upload ticket handed out and not yet completed.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub id: Uuid,
    pub object_key: String,
    pub content_type: String,
    pub name: String,
    pub description: Option<String>,
    pub uploader_ip: String,
    pub expires_at: DateTime<Utc>,
}

impl Photo {
    pub(super) fn to_item(&self) -> Item {
        let key = keys::photo(self.id);
        let mut item = Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (GSI1_PK.into(), s(keys::PHOTO_FEED)),
            (GSI1_SK.into(), Value::S(keys::photo_feed_sk(self.uploaded_at, self.id))),
            ("id".into(), Value::S(self.id.to_string())),
            ("name".into(), s(&self.name)),
            ("contentType".into(), s(&self.content_type)),
            ("sizeBytes".into(), Value::N(self.size_bytes)),
            ("uploadedAt".into(), Value::S(keys::time(self.uploaded_at))),
            ("uploaderIp".into(), s(&self.uploader_ip)),
            ("objectKey".into(), s(&self.object_key)),
            ("commentCount".into(), Value::N(self.comment_count)),
        ]);
        if let Some(description) = &self.description {
            item.insert("description".into(), s(description));
        }
        if let (Some(width), Some(height)) = (self.width, self.height) {
            item.insert("width".into(), Value::N(width));
            item.insert("height".into(), Value::N(height));
        }
        item
    }

    pub(super) fn from_item(item: &Item) -> anyhow::Result<Self> {
        Ok(Self {
            id: parse_id(item)?,
            name: item.string("name")?.to_string(),
            description: item.opt_string("description").map(str::to_string),
            content_type: item.string("contentType")?.to_string(),
            size_bytes: item.number("sizeBytes")?,
            width: item.opt_number("width"),
            height: item.opt_number("height"),
            uploaded_at: parse_time(item, "uploadedAt")?,
            uploader_ip: item.string("uploaderIp")?.to_string(),
            object_key: item.string("objectKey")?.to_string(),
            comment_count: item.opt_number("commentCount").unwrap_or(0),
        })
    }

    /// This photo's position in the gallery.
    pub fn cursor(&self) -> PhotoCursor {
        PhotoCursor { uploaded_at: self.uploaded_at, id: self.id }
    }
}

impl Upload {
    fn to_item(&self) -> Item {
        let key = keys::upload(self.id);
        let mut item = Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            ("id".into(), Value::S(self.id.to_string())),
            ("objectKey".into(), s(&self.object_key)),
            ("contentType".into(), s(&self.content_type)),
            ("name".into(), s(&self.name)),
            ("uploaderIp".into(), s(&self.uploader_ip)),
            ("expiresAt".into(), Value::S(keys::time(self.expires_at))),
            (TTL.into(), Value::N((self.expires_at + UPLOAD_RECORD_GRACE).timestamp())),
        ]);
        if let Some(description) = &self.description {
            item.insert("description".into(), s(description));
        }
        item
    }

    fn from_item(item: &Item) -> anyhow::Result<Self> {
        Ok(Self {
            id: parse_id(item)?,
            object_key: item.string("objectKey")?.to_string(),
            content_type: item.string("contentType")?.to_string(),
            name: item.string("name")?.to_string(),
            description: item.opt_string("description").map(str::to_string),
            uploader_ip: item.string("uploaderIp")?.to_string(),
            expires_at: parse_time(item, "expiresAt")?,
        })
    }
}

impl Catalog {
    pub async fn put_upload(&self, upload: &Upload) -> TableResult<()> {
        self.table.transact(vec![Write::Put(upload.to_item())]).await
    }

    pub async fn upload(&self, id: Uuid) -> TableResult<Option<Upload>> {
        let item = self.table.get(&keys::upload(id)).await?;
        Ok(item.as_ref().map(Upload::from_item).transpose()?)
    }

    /// Index the photo's name, then record it, retire its upload and announce it on the event feed, in one
    /// transaction. If the photo
    /// was recorded already (a retried or concurrent completion), the stored photo is returned with `false`
    /// and nothing is written.
    pub async fn record_photo(&self, photo: &Photo) -> TableResult<(Photo, bool)> {
        self.index_name(photo).await?;
        let writes = vec![
            Write::PutIfAbsent(photo.to_item()),
            Write::Delete(keys::upload(photo.id)),
            Write::Put(Event::Photo(photo.clone()).to_item(photo.uploaded_at)),
        ];
        match self.table.transact(writes).await {
            Ok(()) => Ok((photo.clone(), true)),
            Err(TableError::ConditionFailed) => {
                let stored = self.photo(photo.id).await?;
                let stored = stored.ok_or_else(|| {
                    TableError::Internal(anyhow::anyhow!("photo {} vanished after a conflict", photo.id))
                })?;
                Ok((stored, false))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn photo(&self, id: Uuid) -> TableResult<Option<Photo>> {
        let item = self.table.get(&keys::photo(id)).await?;
        Ok(item.as_ref().map(Photo::from_item).transpose()?)
    }

    /// The photos with these ids that exist, by id: one batch read.
    pub async fn photos(&self, ids: &[Uuid]) -> TableResult<HashMap<Uuid, Photo>> {
        let keys: Vec<_> = ids.iter().map(|id| keys::photo(*id)).collect();
        let items = self.table.batch_get(&keys).await?;
        items
            .iter()
            .map(|item| Photo::from_item(item).map(|p| (p.id, p)))
            .collect::<anyhow::Result<_>>()
            .map_err(Into::into)
    }
}
