//! Uploading: a ticket to POST the file straight to storage, then completion.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::photos::Photo;
use super::rate_limit::MutationLimit;
use super::{caller, client_ip, parse_id, services};
use crate::domain::uploads::{self, NewUpload};

#[derive(InputObject)]
pub struct CreateUploadInput {
    /// The file's name on the user's device, e.g. `sunset.jpg`.
    file_name: String,
    /// `image/jpeg` or `image/png`: storage accepts only this type for the ticket.
    content_type: String,
    /// The photo's name; default: the file name without its extension.
    name: Option<String>,
    description: Option<String>,
}

/// A form field of an upload ticket.
#[derive(SimpleObject)]
pub struct FormField {
    name: String,
    value: String,
}

/// Where and how to send one photo: POST `multipart/form-data` to `url` with every field of `fields` in
/// order, then the file as the field `file`.
#[derive(SimpleObject)]
pub struct UploadTicket {
    upload_id: ID,
    url: String,
    fields: Vec<FormField>,
    /// Storage refuses the upload after this time.
    expires_at: DateTime<Utc>,
    /// Storage refuses files larger than this.
    max_bytes: i64,
}

#[derive(Default)]
pub struct UploadMutation;

#[Object]
impl UploadMutation {
    /// Step 1 of an upload: a presigned POST the client sends the file to, straight to S3.
    #[graphql(guard = "MutationLimit")]
    async fn create_upload(&self, ctx: &Context<'_>, input: CreateUploadInput) -> Result<UploadTicket> {
        let request = NewUpload::parse(
            &input.file_name,
            &input.content_type,
            input.name.as_deref(),
            input.description.as_deref(),
        )?;
        let owner = caller(ctx)?.owner()?;
        let ticket = uploads::create(services(ctx)?, request, client_ip(ctx)?.to_string(), owner).await?;
        Ok(UploadTicket {
            upload_id: ID(ticket.upload_id.to_string()),
            url: ticket.form.url,
            fields: ticket.form.fields.into_iter().map(|(name, value)| FormField { name, value }).collect(),
            expires_at: ticket.expires_at,
            max_bytes: i64::try_from(ticket.max_bytes).unwrap_or(i64::MAX),
        })
    }

    /// Step 2: the service checks the object and records the photo.
    #[graphql(guard = "MutationLimit")]
    async fn complete_upload(&self, ctx: &Context<'_>, upload_id: ID) -> Result<Photo> {
        let id = parse_id("uploadId", &upload_id)?;
        Ok(uploads::complete(services(ctx)?, id).await?.into())
    }
}
