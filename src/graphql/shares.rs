//! Sharing: a link that opens the photo for a limited time, and a revocable service link beside it.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::photos::Photo;
use super::rate_limit::MutationLimit;
use super::{hold, parse_id, photo_loader, services, state};
use crate::domain::error::ApiError;
use crate::domain::shares;

/// A way to open one photo until `expiresAt`.
pub struct ShareLink {
    new: shares::NewShare,
    public_url: String,
}

#[Object]
impl ShareLink {
    /// A presigned GET of the photo: storage itself refuses it after `expiresAt`.
    async fn url(&self) -> &str {
        &self.new.url
    }
    /// The true end of validity (earlier than asked if the service's own credentials expire sooner).
    async fn expires_at(&self) -> DateTime<Utc> {
        self.new.expires_at
    }
    async fn photo(&self) -> Photo {
        self.new.photo.clone().into()
    }
    /// The link's secret token: it opens, audits and revokes the service link. Shown once; not stored.
    async fn token(&self) -> &str {
        &self.new.token
    }
    /// A short service link that redirects to a fresh presigned GET while the share is valid, and answers
    /// 410 Gone after `expiresAt`, `revokeShareLink` or the photo's deletion.
    async fn service_url(&self) -> String {
        format!("{}/s/{}", self.public_url.trim_end_matches('/'), self.new.token)
    }
}

/// What the service knows of a share link.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ShareLinkStatus {
    #[graphql(skip)]
    photo_id: uuid::Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked: bool,
    /// How many times the service link was opened.
    opens: i64,
}

#[async_graphql::ComplexObject]
impl ShareLinkStatus {
    async fn photo(&self, ctx: &Context<'_>) -> Result<Option<Photo>> {
        hold(ctx, [self.photo_id]);
        Ok(photo_loader(ctx)?.load_one(self.photo_id).await.map_err(ApiError::from)?.map(Photo))
    }
}

#[derive(Default)]
pub struct ShareQuery;

#[Object]
impl ShareQuery {
    /// The state of a share link, by its token (auditing).
    async fn share_link(&self, ctx: &Context<'_>, token: String) -> Result<Option<ShareLinkStatus>> {
        let share = shares::status(services(ctx)?, &token).await?;
        Ok(share.map(|s| ShareLinkStatus {
            photo_id: s.photo_id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            revoked: s.revoked,
            opens: s.opens,
        }))
    }
}

#[derive(Default)]
pub struct ShareMutation;

#[Object]
impl ShareMutation {
    /// A presigned GET link; the photo can't be opened with it after expiresAt. A photo still PROCESSING is
    /// waited for (at most half of `--request-timeout-seconds`), then refused with `PHOTO_PROCESSING`.
    #[graphql(guard = "MutationLimit")]
    async fn create_share_link(
        &self,
        ctx: &Context<'_>,
        photo_id: ID,
        #[graphql(default = 60)] expires_in_seconds: Option<i32>,
    ) -> Result<ShareLink> {
        let photo_id = parse_id("photoId", &photo_id)?;
        let services = services(ctx)?;
        // A photo still processing is waited for, within half the request's deadline.
        let wait = state(ctx)?.api.request_timeout / 2;
        let new = shares::create(services, photo_id, i64::from(expires_in_seconds.unwrap_or(60)), wait).await?;
        Ok(ShareLink { new, public_url: services.public_url.clone() })
    }

    /// End a share link's service link now (its presigned `url` still runs to its expiry: storage alone
    /// decides that one). False if there is no link with this token.
    #[graphql(guard = "MutationLimit")]
    async fn revoke_share_link(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        Ok(shares::revoke(services(ctx)?, &token).await?)
    }
}
