// Every GraphQL operation the playground sends: a reference for clients of the API.

const PHOTO_CARD = `
  fragment PhotoCard on Photo { id name url uploadedAt commentCount width height status placeholder
    thumbnail: image(size: THUMBNAIL) { url width height } preview: image(size: PREVIEW) { url width height } }`;

const COMMENT = `
  fragment CommentFields on Comment { id photoId body createdAt authorIp cursor viewerCanDelete }`;

/** The gallery, newest first. */
export const GALLERY = `
  query Gallery($first: Int!, $after: String) {
    photos(first: $first, after: $after) {
      nodes { ...PhotoCard }
      pageInfo { hasNextPage endCursor }
    }
  }${PHOTO_CARD}`;

/** Search: name words and an upload time range (RFC 3339, inclusive), newest first. */
export const SEARCH = `
  query Search($first: Int!, $after: String, $filter: PhotoFilter!) {
    photos(first: $first, after: $after, filter: $filter) {
      nodes { ...PhotoCard }
      pageInfo { hasNextPage endCursor }
    }
  }${PHOTO_CARD}`;

/** New photos, live (the gallery prepends them). */
export const PHOTO_ADDED = `
  subscription PhotoAdded { photoAdded { ...PhotoCard } }${PHOTO_CARD}`;

/** Processing finished (READY or FAILED) or an edit, for one photo or (no id) every photo. */
export const PHOTO_UPDATED = `
  subscription PhotoUpdated($id: ID) { photoUpdated(id: $id) { ...PhotoCard } }${PHOTO_CARD}`;

/** One photo as a gallery card shows it. */
export const PHOTO_CARD_QUERY = `
  query PhotoCard($id: ID!) { photo(id: $id) { ...PhotoCard } }${PHOTO_CARD}`;

const PHOTO_PAGE = `
  fragment PhotoPage on Photo {
    id name description contentType sizeBytes width height uploadedAt uploaderIp url commentCount
    status processingError placeholder takenAt camera viewerCanEdit
    thumbnail: image(size: THUMBNAIL) { url width height } preview: image(size: PREVIEW) { url width height }
  }`;

/** One photo with the first page of its timeline. */
export const PHOTO = `
  query Photo($id: ID!, $first: Int!) {
    photo(id: $id) {
      ...PhotoPage
      comments(first: $first) {
        nodes { ...CommentFields }
        pageInfo { hasNextPage endCursor }
      }
    }
  }${PHOTO_PAGE}${COMMENT}`;

/** One photo's page without its timeline, and its changes (processing finished, edits). */
export const PHOTO_PAGE_QUERY = `
  query PhotoPage($id: ID!) { photo(id: $id) { ...PhotoPage } }${PHOTO_PAGE}`;
export const PHOTO_PAGE_UPDATED = `
  subscription PhotoPageUpdated($id: ID!) { photoUpdated(id: $id) { ...PhotoPage } }${PHOTO_PAGE}`;

/** A fresh view link for a photo (links are short-lived). */
export const PHOTO_URL = `
  query PhotoUrl($id: ID!) { photo(id: $id) { id url status
    thumbnail: image(size: THUMBNAIL) { url width height } preview: image(size: PREVIEW) { url width height } } }`;

/** More of a photo's timeline, oldest first, after a comment's cursor. */
export const COMMENTS = `
  query Comments($id: ID!, $first: Int!, $after: String) {
    photo(id: $id) {
      id
      comments(first: $first, after: $after) {
        nodes { ...CommentFields }
        pageInfo { hasNextPage endCursor }
      }
    }
  }${COMMENT}`;

/** New comments on one photo; with `after`, the ones posted after that cursor come first (resume). */
export const COMMENT_ADDED = `
  subscription CommentAdded($photoId: ID!, $after: String) {
    commentAdded(photoId: $photoId, after: $after) { ...CommentFields }
  }${COMMENT}`;

/** `clientId` makes a retry safe: the same id returns the comment stored the first time. */
export const ADD_COMMENT = `
  mutation AddComment($input: AddCommentInput!) {
    addComment(input: $input) { ...CommentFields }
  }${COMMENT}`;

/** Upload step 1: a presigned POST ticket. */
export const CREATE_UPLOAD = `
  mutation CreateUpload($input: CreateUploadInput!) {
    createUpload(input: $input) { uploadId url fields { name value } expiresAt maxBytes }
  }`;

/** Upload step 3 (step 2 is the POST to storage): the server checks the object and records the photo. */
export const COMPLETE_UPLOAD = `
  mutation CompleteUpload($uploadId: ID!) {
    completeUpload(uploadId: $uploadId) { id name }
  }`;

/** A presigned GET link to the photo that stops working at `expiresAt`. */
export const CREATE_SHARE_LINK = `
  mutation CreateShareLink($photoId: ID!, $expiresInSeconds: Int!) {
    createShareLink(photoId: $photoId, expiresInSeconds: $expiresInSeconds) { url expiresAt }
  }`;

/** Edits by the photo's owner (or an admin): a new name or description (empty clears it). */
export const UPDATE_PHOTO = `
  mutation UpdatePhoto($input: UpdatePhotoInput!) { updatePhoto(input: $input) { ...PhotoPage } }${PHOTO_PAGE}`;

export const DELETE_PHOTO = `
  mutation DeletePhoto($id: ID!) { deletePhoto(id: $id) }`;

export const DELETE_COMMENT = `
  mutation DeleteComment($photoId: ID!, $commentId: ID!) { deleteComment(photoId: $photoId, commentId: $commentId) }`;

/** Deleted photos (the gallery drops their cards; an open photo page says so). */
export const PHOTO_REMOVED = `
  subscription PhotoRemoved { photoRemoved }`;

/** Deleted comments of one photo. */
export const COMMENT_REMOVED = `
  subscription CommentRemoved($photoId: ID!) { commentRemoved(photoId: $photoId) }`;
