//! Who may change what: a photo's owner (the key `createUpload` was sent with) edits and deletes it; a
//! comment's author (the key `addComment` was sent with) or the photo's owner deletes the comment; an admin
//! (`--admin-key-sha256`) does all of it, and is the only one for what was made without a key. A refusal
//! says what to send: `UNAUTHENTICATED` without a key, `FORBIDDEN` with another one.

use std::collections::HashSet;

use uuid::Uuid;

use super::Services;
use super::caller::{Caller, OwnerKeyHash, Standing};
use super::error::{ApiError, ApiResult};
use crate::catalog::{Comment, Photo};

/// The stored owner of `photo`, if it has one.
pub fn owner_of(photo: &Photo) -> Option<OwnerKeyHash> {
    photo.owner.as_deref().and_then(OwnerKeyHash::from_hex)
}

/// Whether `caller` may edit and delete a photo whose stored owner is `owner` (`owner_of`): that owner, or
/// one of `admins` (the configured admin key hashes); `UNAUTHENTICATED` for a malformed key.
pub fn may_change(admins: &HashSet<OwnerKeyHash>, caller: &Caller, owner: Option<OwnerKeyHash>) -> ApiResult<bool> {
    Ok(caller.standing(admins)?.may_change(owner))
}

/// Whether `caller` may delete `comment` of `photo`: its author, the photo's owner or one of `admins`.
pub fn may_delete_comment(
    admins: &HashSet<OwnerKeyHash>,
    caller: &Caller,
    photo: Option<&Photo>,
    comment: &Comment,
) -> ApiResult<bool> {
    let standing = caller.standing(admins)?;
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
    if !may_delete_comment(&services.admins, caller, Some(&photo), &comment)? {
        return Err(ApiError::Forbidden(
            "only the comment's author (the key it was posted with), the photo's owner or an admin may delete it"
                .into(),
        ));
    }
    Ok(comment)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn with_key(key: &str) -> Caller {
        Caller::new(IP, Some(format!("Bearer {key}").as_bytes()))
    }

    fn hash(caller: &Caller) -> OwnerKeyHash {
        caller.owner().unwrap().unwrap()
    }

    #[test]
    fn the_owner_and_admins_may_change_a_photo() {
        let (owner, other, admin) = (with_key(&"o".repeat(32)), with_key(&"x".repeat(32)), with_key(&"a".repeat(32)));
        let anonymous = Caller::new(IP, None);
        let admins = HashSet::from([hash(&admin)]);
        let owned = Some(hash(&owner));

        assert!(may_change(&admins, &owner, owned).unwrap(), "its owner");
        assert!(!may_change(&admins, &other, owned).unwrap(), "another owner");
        assert!(may_change(&admins, &admin, owned).unwrap(), "an admin");
        assert!(!may_change(&admins, &anonymous, owned).unwrap(), "a caller without a key");
        assert!(!may_change(&HashSet::new(), &admin, owned).unwrap(), "an admin key no longer configured");

        // A photo uploaded without a key: only an admin.
        assert!(may_change(&admins, &admin, None).unwrap());
        for caller in [&owner, &other, &anonymous] {
            assert!(!may_change(&admins, caller, None).unwrap());
        }

        let malformed = Caller::new(IP, Some(b"Bearer short"));
        let refused = may_change(&admins, &malformed, owned).unwrap_err();
        assert_eq!(refused.code(), crate::domain::error::ErrorCode::Unauthenticated);
    }
}
