//! The attribute names of the catalog's items, each spelled once: items are read and written in several
//! files (a photo by photos.rs, processing.rs, edits.rs and deletion.rs), and a name misspelled in one of them
//! would read as absent, not fail.

pub const ATTEMPTS: &str = "attempts";
pub const AUTHOR_IP: &str = "authorIp";
pub const AUTHOR_KEY: &str = "authorKey";
pub const BODY: &str = "body";
pub const CAMERA: &str = "camera";
pub const COMMENT_COUNT: &str = "commentCount";
pub const COMMENT_SK: &str = "commentSk";
pub const CONTENT_TYPE: &str = "contentType";
pub const COUNT: &str = "count";
pub const CREATED_AT: &str = "createdAt";
pub const DESCRIPTION: &str = "description";
pub const EXPIRES_AT: &str = "expiresAt";
pub const FIRST_COMMENTS: &str = "firstComments";
pub const FIRST_COMMENTS_UNTIL: &str = "firstCommentsUntil";
pub const HEIGHT: &str = "height";
pub const HOLDER: &str = "holder";
pub const ID: &str = "id";
pub const KIND: &str = "kind";
pub const LAST_COMMENT_AT: &str = "lastCommentAt";
pub const LEASE: &str = "lease";
pub const LEASE_UNTIL: &str = "leaseUntil";
pub const NAME: &str = "name";
pub const NAME_SHARD: &str = "nameShard";
pub const OBJECT_KEY: &str = "objectKey";
pub const OPENS: &str = "opens";
pub const OWNER_KEY: &str = "ownerKey";
pub const PAYLOAD: &str = "payload";
pub const PHOTO_ID: &str = "photoId";
pub const PLACEHOLDER: &str = "placeholder";
pub const PREVIOUS_AT: &str = "previousAt";
pub const PROCESSING_ERROR: &str = "processingError";
pub const RENDITIONS: &str = "renditions";
pub const REVISION: &str = "revision";
pub const REVOKED: &str = "revoked";
pub const SIZE_BYTES: &str = "sizeBytes";
pub const STATUS: &str = "status";
pub const TAKEN_AT: &str = "takenAt";
pub const TOKENS_DONE: &str = "tokensDone";
pub const UPLOADED_AT: &str = "uploadedAt";
pub const UPLOADER_IP: &str = "uploaderIp";
pub const WIDTH: &str = "width";
pub const WORDS: &str = "words";
