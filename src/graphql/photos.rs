//! Reading photos: the gallery (newest first, Relay paging), one photo, and the `Photo` type.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::parser::types::Field;
use async_graphql::{
    Context, ContextSelectionSet, ID, InputObject, Object, OutputType, Positioned, Result, ServerResult, Value,
    registry,
};
use chrono::{DateTime, Utc};

use super::comments::Comment;
use super::images::{self, Image, ImageSize, PhotoStatus};
use super::rate_limit::MutationLimit;
use super::{caller, hold, limits, parse_id, photo_answers, photo_loader, services};
use crate::catalog::{
    self,
    keys::{BadCursor, CommentCursor, PhotoCursor},
};
use crate::domain::error::ApiError;
use crate::domain::{comments, deletion, owners, photos};

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
        photos::filter(self.name.as_deref(), self.uploaded_from, self.uploaded_to)
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

/// A photo someone uploaded: its fields are `PhotoFields`; it resolves them through `photo_answers`, which
/// serves an answer already made from the same record for the same selection.
pub struct Photo(pub Arc<catalog::Photo>);

impl From<catalog::Photo> for Photo {
    fn from(photo: catalog::Photo) -> Self {
        Self(Arc::new(photo))
    }
}

impl OutputType for Photo {
    fn type_name() -> Cow<'static, str> {
        PhotoFields::type_name()
    }
    fn create_type_info(registry: &mut registry::Registry) -> String {
        PhotoFields::create_type_info(registry)
    }
    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let fields = PhotoFields(&self.0);
        match ctx.data_opt::<Arc<photo_answers::PhotoAnswers>>() {
            Some(answers) => answers.resolve(&self.0, &fields, ctx, field).await,
            None => fields.resolve(ctx, field).await,
        }
    }
}

/// The fields of a photo, on the record they are resolved from.
struct PhotoFields<'a>(&'a Arc<catalog::Photo>);

#[Object(name = "Photo")]
impl<'a> PhotoFields<'a> {
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
    /// What was uploaded: `image/jpeg`, `image/png` or `image/webp`, as the bytes say. (Every rendition is
    /// a JPEG: `Image.contentType`.)
    async fn content_type(&self) -> &str {
        self.0.format.mime()
    }
    /// The size of what `url` serves (the FULL rendition) once READY; the upload's size before.
    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }
    /// Width in pixels, as displayed (EXIF orientation applied): from `completeUpload` on, or null until READY
    /// when the file's header does not settle the orientation.
    async fn width(&self) -> Option<i64> {
        self.0.width
    }
    /// Height in pixels, as displayed; known as `width` is.
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
    /// A short-lived link to view the photo (the bucket is private); valid for at least 10 minutes. Until the
    /// photo is READY, the service's own link to it, which answers 503 with `Retry-After` while it is
    /// processing and redirects to the photo once it is READY.
    async fn url(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(photos::url(services(ctx)?, self.0).await?)
    }
    /// Whether the caller may edit and delete this photo: it sent (`Authorization: Bearer <key>`) the owner key
    /// the photo was uploaded with, or an admin key. An answer with this field is the caller's own: never
    /// cached or shared.
    async fn viewer_can_edit(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(owners::may_change(&services(ctx)?.admins, caller(ctx)?, owners::owner_of(self.0))?)
    }
    /// PROCESSING until its renditions are made, then READY (or FAILED).
    async fn status(&self) -> PhotoStatus {
        self.0.processing.status().into()
    }
    /// One rendition; null until READY.
    async fn image(&self, size: ImageSize) -> Option<Image> {
        images::image(self.0, size)
    }
    /// Every rendition, smallest first; empty until READY.
    async fn images(&self) -> Vec<Image> {
        images::images(self.0)
    }
    /// A ThumbHash of the photo (base64), to paint while an image loads; null until READY.
    async fn placeholder(&self) -> Option<&str> {
        self.0.processing.placeholder.as_deref()
    }
    /// When it was taken (EXIF DateTimeOriginal with OffsetTimeOriginal, as UTC), when the photo says both.
    async fn taken_at(&self) -> Option<DateTime<Utc>> {
        self.0.processing.taken_at
    }
    /// The camera (EXIF Make and Model), when the photo says.
    async fn camera(&self) -> Option<&str> {
        self.0.processing.camera.as_deref()
    }
    /// Why it is FAILED.
    async fn processing_error(&self) -> Option<&str> {
        self.0.processing.error()
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
        let first = photos::page_size("first", first.unwrap_or(50))?;
        let after = decode_after(after, CommentCursor::decode)?;
        let page = match comments::kept_page(self.0, first, after) {
            Some(page) => page,
            None => {
                photo_answers::reads_beyond_the_record();
                comments::timeline(services(ctx)?, self.0, first, after).await?
            }
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
        let first = photos::page_size("first", first.unwrap_or(20))?;
        let after = decode_after(after, PhotoCursor::decode)?;
        let filter = filter.map(PhotoFilter::parse).transpose()?.unwrap_or_default();
        let page = photos::page(services(ctx)?, &filter, first, after).await?;
        hold(ctx, page.items.iter().map(|photo| photo.id));
        photo_loader(ctx)?.feed_many(page.items.iter().map(|photo| (photo.id, photo.clone()))).await;
        Ok(connection(page, after.is_some(), |p| p.cursor(), Photo))
    }

    /// One photo, or null if there is none with this id.
    async fn photo(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Photo>> {
        let id = parse_id("id", &id)?;
        hold(ctx, [id]);
        let photo = photo_loader(ctx)?.load_one(id).await.map_err(ApiError::from)?;
        Ok(photo.map(Photo))
    }
}

#[derive(InputObject)]
pub struct UpdatePhotoInput {
    id: ID,
    /// The new name (one line, 1 to 200 characters); null keeps the name.
    name: Option<String>,
    /// The new description (up to 2,000 characters); empty clears it, null keeps it.
    description: Option<String>,
}

#[derive(Default)]
pub struct PhotoMutation;

#[Object]
impl PhotoMutation {
    /// Change a photo's name or description: its owner (the key it was uploaded with) or an admin. Search
    /// finds it by the new name at once; `photoUpdated` subscribers get the edited photo.
    #[graphql(guard = "MutationLimit")]
    async fn update_photo(&self, ctx: &Context<'_>, input: UpdatePhotoInput) -> Result<Photo> {
        let id = parse_id("id", &input.id)?;
        let edit = photos::PhotoEdit::parse(input.name.as_deref(), input.description.as_deref())?;
        Ok(photos::edit(services(ctx)?, caller(ctx)?, id, edit).await?.into())
    }

    /// Delete a photo: its owner (the key it was uploaded with) or an admin. At once it is gone from `photo`,
    /// the gallery and search, its renditions and share links stop serving, and `photoRemoved` subscribers
    /// hear of it; its comments and index entries go in the background. `true`; deleting again: `NOT_FOUND`.
    #[graphql(guard = "MutationLimit")]
    async fn delete_photo(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let id = parse_id("id", &id)?;
        deletion::delete_photo(services(ctx)?, caller(ctx)?, id).await?;
        Ok(true)
    }
}
