//! Who may change what: a photo's owner (the key `createUpload` was sent with) edits and deletes it; a
//! comment's author (the key `addComment` was sent with) or the photo's owner deletes the comment; an admin
//! (`--admin-key-sha256`) does all of it, and is the only one for what was made without a key. A refusal
//! says what to send: `UNAUTHENTICATED` without a key, `FORBIDDEN` with another one.

use uuid::Uuid;

use super::Services;
use super::caller::{Caller, OwnerKeyHash, Standing};
use super::error::{ApiError, ApiResult};
use crate::catalog::{Comment, Photo};

/// The stored owner of `photo`, if it has one.
pub fn owner_of(photo: &Photo) -> Option<OwnerKeyHash> {
    photo.owner.as_deref().and_then(OwnerKeyHash::from_hex)
}

/// Whether `caller` may edit and delete `photo`; `UNAUTHENTICATED` for a malformed key.
pub fn may_change(services: &Services, caller: &Caller, photo: &Photo) -> ApiResult<bool> {
    Ok(caller.standing(&services.admins)?.may_change(owner_of(photo)))
}

/// Whether `caller` may delete `comment` of `photo`: its author, the photo's owner or an admin.
pub fn may_delete_comment(
    services: &Services,
    caller: &Caller,
    photo: Option<&Photo>,
    comment: &Comment,
) -> ApiResult<bool> {
    let standing = caller.standing(&services.admins)?;
    let author = comment.author.as_deref().and_then(OwnerKeyHash::from_hex);
    Ok(standing.may_change(author) || photo.is_some_and(|photo| standing.may_change(owner_of(photo))))
}

/// Photo `id`, for `caller` to `verb` ("edit", "delete"): it must send the photo's owner key or an admin's.
pub async fn photo_to_change(services: &Services, caller: &Caller, id: Uuid, verb: &str) -> ApiResult<Photo> {
    let standing = caller.standing(&services.admins)?;
    if standing == Standing::Anonymous {
        return Err(ApiError::Unauthenticated(format!(
            "to {verb} a photo, send the owner key it was uploaded with: `Authorization: Bearer <key>`"
        )));
    }
    let photo = services.catalog.photo(id).await?.ok_or_else(|| ApiError::photo_not_found(id))?;
    if !standing.may_change(owner_of(&photo)) {
        return Err(ApiError::Forbidden(match photo.owner {
            None => format!("this photo was uploaded without an owner key: only an admin may {verb} it"),
            Some(_) => format!("only the photo's owner (the key it was uploaded with) or an admin may {verb} it"),
        }));
    }
    Ok(photo)
}

/// Comment `comment_id` of photo `photo_id`, for `caller` to delete: it must send the comment's key, the
/// photo's owner key or an admin's.
pub async fn comment_to_delete(
    services: &Services,
    caller: &Caller,
    photo_id: Uuid,
    comment_id: Uuid,
) -> ApiResult<Comment> {
    if caller.standing(&services.admins)? == Standing::Anonymous {
        return Err(ApiError::Unauthenticated(
            "to delete a comment, send the owner key it was posted with, or the photo's: `Authorization: Bearer <key>`"
                .into(),
        ));
    }
    let photo = services.catalog.photo(photo_id).await?;
    let photo = photo.ok_or_else(|| ApiError::photo_not_found(photo_id))?;
    let comment = services.catalog.comment(photo_id, comment_id).await?;
    let comment = comment.ok_or_else(|| ApiError::comment_not_found(photo_id, comment_id))?;
    if !may_delete_comment(services, caller, Some(&photo), &comment)? {
        return Err(ApiError::Forbidden(
            "only the comment's author (the key it was posted with), the photo's owner or an admin may delete it"
                .into(),
        ));
    }
    Ok(comment)
}
