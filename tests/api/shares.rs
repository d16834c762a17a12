//! Share links: a presigned GET that storage refuses after expiry, and the revocable service link.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(
    a_share_link_opens_the_photo_until_it_expires,
    the_service_link_redirects_until_expiry_or_revocation,
    bad_share_requests_are_refused,
    opens_are_counted_up_to_a_rate_per_address,
    a_deleted_photos_service_link_is_gone_for_good,
);

/// Without a worker, so photos stay PROCESSING until the test starts one; a share link waits 3 s at most.
mod while_processing {
    use super::links_handed_out_while_a_photo_is_processing_open_it_once_it_is_ready;
    crate::both_modes!(
        flags = &["--processing-jobs", "0", "--request-timeout-seconds", "6"];
        links_handed_out_while_a_photo_is_processing_open_it_once_it_is_ready
    );
}

const CREATE: &str = "mutation($id: ID!, $seconds: Int) { createShareLink(photoId: $id, expiresInSeconds: $seconds) {
    url expiresAt token serviceUrl photo { id name } } }";

async fn share(app: &TestApp, photo: &Value, seconds: Option<i64>) -> Value {
    app.data(CREATE, json!({ "id": photo["id"], "seconds": seconds })).await["createShareLink"].clone()
}

async fn a_share_link_opens_the_photo_until_it_expires(app: TestApp) {
    let photo = app.upload_photo("Sunset at the pier").await;
    let before = Utc::now();
    let link = share(&app, &photo, None).await;
    let expires_at: DateTime<Utc> = link["expiresAt"].as_str().unwrap().parse().unwrap();
    let lifetime = (expires_at - before).num_seconds();
    assert!((58..=60).contains(&lifetime), "one minute by default, not {lifetime} s");
    assert_eq!(link["photo"]["id"], photo["id"]);

    let opened = app.client.get(link["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.headers()["content-type"], "image/jpeg");
    let disposition = opened.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("inline; filename=\"Sunset at the pier.jpg\""), "{disposition}");
    let full = app.client.get(photo["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(opened.bytes().await.unwrap(), full, "the FULL rendition, as Photo.url serves it");

    let url = link["url"].as_str().unwrap();
    let tampered = match url.find("X-Amz-Signature=") {
        Some(at) => {
            let at = at + "X-Amz-Signature=".len();
            let flipped = if &url[at..at + 1] == "0" { "1" } else { "0" };
            format!("{}{flipped}{}", &url[..at], &url[at + 1..])
        }
        None => panic!("not a SigV4 presigned URL: {url}"),
    };
    assert_eq!(app.client.get(tampered).send().await.unwrap().status(), 403, "a tampered signature is refused");

    let short = share(&app, &photo, Some(2)).await;
    assert_eq!(app.client.get(short["url"].as_str().unwrap()).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let late = app.client.get(short["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(late.status(), 403, "storage refuses an expired link");
}

async fn the_service_link_redirects_until_expiry_or_revocation(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let link = share(&app, &photo, Some(30)).await;
    let service_url = link["serviceUrl"].as_str().unwrap();
    assert!(service_url.starts_with(&format!("{}/s/", app.address)), "{service_url}");
    assert!(link["token"].as_str().unwrap().len() >= 43, "at least 256 bits");

    for _ in 0..2 {
        let redirect = app.client.get(service_url).send().await.unwrap();
        assert_eq!(redirect.status(), 302);
        let location = redirect.headers()["location"].to_str().unwrap().to_string();
        let photo_bytes = app.client.get(location).send().await.unwrap();
        assert_eq!(photo_bytes.status(), 200);
        let served = photo_bytes.bytes().await.unwrap();
        assert!(crate::images::inspect(&served).metadata_left.is_empty());
        assert_eq!(image::load_from_memory(&served).unwrap().width(), 64, "the FULL rendition");
    }
    let status = "query($t: String!) { shareLink(token: $t) { opens revoked expiresAt photo { id } } }";
    let audit = app.data(status, json!({ "t": link["token"] })).await["shareLink"].clone();
    assert_eq!((audit["opens"].as_i64(), audit["revoked"].as_bool()), (Some(2), Some(false)));
    assert_eq!(audit["photo"]["id"], photo["id"]);

    let revoke = "mutation($t: String!) { revokeShareLink(token: $t) }";
    assert_eq!(app.data(revoke, json!({ "t": link["token"] })).await["revokeShareLink"], true);
    assert_eq!(app.client.get(service_url).send().await.unwrap().status(), 410, "revoked");
    let audit = app.data(status, json!({ "t": link["token"] })).await["shareLink"].clone();
    assert_eq!((audit["opens"].as_i64(), audit["revoked"].as_bool()), (Some(2), Some(true)));

    let brief = share(&app, &photo, Some(2)).await;
    assert_eq!(app.client.get(brief["serviceUrl"].as_str().unwrap()).send().await.unwrap().status(), 302);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(app.client.get(brief["serviceUrl"].as_str().unwrap()).send().await.unwrap().status(), 410, "expired");

    let unknown = format!("{}/s/{}", app.address, "A".repeat(43));
    assert_eq!(app.client.get(unknown).send().await.unwrap().status(), 404);
    assert_eq!(app.data(revoke, json!({ "t": "nope" })).await["revokeShareLink"], false);
    assert!(app.data(status, json!({ "t": "nope" })).await["shareLink"].is_null());
}

async fn bad_share_requests_are_refused(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let cases = [
        (json!({ "id": photo["id"], "seconds": 0 }), "BAD_USER_INPUT"),
        (json!({ "id": photo["id"], "seconds": 604_801 }), "BAD_USER_INPUT"),
        (json!({ "id": "not-an-id", "seconds": 60 }), "BAD_USER_INPUT"),
        (json!({ "id": uuid::Uuid::new_v4().to_string(), "seconds": 60 }), "NOT_FOUND"),
    ];
    for (variables, code) in cases {
        assert_eq!(app.error_code(CREATE, variables.clone()).await, code, "{variables}");
    }
    // Seven days is the longest S3 allows, and fine.
    let week = share(&app, &photo, Some(604_800)).await;
    assert_eq!(app.client.get(week["url"].as_str().unwrap()).send().await.unwrap().status(), 200);
}

/// Every open of a service link is a table write: one address's opens are counted 10 at once and then 30 a
/// minute, and past that the link still works, uncounted and without writing.
async fn opens_are_counted_up_to_a_rate_per_address(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let link = share(&app, &photo, Some(300)).await;
    let service_url = link["serviceUrl"].as_str().unwrap();
    let writes = app.table_writes();
    let started = std::time::Instant::now();
    for n in 0..40 {
        let redirect = app.client.get(service_url).send().await.unwrap();
        assert_eq!(redirect.status(), 302, "open {n} still redirects");
    }
    let took = started.elapsed().as_secs() as i64;
    let status = "query($t: String!) { shareLink(token: $t) { opens } }";
    let opens = app.data(status, json!({ "t": link["token"] })).await["shareLink"]["opens"].as_i64().unwrap();
    // The burst of 10, and what the rate refills while the 40 requests run (one every 2 s).
    assert!((10..=11 + took / 2).contains(&opens), "{opens} opens counted of 40 in {took} s");
    assert_eq!(app.table_writes() - writes, opens as u64, "one write per counted open, none for the others");
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse().ok())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(elsewhere.get(service_url).send().await.unwrap().status(), 302);
    let counted = app.data(status, json!({ "t": link["token"] })).await["shareLink"]["opens"].as_i64().unwrap();
    assert_eq!(counted, opens + 1, "another address is counted");
}

/// A deleted photo's service link answers 410 Gone, at once and after the sweeper has removed the photo's
/// leftovers, as an expired or revoked one does; the audit still finds the link, without its photo.
async fn a_deleted_photos_service_link_is_gone_for_good(app: TestApp) {
    let owner = app.with_key(Some("owner-key-of-the-share-link-tests-01234"));
    let photo = owner.upload_photo("Pier at night").await;
    let link = share(&owner, &photo, Some(600)).await;
    let service_url = link["serviceUrl"].as_str().unwrap();
    assert_eq!(app.client.get(service_url).send().await.unwrap().status(), 302);

    let delete = "mutation($id: ID!) { deletePhoto(id: $id) }";
    assert_eq!(owner.data(delete, json!({ "id": photo["id"] })).await["deletePhoto"], true);
    assert_eq!(app.client.get(service_url).send().await.unwrap().status(), 410, "right after the delete");
    let trash = photoshare::table::Query::partition("TRASH", 10);
    for _ in 0..200 {
        if app.state.services.catalog.table().query(&trash).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.state.services.catalog.table().query(&trash).await.unwrap().is_empty(), "the sweep ended");
    let gone = app.client.get(service_url).send().await.unwrap();
    assert_eq!(gone.status(), 410, "after the sweep");
    assert!(gone.text().await.unwrap().contains("deleted"), "the answer says why");
    let status = "query($t: String!) { shareLink(token: $t) { opens photo { id } } }";
    let audit = app.data(status, json!({ "t": link["token"] })).await["shareLink"].clone();
    assert_eq!((audit["opens"].as_i64(), audit["photo"].clone()), (Some(1), Value::Null), "{audit}");
}

/// The seed's flow, upload then share, while the photo is still PROCESSING: `Photo.url` is the service's own
/// link, which asks the browser to come back (503, `Retry-After`) instead of answering 404; `createShareLink`
/// waits for READY within half the request's deadline, and says `PHOTO_PROCESSING` past it. Once the photo is
/// READY both open it, and a share link asked for meanwhile is answered as soon as it is.
async fn links_handed_out_while_a_photo_is_processing_open_it_once_it_is_ready(app: TestApp) {
    let app = app.with_key(Some("owner-of-the-early-photo-0123456789abcdef"));
    let photo = app.upload_bytes("early", "image/jpeg", &crate::images::phone_jpeg(1200, 900, 6)).await;
    let early = app.data("query($id: ID!) { photo(id: $id) { status url } }", json!({ "id": photo["id"] })).await;
    assert_eq!(early["photo"]["status"], "PROCESSING");
    assert_eq!(early["photo"]["url"], photo["url"], "completeUpload answered the same link");
    let early_url = photo["url"].as_str().unwrap().to_string();
    assert_eq!(early_url, format!("{}/p/{}", app.address, photo["id"].as_str().unwrap()));
    let waiting = app.client.get(&early_url).send().await.unwrap();
    assert_eq!(waiting.status(), 503, "not a 404 for a photo that exists");
    assert_eq!(waiting.headers()["retry-after"], "2");

    let asked = std::time::Instant::now();
    let refused = app.graphql(CREATE, json!({ "id": photo["id"] })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "PHOTO_PROCESSING", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("photoUpdated says READY"), "{refused}");
    let waited = asked.elapsed();
    assert!(waited >= Duration::from_millis(2900) && waited < Duration::from_secs(6), "waited {waited:?}");

    // Asked while it is processing; a worker starts a moment later.
    let sharing = tokio::spawn({
        let (app, id) = (app.with_key(Some("owner-of-the-early-photo-0123456789abcdef")), photo["id"].clone());
        async move { app.data(CREATE, json!({ "id": id })).await["createShareLink"].clone() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settings = photoshare::domain::processing::Settings {
        jobs: 1,
        scan: Duration::from_secs(3600),
        lease: Duration::from_secs(20),
        sole: app.mode == crate::helpers::Mode::Embedded,
    };
    let worker = photoshare::domain::processing::spawn(app.state.services.clone(), settings);
    let link = sharing.await.unwrap();
    worker.abort();
    let opened = app.client.get(link["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(opened.status(), 200, "the share link opens the photo");
    let shared = crate::images::inspect(&opened.bytes().await.unwrap());
    assert_eq!((shared.width, shared.height), (900, 1200), "upright");
    assert!(shared.metadata_left.is_empty());

    let redirected = app.client.get(&early_url).send().await.unwrap();
    assert_eq!(redirected.status(), 302, "the early link now leads to the photo");
    let full = app.client.get(redirected.headers()["location"].to_str().unwrap()).send().await.unwrap();
    assert_eq!(full.status(), 200);
    let ready = app.ready(&photo["id"]).await;
    assert_ne!(ready["url"].as_str().unwrap(), early_url, "READY photos link to storage directly");

    let deleted = app.data("mutation($id: ID!) { deletePhoto(id: $id) }", json!({ "id": photo["id"] })).await;
    assert_eq!(deleted["deletePhoto"], true);
    assert_eq!(app.client.get(&early_url).send().await.unwrap().status(), 404, "deleted: no such photo");
}
