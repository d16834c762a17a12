//! Comments: adding one, and the `Comment` type. The timeline is `Photo.comments`; live updates are in
//! `subscriptions`.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::photos::Photo;
use super::rate_limit::MutationLimit;
use super::{caller, client_ip, parse_id, photo_loader, state};
use crate::catalog::{self, Event, NewComment, RetryId};
use crate::domain::error::ApiError;
use crate::domain::text;

pub const BODY_MAX_CHARS: usize = 2_000;
const CLIENT_ID_MAX_CHARS: usize = 64;

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
    /// The photo commented on.
    async fn photo(&self, ctx: &Context<'_>) -> Result<Option<Photo>> {
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

fn parse_body(body: &str) -> Result<String, ApiError> {
    let body = text::multi_line(body);
    let length = body.chars().count();
    if length > 0 && text::is_blank(&body) {
        return Err(ApiError::bad_input("body has no visible characters: write something a reader can see"));
    }
    if length == 0 || length > BODY_MAX_CHARS {
        return Err(ApiError::bad_input(format!(
            "body must be 1 to {BODY_MAX_CHARS} characters after trimming, not {length}"
        )));
    }
    Ok(body)
}

fn parse_client_id(client_id: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(client_id) = client_id else { return Ok(None) };
    let valid = (1..=CLIENT_ID_MAX_CHARS).contains(&client_id.len())
        && client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ApiError::bad_input(format!(
            "clientId must be 1 to {CLIENT_ID_MAX_CHARS} characters of A-Z, a-z, 0-9, '-' and '_'"
        )));
    }
    Ok(Some(client_id))
}

#[derive(Default)]
pub struct CommentMutation;

#[Object]
impl CommentMutation {
    /// Comment on a photo. Everyone sees it in the photo's timeline and subscribers get it at once.
    #[graphql(guard = "MutationLimit")]
    async fn add_comment(&self, ctx: &Context<'_>, input: AddCommentInput) -> Result<Comment> {
        let new = NewComment {
            photo_id: parse_id("photoId", &input.photo_id)?,
            body: parse_body(&input.body)?,
            author_ip: client_ip(ctx)?.to_string(),
            retry: match parse_client_id(input.client_id)? {
                Some(client_id) => Some(RetryId { scope: caller(ctx)?.retry_scope()?, client_id }),
                None => None,
            },
        };
        let state = state(ctx)?;
        let photo_id = new.photo_id;
        let comment = state.catalog.add_comment(new).await.map_err(ApiError::from)?;
        let comment = comment.ok_or_else(|| ApiError::NotFound(format!("no photo with id {photo_id}")))?;
        state.events.committed(Event::Comment(comment.clone()));
        Ok(Comment(comment))
    }
}
