//! Share links: a record per link, keyed by the hash of its token, that a redirect checks on every open.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Catalog, keys, parse_time};
use crate::catalog::attributes as attr;
use crate::table::{Item, ItemExt, PK, SK, TTL, TableResult, Value, Write};

/// Records are kept this long after expiry for auditing, then DynamoDB's TTL removes them.
const AUDIT_GRACE: chrono::Duration = chrono::Duration::days(7);

#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub token_hash: String,
    pub photo_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    /// How many times the service link was opened.
    pub opens: i64,
}

impl Share {
    fn to_item(&self) -> Item {
        let key = keys::share(&self.token_hash);
        Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (attr::PHOTO_ID.into(), Value::S(self.photo_id.to_string())),
            (attr::CREATED_AT.into(), Value::S(keys::time(self.created_at))),
            (attr::EXPIRES_AT.into(), Value::S(keys::time(self.expires_at))),
            (attr::REVOKED.into(), Value::N(i64::from(self.revoked))),
            (attr::OPENS.into(), Value::N(self.opens)),
            (TTL.into(), Value::N((self.expires_at + AUDIT_GRACE).timestamp())),
        ])
    }

    fn from_item(token_hash: &str, item: &Item) -> anyhow::Result<Self> {
        Ok(Self {
            token_hash: token_hash.to_string(),
            photo_id: Uuid::try_parse(item.string(attr::PHOTO_ID)?)?,
            created_at: parse_time(item, attr::CREATED_AT)?,
            expires_at: parse_time(item, attr::EXPIRES_AT)?,
            revoked: item.number(attr::REVOKED)? != 0,
            opens: item.opt_number(attr::OPENS).unwrap_or(0),
        })
    }

    /// Whether the link may be opened at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && now < self.expires_at
    }
}

impl Catalog {
    /// Store `share`. It outlives its photo, until its TTL: deleting the photo leaves it, so its service link
    /// answers 410 Gone (tables from before also hold a note of each link in the photo's partition, which the
    /// deletion sweep removes with the rest of the partition).
    pub async fn put_share(&self, share: &Share) -> TableResult<()> {
        self.table.transact(vec![Write::PutIfAbsent(share.to_item())]).await
    }

    pub async fn share(&self, token_hash: &str) -> TableResult<Option<Share>> {
        let item = self.table.get(&keys::share(token_hash)).await?;
        Ok(item.as_ref().map(|item| Share::from_item(token_hash, item)).transpose()?)
    }

    /// Count one open of the link.
    pub async fn count_share_open(&self, token_hash: &str) -> TableResult<()> {
        self.table.add(&keys::share(token_hash), attr::OPENS, 1).await
    }

    /// Revoke the link; false if there is no such link. An addition, like counting opens, so neither
    /// overwrites the other.
    pub async fn revoke_share(&self, token_hash: &str) -> TableResult<bool> {
        if self.share(token_hash).await?.is_none() {
            return Ok(false);
        }
        self.table.add(&keys::share(token_hash), attr::REVOKED, 1).await?;
        Ok(true)
    }
}
