//! Uploading: the ticket, the direct POST to storage, completion, and everything that must be refused.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::both_modes;
use crate::helpers::{JPEG, Mode, PNG, TestApp};

both_modes!(
    an_uploaded_photo_is_recorded_with_its_details_and_viewable,
    the_name_defaults_to_the_file_name_and_png_is_accepted,
    completing_twice_records_one_photo,
    completion_refuses_missing_non_image_and_unknown_uploads,
    bad_ticket_requests_are_refused_without_backend_calls,
    storage_refuses_uploads_the_ticket_does_not_allow,
    the_first_answer_has_the_displayed_size_of_a_rotated_photo,
);

async fn an_uploaded_photo_is_recorded_with_its_details_and_viewable(app: TestApp) {
    let before: DateTime<Utc> = Utc::now();
    let query = "mutation($input: CreateUploadInput!) { createUpload(input: $input) { uploadId url fields { name value } expiresAt maxBytes } }";
    let input = json!({ "fileName": "IMG_0042.jpg", "contentType": "image/jpeg", "name": "Sunset at the pier", "description": "Warm\nevening" });
    let ticket = app.data(query, json!({ "input": input })).await["createUpload"].clone();
    assert_eq!(ticket["maxBytes"], 20 * 1024 * 1024);
    let expires_at: DateTime<Utc> = ticket["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!((expires_at - before).num_seconds() > 590 && (expires_at - before).num_seconds() <= 600, "{expires_at}");

    let posted = app.post_file(&ticket, JPEG, "image/jpeg", &[]).await;
    assert!(posted.status().is_success(), "{}", posted.status());
    let photo = app.complete_upload(ticket["uploadId"].as_str().unwrap()).await["data"]["completeUpload"].clone();
    let after = Utc::now();

    assert_eq!(photo["id"], ticket["uploadId"]);
    assert_eq!(photo["name"], "Sunset at the pier");
    assert_eq!(photo["description"], "Warm\nevening");
    assert_eq!(photo["contentType"], "image/jpeg");
    assert_eq!(photo["sizeBytes"], JPEG.len(), "until READY, the upload's size");
    assert_eq!(photo["uploaderIp"], "127.0.0.1");
    assert_eq!(photo["commentCount"], 0);
    let uploaded_at: DateTime<Utc> = photo["uploadedAt"].as_str().unwrap().parse().unwrap();
    assert!(before <= uploaded_at && uploaded_at <= after, "{uploaded_at} not within {before}..{after}");

    let gallery = app.data("{ photos(first: 5) { nodes { id name uploaderIp } } }", json!({})).await;
    assert_eq!(gallery["photos"]["nodes"][0]["id"], photo["id"]);
    let fetched = app.ready(&photo["id"]).await;
    assert_eq!(fetched["status"], "READY");
    for field in ["id", "name", "description", "contentType", "uploadedAt", "uploaderIp"] {
        assert_eq!(fetched[field], photo[field], "{field}");
    }
    assert_eq!((fetched["width"].as_i64(), fetched["height"].as_i64()), (Some(64), Some(48)));

    let viewed = app.client.get(fetched["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(viewed.status(), 200);
    assert_eq!(viewed.headers()["content-type"], "image/jpeg");
    assert!(viewed.headers()["content-disposition"].to_str().unwrap().starts_with("inline"));
    let served = viewed.bytes().await.unwrap();
    assert_eq!(served.len() as i64, fetched["sizeBytes"].as_i64().unwrap(), "sizeBytes is what the link serves");
    assert_eq!(image::load_from_memory(&served).unwrap().width(), 64, "the FULL rendition, not the upload");
}

async fn the_name_defaults_to_the_file_name_and_png_is_accepted(app: TestApp) {
    let ticket = app.create_upload("C:\\Users\\ann\\holiday.beach.png", "image/png", None).await;
    assert!(app.post_file(&ticket, PNG, "image/png", &[]).await.status().is_success());
    let photo = app.complete_upload(ticket["uploadId"].as_str().unwrap()).await["data"]["completeUpload"].clone();
    assert_eq!(photo["name"], "holiday.beach");
    assert_eq!(photo["contentType"], "image/png");
    let ready = app.ready(&photo["id"]).await;
    assert_eq!((ready["width"].as_i64(), ready["height"].as_i64()), (Some(20), Some(10)));
    assert!(photo["description"].is_null());
}

async fn completing_twice_records_one_photo(app: TestApp) {
    let ticket = app.create_upload("a.jpg", "image/jpeg", Some("once")).await;
    assert!(app.post_file(&ticket, JPEG, "image/jpeg", &[]).await.status().is_success());
    let id = ticket["uploadId"].as_str().unwrap();
    let (first, second) = tokio::join!(app.complete_upload(id), app.complete_upload(id));
    let third = app.complete_upload(id).await;
    for body in [&first, &second, &third] {
        assert!(body.get("errors").is_none(), "{body}");
    }
    // The same photo (by then it may be READY: the later answer reads it as it is).
    for field in ["id", "name", "uploadedAt", "uploaderIp"] {
        assert_eq!(first["data"]["completeUpload"][field], second["data"]["completeUpload"][field], "{field}");
    }
    assert_eq!(first["data"]["completeUpload"]["uploadedAt"], third["data"]["completeUpload"]["uploadedAt"]);
    let gallery = app.data("{ photos { nodes { id } } }", json!({})).await;
    assert_eq!(gallery["photos"]["nodes"].as_array().unwrap().len(), 1);
}

async fn completion_refuses_missing_non_image_and_unknown_uploads(app: TestApp) {
    let complete = "mutation($id: ID!) { completeUpload(uploadId: $id) { id } }";

    let never_sent = app.create_upload("a.jpg", "image/jpeg", None).await;
    assert_eq!(app.error_code(complete, json!({ "id": never_sent["uploadId"] })).await, "UPLOAD_INVALID");

    let text = app.create_upload("notes.jpg", "image/jpeg", None).await;
    let fake = b"this is a text file pretending to be a photo".as_slice();
    assert!(app.post_file(&text, fake, "image/jpeg", &[]).await.status().is_success());
    let body = app.graphql(complete, json!({ "id": text["uploadId"] })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UPLOAD_INVALID");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("not a readable JPEG, PNG or WebP"), "{body}");
    let key = format!("photos/{}.jpg", text["uploadId"].as_str().unwrap());
    assert!(app.state.services.blobs.head(&key).await.unwrap().is_none(), "the invalid object was deleted");

    let png_as_jpeg = app.create_upload("x.jpg", "image/jpeg", None).await;
    assert!(app.post_file(&png_as_jpeg, PNG, "image/jpeg", &[]).await.status().is_success());
    assert_eq!(app.error_code(complete, json!({ "id": png_as_jpeg["uploadId"] })).await, "UPLOAD_INVALID");

    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.error_code(complete, json!({ "id": unknown })).await, "NOT_FOUND");
    assert_eq!(app.error_code(complete, json!({ "id": "not-an-id" })).await, "BAD_USER_INPUT");

    let gallery = app.data("{ photos { nodes { id } } }", json!({})).await;
    assert_eq!(gallery["photos"]["nodes"], json!([]), "no photo recorded for any refused upload");
}

async fn bad_ticket_requests_are_refused_without_backend_calls(app: TestApp) {
    let query = "mutation($input: CreateUploadInput!) { createUpload(input: $input) { uploadId } }";
    let long_name = "n".repeat(201);
    let long_description = "d".repeat(2001);
    let cases = [
        json!({ "fileName": "a.gif", "contentType": "image/gif" }),
        json!({ "fileName": "a.jpg", "contentType": "text/html" }),
        json!({ "fileName": "   ", "contentType": "image/jpeg" }),
        json!({ "fileName": "a.jpg", "contentType": "image/jpeg", "name": long_name }),
        json!({ "fileName": "a.jpg", "contentType": "image/jpeg", "description": long_description }),
    ];
    let calls = app.table_calls();
    for input in cases {
        let body = app.graphql(query, json!({ "input": input })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{input} → {body}");
    }
    assert_eq!(app.table_calls(), calls, "rejected requests touch no backend");
}

async fn storage_refuses_uploads_the_ticket_does_not_allow(app: TestApp) {
    // A second server with a small size limit and one-second tickets, on the same kind of store.
    let strict = TestApp::spawn(app.mode, &["--max-upload-bytes", "1000", "--upload-ticket-seconds", "1"]).await;
    let complete = "mutation($id: ID!) { completeUpload(uploadId: $id) { id } }";

    let ticket = strict.create_upload("a.jpg", "image/jpeg", None).await;
    assert_eq!(ticket["maxBytes"], 1000);
    let mut too_big = JPEG.to_vec();
    too_big.resize(1001, 0);
    let refusals = [
        ("over maxBytes", strict.post_file(&ticket, &too_big, "image/jpeg", &[]).await),
        ("another content type", strict.post_file(&ticket, JPEG, "image/png", &[("Content-Type", "image/png")]).await),
        ("another key", strict.post_file(&ticket, JPEG, "image/jpeg", &[("key", "photos/elsewhere.jpg")]).await),
    ];
    for (what, response) in refusals {
        let status = response.status();
        assert!(status.is_client_error(), "{what}: storage answered {status} ({:?})", app.mode);
    }
    assert!(strict.state.services.blobs.head("photos/elsewhere.jpg").await.unwrap().is_none());
    assert_eq!(strict.error_code(complete, json!({ "id": ticket["uploadId"] })).await, "UPLOAD_INVALID");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = strict.post_file(&ticket, JPEG, "image/jpeg", &[]).await;
    assert!(expired.status().is_client_error(), "an expired ticket: storage answered {}", expired.status());
    assert_eq!(strict.error_code(complete, json!({ "id": ticket["uploadId"] })).await, "UPLOAD_INVALID");
    if app.mode == Mode::Embedded {
        // The same ticket within its time was good: prove the refusals above came from the policy.
        let fresh = strict.create_upload("a.jpg", "image/jpeg", None).await;
        assert!(strict.post_file(&fresh, JPEG, "image/jpeg", &[]).await.status().is_success());
    }
}

/// Short tickets, so that files sent and never completed are abandoned within the test.
mod abandoned {
    use super::files_sent_and_never_completed_are_removed;
    crate::both_modes!(
        flags = &["--upload-ticket-seconds", "3", "--abandoned-upload-seconds", "4"];
        files_sent_and_never_completed_are_removed
    );
}

async fn files_sent_and_never_completed_are_removed(app: TestApp) {
    let blobs = &app.state.services.blobs;
    let key = |ticket: &serde_json::Value| {
        let id = uuid::Uuid::parse_str(ticket["uploadId"].as_str().unwrap()).unwrap();
        (photoshare::blob::pending_key(id, photoshare::image_format::ImageFormat::Jpeg), id)
    };
    let abandoned = app.create_upload("left.jpg", "image/jpeg", Some("Left behind")).await;
    assert!(app.post_file(&abandoned, JPEG, "image/jpeg", &[]).await.status().is_success());
    let (abandoned_key, _) = key(&abandoned);
    assert!(blobs.head(&abandoned_key).await.unwrap().is_some(), "the file waits under the pending prefix");

    // A completed upload leaves the pending prefix at once: the file is kept as the photo's original.
    let completed = app.create_upload("kept.jpg", "image/jpeg", Some("Kept")).await;
    assert!(app.post_file(&completed, JPEG, "image/jpeg", &[]).await.status().is_success());
    let (completed_key, id) = key(&completed);
    let photo = app.complete_upload(completed["uploadId"].as_str().unwrap()).await;
    assert!(photo.get("errors").is_none(), "{photo}");
    assert!(blobs.head(&completed_key).await.unwrap().is_none(), "no pending copy of a completed upload");
    let original = photoshare::blob::object_key(id, photoshare::image_format::ImageFormat::Jpeg);
    assert!(blobs.head(&original).await.unwrap().is_some());
    app.ready(&photo["data"]["completeUpload"]["id"]).await;

    // The abandoned file goes once it is older than --abandoned-upload-seconds; the photo stays whole.
    let mut gone = false;
    for _ in 0..100 {
        if blobs.head(&abandoned_key).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the abandoned upload's file is removed");
    assert!(blobs.head(&original).await.unwrap().is_some(), "a photo's original is never swept");
    let served = app
        .data("query($id: ID!) { photo(id: $id) { status } }", json!({ "id": photo["data"]["completeUpload"]["id"] }))
        .await;
    assert_eq!(served["photo"]["status"], "READY");
    // Completing the abandoned ticket now says what happened.
    let late = app.complete_upload(abandoned["uploadId"].as_str().unwrap()).await;
    assert_eq!(late["errors"][0]["extensions"]["code"], "UPLOAD_INVALID", "{late}");
}

/// A phone photo stored 400x300 with EXIF orientation 6 is shown 300x400: `completeUpload` says so at once
/// (it reads the header to check the file), and processing agrees.
async fn the_first_answer_has_the_displayed_size_of_a_rotated_photo(app: TestApp) {
    let rotated = crate::images::phone_jpeg(400, 300, 6);
    let photo = app.upload_bytes("Sideways", "image/jpeg", &rotated).await;
    assert_eq!((photo["width"].as_i64(), photo["height"].as_i64()), (Some(300), Some(400)), "{photo}");
    let ready = app.ready(&photo["id"]).await;
    assert_eq!(ready["status"], "READY");
    assert_eq!((ready["width"].as_i64(), ready["height"].as_i64()), (Some(300), Some(400)), "processing agrees");

    let upright = app.upload_bytes("Upright", "image/png", PNG).await;
    assert_eq!((upright["width"].as_i64(), upright["height"].as_i64()), (Some(20), Some(10)), "{upright}");
}
