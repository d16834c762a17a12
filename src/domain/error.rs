//! Errors as clients see them: a stable `extensions.code` and a message that says what to fix. Internal
//! causes are logged in full and reach clients only as "internal error".

use async_graphql::ErrorExtensions;

use crate::blob::BlobError;
use crate::table::TableError;

/// Every `extensions.code` a client can see: the one list that errors, the rate limiter, the WebSocket's
/// refusals and the metrics' outcomes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadUserInput,
    NotFound,
    Unauthenticated,
    /// The owner key sent may not do this (another owner's photo or comment).
    Forbidden,
    UploadInvalid,
    /// The photo's renditions are still being made: there is nothing to link to yet; retry in a moment.
    PhotoProcessing,
    RateLimited,
    Unavailable,
    Internal,
    /// Apollo's automatic persisted queries: the hash is not known here, send the query with it.
    PersistedQueryNotFound,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        Self::BadUserInput,
        Self::NotFound,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::UploadInvalid,
        Self::PhotoProcessing,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
        Self::PersistedQueryNotFound,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::UploadInvalid => "UPLOAD_INVALID",
            Self::PhotoProcessing => "PHOTO_PROCESSING",
            Self::RateLimited => "RATE_LIMITED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
        }
    }

    /// The code spelled `code`, if it is one.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|known| known.as_str() == code)
    }
}

/// A failed API call. Deliberately not `Display`, so it can only become a GraphQL error through
/// [`From<ApiError> for async_graphql::Error`], which applies the codes and hides internals.
#[derive(Debug)]
pub enum ApiError {
    /// The request is wrong; the message names the argument and what is allowed.
    BadUserInput(String),
    NotFound(String),
    /// An owner key is needed, or the one sent is malformed.
    Unauthenticated(String),
    /// The owner key sent may not do this.
    Forbidden(String),
    /// The uploaded object is missing, not a JPEG/PNG, or too large.
    UploadInvalid(String),
    /// The photo is still PROCESSING: what was asked needs its renditions.
    PhotoProcessing(String),
    /// A backend is down or throttling: retry later.
    Unavailable(String),
    /// The request took longer than the configured deadline (a backend is too slow): retry.
    TimedOut {
        deadline: std::time::Duration,
        /// The root field asked for (`addComment` can be retried safely with its `clientId`).
        operation: &'static str,
    },
    Internal(anyhow::Error),
    /// A persisted query's hash without its text, and this instance does not know the hash.
    PersistedQueryNotFound,
}

impl ApiError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput(message.into())
    }

    /// `NOT_FOUND` for a photo id that names no photo (or one deleted).
    pub fn photo_not_found(id: uuid::Uuid) -> Self {
        Self::NotFound(format!("no photo with id {id}"))
    }

    /// `NOT_FOUND` for a comment id that names no comment of that photo (or one deleted).
    pub fn comment_not_found(photo_id: uuid::Uuid, comment_id: uuid::Uuid) -> Self {
        Self::NotFound(format!("no comment with id {comment_id} on photo {photo_id}"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::UploadInvalid(_) => ErrorCode::UploadInvalid,
            Self::PhotoProcessing(_) => ErrorCode::PhotoProcessing,
            Self::Unavailable(_) | Self::TimedOut { .. } => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
            Self::PersistedQueryNotFound => ErrorCode::PersistedQueryNotFound,
        }
    }
}

/// A name, description or comment body refused: `BAD_USER_INPUT` with what to fix.
impl From<crate::text::TextError> for ApiError {
    fn from(error: crate::text::TextError) -> Self {
        Self::BadUserInput(error.to_string())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let message = match error {
            ApiError::BadUserInput(m)
            | ApiError::NotFound(m)
            | ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::UploadInvalid(m)
            | ApiError::PhotoProcessing(m) => m,
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "backend unavailable");
                "a storage backend is unavailable; retry shortly".to_string()
            }
            ApiError::TimedOut { deadline, operation } => {
                let retry = match operation {
                    "addComment" => "retry with the same clientId: the comment is stored once",
                    "createUpload" | "createShareLink" => "retry",
                    "completeUpload" => "retry: an upload is recorded once",
                    _ => "retry shortly",
                };
                format!("the request did not finish within {} s; {retry}", deadline.as_secs())
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = format!("{cause:#}"), "internal error");
                "internal error".to_string()
            }
            // The exact message clients (Apollo, urql) look for, before they send the query with its hash.
            ApiError::PersistedQueryNotFound => "PersistedQueryNotFound".to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
    }
}

impl From<TableError> for ApiError {
    fn from(error: TableError) -> Self {
        match error {
            // The one case that can keep its cause whole (an anyhow error is not cloned).
            TableError::Internal(cause) => Self::Internal(cause),
            shared => Self::from_shared(&shared),
        }
    }
}

impl ApiError {
    /// The error a table error is to clients, from a reference (a DataLoader's batch shares one).
    fn from_shared(error: &TableError) -> Self {
        match error {
            TableError::Unavailable(cause) => Self::Unavailable(cause.clone()),
            TableError::Conflict => Self::Unavailable("write conflict persisted after retries".into()),
            TableError::ConditionFailed => Self::Internal(anyhow::anyhow!("unexpected write conflict")),
            TableError::Internal(cause) => Self::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::Unavailable(cause) => Self::Unavailable(cause),
            BlobError::Internal(cause) => Self::Internal(cause),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Errors shared by every waiter of a DataLoader batch.
impl From<std::sync::Arc<TableError>> for ApiError {
    fn from(error: std::sync::Arc<TableError>) -> Self {
        Self::from_shared(&error)
    }
}
