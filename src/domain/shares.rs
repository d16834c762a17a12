//! Share links. A link is two things: a presigned GET of the photo's object, valid for the asked time (what
//! storage enforces on its own), and a service link `/s/<token>` that redirects to a fresh presigned GET while
//! the share is valid, so it can be revoked and its opens counted. Tokens are 256 random bits; only their
//! SHA-256 is stored, and logs show a short prefix.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Services;
use crate::catalog::{Photo, PhotoStatus, Share};
use crate::domain::error::{ApiError, ApiResult};
use crate::domain::photos;
use crate::image_format::Rendition;

/// SigV4 presigned URLs live at most 7 days.
pub const MAX_SECONDS: i64 = 604_800;

/// A new share, as handed to the client.
pub struct NewShare {
    pub token: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
    pub photo: Photo,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What may appear in logs of a token: its first 6 characters, and only URL-safe ones (a token passed in by
/// a client may hold anything).
pub fn token_for_logs(token: &str) -> String {
    let shown: String = token
        .chars()
        .take(6)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '?' })
        .collect();
    format!("{shown}…")
}

/// 256 bits from the operating system's generator. (Two UUIDv4s would be 244: each fixes 6 bits.)
fn new_token() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness from the OS: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A presigned GET of the photo valid from now until `until` (a whole second), exactly: SigV4 dates are whole
/// seconds, so the link is signed at this second and expires `until - signed_at` seconds later.
async fn presign(services: &Services, photo: &Photo, until: DateTime<Utc>) -> ApiResult<String> {
    let signed_at = Utc::now().trunc_subsecs(0);
    let seconds = (until - signed_at).num_seconds().max(1) as u64;
    let url = services
        .blobs
        .view_url(
            &crate::blob::rendition_key(photo.id, Rendition::Full),
            photos::RENDITION_FORMAT,
            &photos::download_name(photo),
            signed_at,
            Duration::from_secs(seconds),
        )
        .await?;
    Ok(url)
}

/// A share link to a READY photo. A photo still PROCESSING is waited for, at most `wait`: its FULL rendition
/// does not exist yet, and a link to it would answer 404 until it did.
pub async fn create(
    services: &Services,
    photo_id: Uuid,
    expires_in_seconds: i64,
    wait: Duration,
) -> ApiResult<NewShare> {
    if !(1..=MAX_SECONDS).contains(&expires_in_seconds) {
        return Err(ApiError::bad_input(format!(
            "expiresInSeconds must be between 1 and {MAX_SECONDS} (7 days, S3's limit), not {expires_in_seconds}"
        )));
    }
    let photo = photos::processed_within(services, photo_id, wait).await?;
    let photo = photo.ok_or_else(|| ApiError::photo_not_found(photo_id))?;
    match photo.processing.status() {
        PhotoStatus::Ready => {}
        PhotoStatus::Processing => {
            return Err(ApiError::PhotoProcessing(format!(
                "photo {photo_id} is still being processed ({} s waited): share it once photoUpdated says READY, \
                 or retry in a few seconds",
                wait.as_secs()
            )));
        }
        PhotoStatus::Failed => {
            return Err(ApiError::bad_input(format!(
                "photo {photo_id} has no image to share: its processing failed ({})",
                photo.processing.error().unwrap_or("no reason recorded")
            )));
        }
    }
    let now = Utc::now().trunc_subsecs(0);
    let mut expires_at = now + chrono::Duration::seconds(expires_in_seconds);
    // A link signed with temporary credentials dies with them: promise no more than they allow.
    if let Some(credentials_expire) = services.blobs.credentials_expiry().await? {
        expires_at = expires_at.min(credentials_expire.trunc_subsecs(0));
    }
    let url = presign(services, &photo, expires_at).await?;
    let token = new_token()?;
    let share =
        Share { token_hash: hash_token(&token), photo_id, created_at: now, expires_at, revoked: false, opens: 0 };
    services.catalog.put_share(&share).await?;
    tracing::info!(token = %token_for_logs(&token), %photo_id, %expires_at, "share link created");
    Ok(NewShare { token, url, expires_at, photo })
}

/// Where the service link sends a browser now.
pub enum Open {
    Redirect(String),
    /// Expired or revoked.
    Gone,
    /// Its photo was deleted (the link's record stays until its TTL, so this is known as long as expiry is).
    PhotoDeleted,
    /// Its photo's renditions are still being made: open it again in a moment.
    Processing,
    /// Its photo's processing failed: there is no image to open.
    PhotoFailed,
    NotFound,
}

/// Open a share link; its `opens` count goes up by one when `count` (the caller's opens are within their rate).
pub async fn open(services: &Services, token: &str, count: bool) -> ApiResult<Open> {
    let hash = hash_token(token);
    let Some(share) = services.catalog.share(&hash).await? else { return Ok(Open::NotFound) };
    if !share.is_open(Utc::now()) {
        return Ok(Open::Gone);
    }
    let Some(photo) = services.catalog.photo(share.photo_id).await? else { return Ok(Open::PhotoDeleted) };
    // Links are made for READY photos; one made by an earlier version while its photo was processing waits.
    match photo.processing.status() {
        PhotoStatus::Ready => {}
        PhotoStatus::Processing => return Ok(Open::Processing),
        PhotoStatus::Failed => return Ok(Open::PhotoFailed),
    }
    if count {
        services.catalog.count_share_open(&hash).await?;
    }
    Ok(Open::Redirect(presign(services, &photo, share.expires_at).await?))
}

pub async fn revoke(services: &Services, token: &str) -> ApiResult<bool> {
    let revoked = services.catalog.revoke_share(&hash_token(token)).await?;
    tracing::info!(token = %token_for_logs(token), revoked, "share link revoked");
    Ok(revoked)
}

pub async fn status(services: &Services, token: &str) -> ApiResult<Option<Share>> {
    Ok(services.catalog.share(&hash_token(token)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_random_bits_and_hashed() {
        // Every one of the 256 bits varies: over 400 tokens each bit is set about half the time. A token
        // built from UUIDv4s has 12 bits that never change (their version and variant), and fails here.
        let tokens: Vec<Vec<u8>> = (0..400).map(|_| URL_SAFE_NO_PAD.decode(new_token().unwrap()).unwrap()).collect();
        for bit in 0..256 {
            let set = tokens.iter().filter(|t| t[bit / 8] & (1 << (bit % 8)) != 0).count();
            assert!((120..=280).contains(&set), "bit {bit} set in {set} of 400 tokens");
        }
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(token_for_logs(&a).chars().count(), 7);
        assert_eq!(token_for_logs("a\nb\u{1b}[31m"), "a?b??3…");
    }
}
