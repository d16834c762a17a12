//! Comments: adding one, and the `Comment` type. The timeline is `Photo.comments`; live updates are in
//! `subscriptions`.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::photos::Photo;
use super::rate_limit::MutationLimit;
use super::{caller, hold, parse_id, photo_loader, services};
use crate::catalog;
use crate::domain::error::ApiError;
use crate::domain::{comments, deletion, owners};

/// A comment on a photo.
pub struct Comment(pub catalog::Comment);

#[Object]
impl Comment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn photo_id(&self) -> ID {
        ID(self.0.photo_id.to_string())
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// When the comment was posted (UTC).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The address the comment came from.
    async fn author_ip(&self) -> &str {
        &self.0.author_ip
    }
    /// This comment's position in its photo's timeline: pass it as `after` to `Photo.comments` or to the
    /// `commentAdded` subscription to continue from here.
    async fn cursor(&self) -> String {
        self.0.cursor().encode()
    }
    /// Whether the caller may delete this comment: it sent (`Authorization: Bearer <key>`) the owner key the
    /// comment was posted with, or the photo's owner key, or an admin key. An answer with this field is the
    /// caller's own: never cached or shared.
    async fn viewer_can_delete(&self, ctx: &Context<'_>) -> Result<bool> {
        let photo = photo_loader(ctx)?.load_one(self.0.photo_id).await.map_err(ApiError::from)?;
        Ok(owners::may_delete_comment(&services(ctx)?.admins, caller(ctx)?, photo.as_deref(), &self.0)?)
    }
    /// The photo commented on.
    async fn photo(&self, ctx: &Context<'_>) -> Result<Option<Photo>> {
        hold(ctx, [self.0.photo_id]);
        let photo = photo_loader(ctx)?.load_one(self.0.photo_id).await.map_err(ApiError::from)?;
        Ok(photo.map(Photo))
    }
}

#[derive(InputObject)]
pub struct AddCommentInput {
    photo_id: ID,
    /// 1 to 2,000 characters after trimming; any language.
    body: String,
    /// Optional id chosen by the client (1–64 of `A-Z a-z 0-9 - _`, e.g. a UUID): retrying a call with the same
    /// `clientId` returns the comment stored the first time instead of adding another. It is the caller's own:
    /// scoped by its owner key (`Authorization: Bearer`), or without one by its address, so another client's
    /// equal id stores its own comment.
    client_id: Option<String>,
}

#[derive(Default)]
pub struct CommentMutation;

#[Object]
impl CommentMutation {
    /// Comment on a photo. Everyone sees it in the photo's timeline and subscribers get it at once.
    #[graphql(guard = "MutationLimit")]
    async fn add_comment(&self, ctx: &Context<'_>, input: AddCommentInput) -> Result<Comment> {
        let photo_id = parse_id("photoId", &input.photo_id)?;
        let request = comments::CommentRequest::parse(photo_id, &input.body, input.client_id)?;
        Ok(Comment(comments::add(services(ctx)?, caller(ctx)?, request).await?))
    }

    /// Delete a comment: its author (the key it was posted with), the photo's owner or an admin. It leaves the
    /// timeline and `commentCount` at once, and `commentRemoved` subscribers hear of it. `true`; deleting
    /// again: `NOT_FOUND`.
    #[graphql(guard = "MutationLimit")]
    async fn delete_comment(&self, ctx: &Context<'_>, photo_id: ID, comment_id: ID) -> Result<bool> {
        let photo_id = parse_id("photoId", &photo_id)?;
        let comment_id = parse_id("commentId", &comment_id)?;
        deletion::delete_comment(services(ctx)?, caller(ctx)?, photo_id, comment_id).await?;
        Ok(true)
    }
}
