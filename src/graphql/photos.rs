//! Reading photos: the gallery (newest first, Relay paging), one photo, and the `Photo` type.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::comments::Comment;
use super::{limits, parse_id, photo_loader, state};
use crate::catalog::words::{self as search, QueryError};
use crate::catalog::{
    self,
    keys::{BadCursor, CommentCursor, PhotoCursor},
};
use crate::domain::error::ApiError;

/// Most items a page may ask for.
pub const MAX_PAGE: i32 = 100;
/// View links are signed for the start of the current window, so a photo's `url` stays the same (and
/// cacheable by browsers) for this long.
const VIEW_URL_WINDOW: TimeDelta = TimeDelta::minutes(5);

// Page cursors, encoded only for the clients that ask for them.
impl CursorType for PhotoCursor {
    type Error = BadCursor;
    fn decode_cursor(cursor: &str) -> Result<Self, BadCursor> {
        Self::decode(cursor)
    }
    fn encode_cursor(&self) -> String {
        self.encode()
    }
}

impl CursorType for CommentCursor {
    type Error = BadCursor;
    fn decode_cursor(cursor: &str) -> Result<Self, BadCursor> {
        Self::decode(cursor)
    }
    fn encode_cursor(&self) -> String {
        self.encode()
    }
}

/// A page size argument, checked.
pub fn page_size(argument: &str, first: i32) -> Result<usize, ApiError> {
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input(format!("{argument} must be between 1 and {MAX_PAGE}, not {first}")));
    }
    Ok(first as usize)
}

/// What to look for; every part is optional and all parts must hold.
#[derive(InputObject)]
pub struct PhotoFilter {
    /// Words; case- and accent-insensitive; every word must match a word of the photo's name, or the start of
    /// one (2 characters or more). At most 8 words and 200 characters; empty means no name filter.
    name: Option<String>,
    /// Uploaded at or after this time (any RFC 3339 offset).
    uploaded_from: Option<DateTime<Utc>>,
    /// Uploaded at or before this time (any RFC 3339 offset).
    uploaded_to: Option<DateTime<Utc>>,
}

impl PhotoFilter {
    fn parse(self) -> Result<catalog::PhotoFilter, ApiError> {
        let words = match self.name.as_deref().map(search::parse_query).transpose() {
            Ok(words) => words.flatten(),
            Err(QueryError::TooLong) => {
                return Err(ApiError::bad_input(format!(
                    "filter.name must be at most {} characters",
                    search::MAX_QUERY_CHARS
                )));
            }
            Err(QueryError::TooManyWords) => {
                return Err(ApiError::bad_input(format!(
                    "filter.name may have at most {} words",
                    search::MAX_QUERY_WORDS
                )));
            }
        };
        if let (Some(from), Some(to)) = (self.uploaded_from, self.uploaded_to)
            && from > to
        {
            return Err(ApiError::bad_input("filter.uploadedFrom must not be later than filter.uploadedTo"));
        }
        Ok(catalog::PhotoFilter { words, uploaded_from: self.uploaded_from, uploaded_to: self.uploaded_to })
    }
}

/// The `after` argument, decoded, or a `BAD_USER_INPUT` that says what a cursor is.
pub fn decode_after<C>(after: Option<String>, decode: fn(&str) -> Result<C, BadCursor>) -> Result<Option<C>, ApiError> {
    after.map(|cursor| decode(&cursor)).transpose().map_err(|e| ApiError::bad_input(format!("after: {e}")))
}

/// A Relay connection of one page: each item's cursor and node.
fn connection<T, C: CursorType + Send + Sync, N: async_graphql::OutputType>(
    page: catalog::Page<T>,
    after_given: bool,
    cursor: impl Fn(&T) -> C,
    node: impl Fn(T) -> N,
) -> Connection<C, N> {
    let mut connection = Connection::new(after_given, page.has_next);
    connection.edges.extend(page.items.into_iter().map(|item| Edge::new(cursor(&item), node(item))));
    connection
}

/// A photo someone uploaded.
pub struct Photo(pub catalog::Photo);

#[Object]
impl Photo {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The photo's name: given at upload, else the file name without its extension.
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// `image/jpeg` or `image/png`, as the bytes say.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }
    /// Width in pixels.
    async fn width(&self) -> Option<i64> {
        self.0.width
    }
    /// Height in pixels.
    async fn height(&self) -> Option<i64> {
        self.0.height
    }
    /// When the upload was completed (UTC).
    async fn uploaded_at(&self) -> DateTime<Utc> {
        self.0.uploaded_at
    }
    /// The address the upload came from.
    async fn uploader_ip(&self) -> &str {
        &self.0.uploader_ip
    }
    /// A short-lived link to view the photo (the bucket is private); valid for at least 10 minutes.
    async fn url(&self, ctx: &Context<'_>) -> Result<String> {
        let state = state(ctx)?;
        let now = Utc::now();
        let window_start = now.duration_trunc(VIEW_URL_WINDOW).unwrap_or(now);
        let file_name = format!("{}.{}", self.0.name, if self.0.content_type == "image/png" { "png" } else { "jpg" });
        let url = state
            .blobs
            .window_view_url(&self.0.object_key, &self.0.content_type, &file_name, window_start, state.limits.view_url)
            .await
            .map_err(ApiError::from)?;
        Ok(url)
    }
    /// How many comments the photo has.
    async fn comment_count(&self) -> i64 {
        self.0.comment_count
    }
    /// The comments, oldest first: a timeline.
    #[graphql(complexity = "limits::paged(first, 50, child_complexity)")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<CommentCursor, Comment>> {
        let first = page_size("first", first.unwrap_or(50))?;
        let after = decode_after(after, CommentCursor::decode)?;
        if after.is_some_and(|cursor| cursor.photo_id != self.0.id) {
            return Err(ApiError::bad_input("after: this cursor belongs to another photo's comments").into());
        }
        // The first comments usually come with the photo itself (a gallery page makes no query per photo).
        let page = match self.0.first_comments(first).filter(|_| after.is_none()) {
            Some(page) => page,
            None => state(ctx)?.catalog.list_comments(self.0.id, first, after).await.map_err(ApiError::from)?,
        };
        Ok(connection(page, after.is_some(), |c| c.cursor(), Comment))
    }
}

#[derive(Default)]
pub struct PhotoQuery;

#[Object]
impl PhotoQuery {
    /// Photos, newest first. Filters combine with AND.
    #[graphql(complexity = "limits::paged(first, 20, child_complexity)")]
    async fn photos(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        filter: Option<PhotoFilter>,
    ) -> Result<Connection<PhotoCursor, Photo>> {
        let first = page_size("first", first.unwrap_or(20))?;
        let after = decode_after(after, PhotoCursor::decode)?;
        let filter = filter.map(PhotoFilter::parse).transpose()?.unwrap_or_default();
        let page = state(ctx)?.catalog.search_photos(&filter, first, after).await.map_err(ApiError::from)?;
        photo_loader(ctx)?.feed_many(page.items.iter().map(|photo| (photo.id, photo.clone()))).await;
        Ok(connection(page, after.is_some(), |p| p.cursor(), Photo))
    }

    /// One photo, or null if there is none with this id.
    async fn photo(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Photo>> {
        let id = parse_id("id", &id)?;
        let photo = photo_loader(ctx)?.load_one(id).await.map_err(ApiError::from)?;
        Ok(photo.map(Photo))
    }
}
