//! The playground web app (`playground/app/`): its page at `/` and its files at `/app/<file>`, embedded in
//! the binary so a fresh clone serves it with `cargo run` alone, offline. One file is made here:
//! `limits.js`, the lengths the forms allow, from the API's own (each kind's `MAX_CHARS` in `text::bounded`).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::text::{CommentText, PhotoDescription, PhotoName};

/// The page may load scripts and styles only from this server; images, uploads (straight to storage) and
/// subscriptions may go anywhere. Text from users is never parsed as HTML, and this is a second fence.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src * data: blob:; connect-src 'self' http: https: ws: wss:; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the app but `index.html`: name, content type, bytes. A new file must be listed here (the
/// integration test checks that every file in `playground/app/` is served).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../playground/app/app.css")),
    ("app.js", JS, include_bytes!("../../playground/app/app.js")),
    ("api.js", JS, include_bytes!("../../playground/app/api.js")),
    ("comments.js", JS, include_bytes!("../../playground/app/comments.js")),
    ("dom.js", JS, include_bytes!("../../playground/app/dom.js")),
    ("format.js", JS, include_bytes!("../../playground/app/format.js")),
    ("gallery.js", JS, include_bytes!("../../playground/app/gallery.js")),
    ("images.js", JS, include_bytes!("../../playground/app/images.js")),
    ("key.js", JS, include_bytes!("../../playground/app/key.js")),
    ("live.js", JS, include_bytes!("../../playground/app/live.js")),
    ("operations.js", JS, include_bytes!("../../playground/app/operations.js")),
    ("owner.js", JS, include_bytes!("../../playground/app/owner.js")),
    ("photo.js", JS, include_bytes!("../../playground/app/photo.js")),
    ("share.js", JS, include_bytes!("../../playground/app/share.js")),
    ("thumbhash.js", JS, include_bytes!("../../playground/app/thumbhash.js")),
    ("upload.js", JS, include_bytes!("../../playground/app/upload.js")),
];

fn headers(content_type: &'static str) -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // Not versioned by name: browsers revalidate on each load, so a new binary's files are used at once.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ]
}

/// `GET /`: the app's page.
pub(super) async fn index() -> Response {
    let policy = (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    (headers("text/html; charset=utf-8"), [policy], include_str!("../../playground/app/index.html")).into_response()
}

/// `limits.js`: what the forms' `maxlength` and the comment counter use, so they cannot drift from the rules.
fn limits_js() -> String {
    format!(
        "// The lengths the API allows, in characters: made by the server (src/http/playground.rs).\n\
         export const NAME_MAX_CHARS = {};\n\
         export const DESCRIPTION_MAX_CHARS = {};\n\
         export const COMMENT_MAX_CHARS = {};\n",
        PhotoName::MAX_CHARS,
        PhotoDescription::MAX_CHARS,
        CommentText::MAX_CHARS
    )
}

/// `GET /app/<file>`: one of the app's files.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    if file == "limits.js" {
        return (headers(JS), limits_js()).into_response();
    }
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (headers(content_type), *bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
