//! Live updates over WebSocket (`/graphql/ws`, graphql-transport-ws): new comments and new photos, from
//! whichever instance they were posted to.

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::comments::Comment;
use super::photos::{Photo, decode_after};
use super::{parse_id, state};
use crate::catalog::keys::CommentCursor;
use crate::domain::{comment_stream, photos};

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Comments posted from now on, on one photo or on every photo when `photoId` is null. With `after` (a
    /// comment's `cursor`; needs `photoId`), the comments posted after it are sent first, so a client that
    /// reconnects, to any instance, misses nothing.
    async fn comment_added(
        &self,
        ctx: &Context<'_>,
        photo_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Comment>> + use<>> {
        let photo_id = photo_id.map(|id| parse_id("photoId", &id)).transpose()?;
        let after = decode_after(after, CommentCursor::decode)?;
        let services = state(ctx)?.services.clone();
        let comments = comment_stream::live(services, photo_id, after).await?;
        Ok(comments.map(|comment| comment.map(Comment).map_err(Into::into)))
    }

    /// Comments deleted from now on, by id: on one photo, or on every photo when `photoId` is null.
    async fn comment_removed(&self, ctx: &Context<'_>, photo_id: Option<ID>) -> Result<impl Stream<Item = ID> + use<>> {
        let photo_id = photo_id.map(|id| parse_id("photoId", &id)).transpose()?;
        Ok(comment_stream::removed(&state(ctx)?.services, photo_id).await.map(|id| ID(id.to_string())))
    }

    /// Every photo uploaded from now on (PROCESSING: `photoUpdated` says when it is READY).
    async fn photo_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Photo> + use<>> {
        Ok(photos::added(&state(ctx)?.services).await.map(Photo::from))
    }

    /// Photos whose processing ends from now on (READY or FAILED): one photo's, or every photo's when `id` is
    /// null.
    async fn photo_updated(&self, ctx: &Context<'_>, id: Option<ID>) -> Result<impl Stream<Item = Photo> + use<>> {
        let id = id.map(|id| parse_id("id", &id)).transpose()?;
        Ok(photos::updated(&state(ctx)?.services, id).await.map(Photo::from))
    }

    /// Photos deleted from now on, by id (on whichever instance they were deleted).
    async fn photo_removed(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = ID> + use<>> {
        Ok(photos::removed(&state(ctx)?.services).await.map(|id| ID(id.to_string())))
    }
}
