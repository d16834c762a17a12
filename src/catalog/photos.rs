//! Photos and pending uploads as items, and their access patterns.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::keys::{self, PhotoCursor};
use super::processing::Processing;
use super::queue;
use super::{Catalog, Comment, Event, Page, parse_id, parse_time, s};
use crate::catalog::attributes as attr;
use crate::image_format::ImageFormat;
use crate::table::{GSI1_PK, GSI1_SK, Item, ItemExt, PK, SK, TTL, TableError, TableResult, Value, Write};
use crate::text::{PhotoDescription, PhotoName};

/// How long after its ticket expires a pending upload record stays before DynamoDB's TTL removes it.
const UPLOAD_RECORD_GRACE: chrono::Duration = chrono::Duration::days(1);

/// A recorded photo.
#[derive(Debug, Clone, PartialEq)]
pub struct Photo {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub format: ImageFormat,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub uploaded_at: DateTime<Utc>,
    pub uploader_ip: String,
    /// Where the bytes are in the bucket.
    pub object_key: String,
    pub comment_count: i64,
    /// The first `FIRST_COMMENTS` comments (all of them while there are fewer), kept on the photo item so a
    /// gallery page shows them without a query per photo. `None` for photos recorded before it was kept.
    pub first_comments: Option<Vec<Comment>>,
    /// Its renditions and what processing found.
    pub processing: Processing,
    /// The SHA-256 (hex) of the owner key `createUpload` was sent with, if any.
    pub owner: Option<String>,
    /// The shard of each name token its entries are on (`keys::name_token`): chosen by the catalog when it
    /// records the photo, so build a new photo with 0.
    pub name_shard: usize,
}

/// Comments kept on the photo item: what a gallery card shows.
pub const FIRST_COMMENTS: usize = 3;

/// An upload ticket handed out and not yet completed.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub id: Uuid,
    pub object_key: String,
    pub format: ImageFormat,
    /// Checked when the ticket was asked for, and again when read back (the rules may have changed since).
    pub name: PhotoName,
    pub description: Option<PhotoDescription>,
    pub uploader_ip: String,
    pub expires_at: DateTime<Utc>,
    /// The SHA-256 (hex) of the owner key sent with `createUpload`: the photo's owner.
    pub owner: Option<String>,
}

/// The stored format of a photo or upload: a media type written by this program, so anything else is corrupt.
fn format(item: &Item) -> anyhow::Result<ImageFormat> {
    let mime = item.string(attr::CONTENT_TYPE)?;
    ImageFormat::from_mime(mime).ok_or_else(|| anyhow::anyhow!("unknown contentType {mime:?}"))
}

impl Photo {
    /// The photo's gallery index entry, on its shard of `shards`.
    pub(super) fn gallery_entry(&self, shards: usize) -> Item {
        let key = keys::gallery_entry(self.id);
        Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (GSI1_PK.into(), Value::S(keys::gallery_shard(keys::shard_of(self.id, shards)))),
            (GSI1_SK.into(), Value::S(keys::photo_feed_sk(self.uploaded_at, self.id))),
            (attr::ID.into(), Value::S(self.id.to_string())),
        ])
    }

    pub(super) fn to_item(&self) -> Item {
        let key = keys::photo(self.id);
        let mut item = Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (attr::ID.into(), Value::S(self.id.to_string())),
            (attr::NAME.into(), s(&self.name)),
            (attr::CONTENT_TYPE.into(), s(self.format.mime())),
            (attr::SIZE_BYTES.into(), Value::N(self.size_bytes)),
            (attr::UPLOADED_AT.into(), Value::S(keys::time(self.uploaded_at))),
            (attr::UPLOADER_IP.into(), s(&self.uploader_ip)),
            (attr::OBJECT_KEY.into(), s(&self.object_key)),
            (attr::COMMENT_COUNT.into(), Value::N(self.comment_count)),
        ]);
        if let Some(description) = &self.description {
            item.insert(attr::DESCRIPTION.into(), s(description));
        }
        if let (Some(width), Some(height)) = (self.width, self.height) {
            item.insert(attr::WIDTH.into(), Value::N(width));
            item.insert(attr::HEIGHT.into(), Value::N(height));
        }
        if let Some(comments) = &self.first_comments {
            item.insert(attr::FIRST_COMMENTS.into(), first_comments_value(comments));
        }
        if let Some(owner) = &self.owner {
            item.insert(attr::OWNER_KEY.into(), s(owner));
        }
        if self.name_shard > 0 {
            item.insert(attr::NAME_SHARD.into(), Value::N(self.name_shard as i64));
        }
        item.extend(self.processing.attributes());
        item
    }

    pub(super) fn from_item(item: &Item) -> anyhow::Result<Self> {
        let id = parse_id(item)?;
        let comment_count = item.opt_number(attr::COMMENT_COUNT).unwrap_or(0);
        let first_comments = match item.opt_string(attr::FIRST_COMMENTS) {
            Some(json) => Some(
                serde_json::from_str::<Vec<KeptComment>>(json)?
                    .into_iter()
                    .map(|kept| kept.comment(id))
                    .collect::<anyhow::Result<_>>()?,
            ),
            // A photo from before the first comments were kept: only an uncommented one is known to hold them all.
            None => (comment_count == 0).then(Vec::new),
        };
        Ok(Self {
            id,
            name: item.string(attr::NAME)?.to_string(),
            // Cleared by an edit: empty.
            description: item.opt_string(attr::DESCRIPTION).filter(|d| !d.is_empty()).map(str::to_string),
            format: format(item)?,
            size_bytes: item.number(attr::SIZE_BYTES)?,
            width: item.opt_number(attr::WIDTH),
            height: item.opt_number(attr::HEIGHT),
            uploaded_at: parse_time(item, attr::UPLOADED_AT)?,
            uploader_ip: item.string(attr::UPLOADER_IP)?.to_string(),
            object_key: item.string(attr::OBJECT_KEY)?.to_string(),
            comment_count,
            first_comments,
            processing: Processing::from_item(item)?,
            owner: item.opt_string(attr::OWNER_KEY).map(str::to_string),
            name_shard: usize::try_from(item.opt_number(attr::NAME_SHARD).unwrap_or(0))?,
        })
    }

    /// The first `first` comments from the photo item itself, if it holds them: no table call.
    pub fn first_comments(&self, first: usize) -> Option<Page<Comment>> {
        let kept = self.first_comments.as_ref()?;
        if first > kept.len() && (kept.len() as i64) < self.comment_count {
            return None;
        }
        let items: Vec<Comment> = kept.iter().take(first).cloned().collect();
        Some(Page { has_next: self.comment_count > items.len() as i64, items })
    }

    /// This photo's position in the gallery.
    pub fn cursor(&self) -> PhotoCursor {
        PhotoCursor { uploaded_at: self.uploaded_at, id: self.id }
    }
}

/// A comment kept on its photo's item, compactly (a gallery page decodes 60 of them):
/// `[id, createdAt, body, authorIp]`.
/// The id and the time are borrowed from the JSON when read (they never need escapes): two allocations fewer
/// per comment.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptComment<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    String,
    String,
    #[serde(default, skip_serializing_if = "Option::is_none")] Option<String>,
);

impl KeptComment<'_> {
    fn comment(self, photo_id: Uuid) -> anyhow::Result<Comment> {
        let Self(id, created_at, body, author_ip, author) = self;
        let created_at = DateTime::parse_from_rfc3339(&created_at)?.with_timezone(&Utc);
        Ok(Comment { id: Uuid::try_parse(&id)?, photo_id, body, created_at, author_ip, author })
    }
}

pub(super) fn first_comments_value(comments: &[Comment]) -> Value {
    let kept: Vec<KeptComment> = comments
        .iter()
        .map(|c| {
            let (id, at) = (c.id.to_string(), keys::time(c.created_at));
            KeptComment(id.into(), at.into(), c.body.clone(), c.author_ip.clone(), c.author.clone())
        })
        .collect();
    Value::S(serde_json::to_string(&kept).unwrap_or_default())
}

impl Upload {
    fn to_item(&self) -> Item {
        let key = keys::upload(self.id);
        let mut item = Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (attr::ID.into(), Value::S(self.id.to_string())),
            (attr::OBJECT_KEY.into(), s(&self.object_key)),
            (attr::CONTENT_TYPE.into(), s(self.format.mime())),
            (attr::NAME.into(), s(self.name.as_str())),
            (attr::UPLOADER_IP.into(), s(&self.uploader_ip)),
            (attr::EXPIRES_AT.into(), Value::S(keys::time(self.expires_at))),
            (TTL.into(), Value::N((self.expires_at + UPLOAD_RECORD_GRACE).timestamp())),
        ]);
        if let Some(description) = &self.description {
            item.insert(attr::DESCRIPTION.into(), s(description.as_str()));
        }
        if let Some(owner) = &self.owner {
            item.insert(attr::OWNER_KEY.into(), s(owner));
        }
        item
    }

    fn from_item(item: &Item) -> anyhow::Result<Self> {
        Ok(Self {
            id: parse_id(item)?,
            owner: item.opt_string(attr::OWNER_KEY).map(str::to_string),
            object_key: item.string(attr::OBJECT_KEY)?.to_string(),
            format: format(item)?,
            name: PhotoName::parse(item.string(attr::NAME)?)?,
            description: item.opt_string(attr::DESCRIPTION).map(PhotoDescription::parse).transpose()?,
            uploader_ip: item.string(attr::UPLOADER_IP)?.to_string(),
            expires_at: parse_time(item, attr::EXPIRES_AT)?,
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
        let photo = &self.placed(photo);
        self.index_name(photo).await?;
        let mut writes = vec![
            Write::PutIfAbsent(photo.to_item()),
            Write::Put(photo.gallery_entry(self.gallery_shards)),
            Write::Delete(keys::upload(photo.id)),
            // Its processing, durable from the moment the photo exists.
            Write::Put(queue::new_job(photo, self.queue_shards)),
        ];
        writes.extend(self.feed_entry(&Event::Photo(photo.clone()), photo.uploaded_at));
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

    /// `photo` with its name's index shard chosen (by its id, among `--name-shards`).
    pub(super) fn placed(&self, photo: &Photo) -> Photo {
        Photo { name_shard: keys::shard_of(photo.id, self.name_shards), ..photo.clone() }
    }

    pub async fn photo(&self, id: Uuid) -> TableResult<Option<Photo>> {
        let item = self.table.get(&keys::photo(id)).await?;
        Ok(item.as_ref().map(Photo::from_item).transpose()?)
    }

    /// The photos with these ids that exist, by id: one batch read, which decodes only the items that changed
    /// since this instance last decoded them (`decoded`).
    pub async fn photos(&self, ids: &[Uuid]) -> TableResult<HashMap<Uuid, Arc<Photo>>> {
        self.decoded.read(self.table.as_ref(), ids).await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::SubsecRound;

    use super::*;

    pub(in crate::catalog) fn photo(comment_count: i64, first_comments: Option<Vec<Comment>>) -> Photo {
        let id = Uuid::new_v4();
        Photo {
            id,
            name: "pier".into(),
            description: None,
            format: ImageFormat::Jpeg,
            size_bytes: 1,
            width: None,
            height: None,
            uploaded_at: Utc::now().trunc_subsecs(6),
            uploader_ip: "192.0.2.1".into(),
            object_key: crate::blob::object_key(id, crate::image_format::ImageFormat::Jpeg),
            comment_count,
            first_comments,
            owner: None,
            name_shard: 0,
            processing: Processing {
                status: Some(crate::catalog::processing::PhotoStatus::Ready),
                renditions: vec![crate::catalog::processing::StoredRendition {
                    rendition: crate::image_format::Rendition::Full,
                    width: 64,
                    height: 48,
                    size_bytes: 900,
                }],
                placeholder: Some("1QcSHQRnh493V4dIh4eXh1h4kJUI".into()),
                taken_at: Some(Utc::now().trunc_subsecs(6)),
                camera: Some("Pixel 8".into()),
                error: None,
            },
        }
    }

    fn comment(photo: &Photo, body: &str) -> Comment {
        let created_at = Utc::now().trunc_subsecs(6);
        Comment {
            id: Uuid::new_v4(),
            photo_id: photo.id,
            body: body.into(),
            created_at,
            author_ip: "::1".into(),
            author: None,
        }
    }

    #[test]
    fn first_comments_come_from_the_item_while_it_holds_them() {
        let mut kept = photo(2, None);
        kept.first_comments = Some(vec![comment(&kept, "a"), comment(&kept, "b")]);
        let stored = Photo::from_item(&kept.to_item()).unwrap();
        assert_eq!(stored, kept, "kept comments survive the item");
        let page = stored.first_comments(3).expect("all comments are kept");
        assert_eq!((page.items.len(), page.has_next), (2, false));
        let page = stored.first_comments(1).expect("a prefix");
        assert_eq!((page.items[0].body.as_str(), page.has_next), ("a", true));

        let mut busy = photo(10, None);
        busy.first_comments = Some((0..FIRST_COMMENTS).map(|n| comment(&busy, &n.to_string())).collect());
        assert!(busy.first_comments(FIRST_COMMENTS).is_some_and(|page| page.has_next));
        assert!(busy.first_comments(FIRST_COMMENTS + 1).is_none(), "more than kept: a query");
    }

    #[test]
    fn photos_from_before_first_comments_were_kept_fall_back_to_queries() {
        let mut item = photo(0, Some(Vec::new())).to_item();
        item.remove(attr::FIRST_COMMENTS);
        assert!(Photo::from_item(&item).unwrap().first_comments(3).is_some_and(|page| page.items.is_empty()));
        item.insert("commentCount".into(), Value::N(2));
        assert!(Photo::from_item(&item).unwrap().first_comments(3).is_none());
    }
}
