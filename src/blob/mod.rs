//! Photo bytes in an S3 bucket: upload tickets (presigned POST), short-lived view links (presigned GET), and
//! the few reads the service itself makes (size, first bytes). Bytes never pass through the service otherwise.
//! The same code runs against S3, an S3-compatible server, or the endpoint embedded in this process.

pub mod embedded;
pub mod policy;
mod view_urls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::aws::is_transient;
use crate::image_format::{ImageFormat, Rendition};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type BlobResult<T> = Result<T, BlobError>;

fn sdk_error<E>(error: SdkError<E, HttpResponse>) -> BlobError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&error) {
        BlobError::Unavailable(DisplayErrorContext(&error).to_string())
    } else {
        BlobError::Internal(anyhow::anyhow!("{}", DisplayErrorContext(&error)))
    }
}

/// The object key of an upload's bytes: one place decides where photos live in the bucket.
pub fn object_key(upload_id: Uuid, format: ImageFormat) -> String {
    format!("photos/{upload_id}.{}", format.extension())
}

/// Where an upload ticket's file lands until `completeUpload` copies it to `object_key`: objects left under
/// this prefix are abandoned uploads, which a bucket lifecycle rule (`deploy/`) and the service's own sweep
/// remove.
pub const PENDING_PREFIX: &str = "uploads/";

pub fn pending_key(upload_id: Uuid, format: ImageFormat) -> String {
    format!("{PENDING_PREFIX}{upload_id}.{}", format.extension())
}

/// The object key of a photo's rendition: written only by the service, so no upload ticket can reach it.
pub fn rendition_key(photo_id: Uuid, rendition: Rendition) -> String {
    format!("renditions/{photo_id}/{}.jpg", rendition.name())
}

/// Where and how a browser sends a file: POST `url` with `fields` in order, then the file as `file`.
#[derive(Debug, Clone)]
pub struct UploadForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// What storage knows of an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size_bytes: i64,
}

/// A bucket reached through aws-sdk-s3.
#[derive(Clone)]
pub struct BlobStore {
    client: Client,
    bucket: String,
    /// Signs upload policies (the SDK only signs requests), cached until shortly before they expire.
    credentials: Arc<CredentialCache>,
    region: String,
    /// What the service itself asked of storage: photo bytes must not pass through it.
    stats: Arc<BlobStats>,
    /// Gallery links signed for the current window.
    view_urls: Arc<view_urls::ViewUrls>,
}

/// Counters of the requests the service makes to storage (presigning makes none), for tests and benchmarks.
#[derive(Debug, Default)]
pub struct BlobStats {
    calls: AtomicU64,
    bytes_read: AtomicU64,
}

impl BlobStats {
    fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn read(&self, bytes: usize) {
        self.bytes_read.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    /// Requests to storage so far (head, ranged reads, deletes, bucket set-up).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// Object bytes the service read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }
}

/// Credentials from a provider, asked again only when the cached ones are about to expire (an instance
/// role's provider goes to the metadata service on every call).
struct CredentialCache {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

/// Refresh credentials this long before they expire: a ticket signed with them must stay usable.
const CREDENTIAL_MARGIN: Duration = Duration::from_secs(15 * 60);

impl CredentialCache {
    async fn get(&self) -> BlobResult<Credentials> {
        let mut cached = self.cached.lock().await;
        let fresh = |c: &Credentials| c.expiry().is_none_or(|at| at > std::time::SystemTime::now() + CREDENTIAL_MARGIN);
        if let Some(credentials) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| BlobError::Unavailable(format!("AWS credentials: {}", DisplayErrorContext(&e))))?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

impl BlobStore {
    pub fn new(
        client: Client,
        bucket: impl Into<String>,
        credentials: SharedCredentialsProvider,
        region: impl Into<String>,
    ) -> Self {
        let credentials = Arc::new(CredentialCache { provider: credentials, cached: Default::default() });
        Self {
            client,
            bucket: bucket.into(),
            credentials,
            region: region.into(),
            stats: Arc::default(),
            view_urls: Arc::default(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn stats(&self) -> &BlobStats {
        &self.stats
    }

    /// Create the bucket if absent (idempotent).
    pub async fn ensure_bucket(&self) -> BlobResult<()> {
        self.stats.call();
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        self.stats.call();
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Whether the bucket answers (HeadBucket, which needs `s3:ListBucket`): for readiness checks.
    pub async fn check_bucket(&self) -> BlobResult<()> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map(|_| ()).map_err(sdk_error)
    }

    /// A ticket for one upload to `key`: only that key, that content type, 1..=`max_bytes` bytes, until `expires_at`.
    pub async fn upload_form(
        &self,
        key: &str,
        format: ImageFormat,
        max_bytes: u64,
        expires_at: DateTime<Utc>,
    ) -> BlobResult<UploadForm> {
        let credentials = self.credentials.get().await?;
        let signer = policy::Signer {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
            region: &self.region,
        };
        let policy =
            policy::PostPolicy { bucket: &self.bucket, key, content_type: format.mime(), max_bytes, expires_at };
        let fields = policy::form_fields(&policy, &signer, Utc::now());
        Ok(UploadForm { url: self.bucket_url(key).await?, fields })
    }

    /// When the credentials that sign links expire, if they are temporary.
    pub async fn credentials_expiry(&self) -> BlobResult<Option<DateTime<Utc>>> {
        Ok(self.credentials.get().await?.expiry().map(DateTime::<Utc>::from))
    }

    /// The bucket's URL as S3 addressing resolves it here (virtual-hosted or path-style, custom endpoint):
    /// read off a presigned request for `key`, so it always agrees with the SDK's own endpoint resolution.
    async fn bucket_url(&self, key: &str) -> BlobResult<String> {
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).map_err(anyhow::Error::from)?)
            .await
            .map_err(sdk_error)?;
        let uri = presigned.uri();
        let without_query = uri.split_once('?').map_or(uri, |(base, _)| base);
        let base = without_query
            .strip_suffix(key)
            .ok_or_else(|| anyhow::anyhow!("unexpected presigned URL shape: {without_query}"))?;
        Ok(base.trim_end_matches('/').to_string())
    }

    /// The same as [`Self::view_url`] from `window_start`, signed once for every request in that window: for
    /// links many requests share (a photo's `url` is the same for a whole window).
    pub async fn window_view_url(
        &self,
        key: &str,
        format: ImageFormat,
        file_name: &str,
        window_start: DateTime<Utc>,
        expires_in: Duration,
    ) -> BlobResult<String> {
        let credentials = self.credentials.get().await?;
        let access_key = credentials.access_key_id();
        let what = view_urls::signed_for(window_start, key, format.mime(), file_name, expires_in, access_key);
        if let Some(link) = self.view_urls.get(&what) {
            return Ok(link);
        }
        // Boxed: the SDK's signing future is kilobytes, and every field future of a `Photo` would carry it.
        let link = Box::pin(self.view_url(key, format, file_name, window_start, expires_in)).await?;
        self.view_urls.put(what, link.clone());
        Ok(link)
    }

    /// A GET link for `key` valid from `valid_from` for `expires_in`, opening inline as `file_name`.
    pub async fn view_url(
        &self,
        key: &str,
        format: ImageFormat,
        file_name: &str,
        valid_from: DateTime<Utc>,
        expires_in: Duration,
    ) -> BlobResult<String> {
        let config = PresigningConfig::builder()
            .start_time(valid_from.into())
            .expires_in(expires_in)
            .build()
            .map_err(anyhow::Error::from)?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type(format.mime())
            .response_content_disposition(inline_disposition(file_name))
            .presigned(config)
            .await
            .map_err(sdk_error)?;
        Ok(presigned.uri().to_string())
    }

    /// Size of the object at `key`, or `None` if there is none.
    pub async fn head(&self, key: &str) -> BlobResult<Option<ObjectInfo>> {
        self.stats.call();
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => Ok(Some(ObjectInfo { size_bytes: output.content_length().unwrap_or(0) })),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Up to `len` bytes of the object from `offset`.
    pub async fn read_range(&self, key: &str, offset: u64, len: u64) -> BlobResult<Vec<u8>> {
        let range = format!("bytes={offset}-{}", offset + len.max(1) - 1);
        self.stats.call();
        let output =
            self.client.get_object().bucket(&self.bucket).key(key).range(range).send().await.map_err(sdk_error)?;
        let body = output.body.collect().await.map_err(|e| BlobError::Unavailable(e.to_string()))?;
        let bytes = body.into_bytes().to_vec();
        self.stats.read(bytes.len());
        Ok(bytes)
    }

    /// The whole object at `key`, which must be at most `max_bytes` (checked before reading).
    pub async fn read_all(&self, key: &str, max_bytes: u64) -> BlobResult<Vec<u8>> {
        self.stats.call();
        let output = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(sdk_error)?;
        let length = output.content_length().unwrap_or(0).max(0) as u64;
        if length > max_bytes {
            return Err(BlobError::Internal(anyhow::anyhow!("{key} is {length} bytes, over {max_bytes}")));
        }
        let body = output.body.collect().await.map_err(|e| BlobError::Unavailable(e.to_string()))?;
        let bytes = body.into_bytes().to_vec();
        self.stats.read(bytes.len());
        Ok(bytes)
    }

    /// Store `bytes` at `key` as `content_type` (private, like every object here).
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> BlobResult<()> {
        self.stats.call();
        let body = aws_sdk_s3::primitives::ByteStream::from(bytes);
        let request = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type).body(body);
        request.send().await.map_err(sdk_error)?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> BlobResult<()> {
        self.stats.call();
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(sdk_error)?;
        Ok(())
    }

    /// Copy object `from` to `to`, inside the bucket (no bytes pass through the service).
    pub async fn copy(&self, from: &str, to: &str) -> BlobResult<()> {
        self.stats.call();
        let source = format!("{}/{from}", self.bucket);
        self.client.copy_object().bucket(&self.bucket).copy_source(source).key(to).send().await.map_err(sdk_error)?;
        Ok(())
    }

    /// Keys under `prefix` last written before `before`: one listing page (up to 1,000 keys) after `after`;
    /// the last key listed, to go on from, if there are more.
    pub async fn written_before(
        &self,
        prefix: &str,
        before: DateTime<Utc>,
        after: Option<String>,
    ) -> BlobResult<(Vec<String>, Option<String>)> {
        self.stats.call();
        let request = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).set_start_after(after);
        let output = request.send().await.map_err(sdk_error)?;
        let objects = output.contents();
        let last = output.is_truncated().unwrap_or(false).then(|| objects.last().and_then(|o| o.key())).flatten();
        let old =
            objects.iter().filter(|object| object.last_modified().is_some_and(|at| at.secs() < before.timestamp()));
        let keys = old.filter_map(|object| object.key().map(str::to_string)).collect();
        Ok((keys, last.map(str::to_string)))
    }
}

/// What RFC 5987 leaves unencoded in a parameter value, less its specials (`!#$&+^`|`), which some clients
/// mishandle: `A-Z a-z 0-9 - . _ ~` stay, every other byte is `%XX`.
const ATTR_CHAR_ENCODED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `inline; filename="…"` with a plain-ASCII fallback and the exact name in RFC 5987 form.
fn inline_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(file_name, ATTR_CHAR_ENCODED);
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_follow_the_content_type() {
        let id = Uuid::parse_str("0b7e4d1c-5a61-4c1e-9d2f-3b9e2f7a8c10").unwrap();
        assert_eq!(object_key(id, ImageFormat::Jpeg), "photos/0b7e4d1c-5a61-4c1e-9d2f-3b9e2f7a8c10.jpg");
        assert_eq!(object_key(id, ImageFormat::Png), "photos/0b7e4d1c-5a61-4c1e-9d2f-3b9e2f7a8c10.png");
    }

    #[test]
    fn disposition_keeps_names_safe() {
        assert_eq!(inline_disposition("pier.jpg"), "inline; filename=\"pier.jpg\"; filename*=UTF-8''pier.jpg");
        assert_eq!(
            inline_disposition("日落 \"x\".jpg"),
            "inline; filename=\"__ _x_.jpg\"; filename*=UTF-8''%E6%97%A5%E8%90%BD%20%22x%22.jpg"
        );
    }
}
