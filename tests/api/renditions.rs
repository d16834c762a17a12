//! Renditions as a user meets them: a phone photo (EXIF orientation 6, GPS, camera, serial, capture time, XMP)
//! becomes READY with three upright JPEGs whose served bytes decode to the sizes the API states and carry no
//! metadata at all, through `Photo.url`, `Image.url` and share links; PNG (16-bit, alpha) and WebP work too;
//! bombs are refused before decoding, broken files end FAILED with a reason, subscribers hear `photoUpdated`,
//! and a re-POST of the ticket after completion changes no served byte.

use std::time::Duration;

use serde_json::json;

use crate::both_modes;
use crate::helpers::TestApp;
use crate::helpers::{Mode, TempDir};
use crate::images::{self, inspect};
use crate::process::Instance;
use crate::ws::Subscription;

both_modes!(
    a_phone_photo_becomes_ready_upright_and_without_metadata,
    exif_rewritten_by_python_tools_keeps_its_time_and_camera,
    png_with_alpha_and_webp_are_taken,
    a_bomb_is_refused_before_anything_is_decoded,
    a_render_cost_bomb_is_refused_at_complete_upload,
    a_file_that_does_not_decode_ends_failed_with_its_reason,
    subscribers_hear_when_processing_ends,
    a_second_post_through_the_ticket_changes_nothing_served,
    processing_cut_by_a_crash_is_finished_by_the_next_instance,
);

/// Without a worker of their own, so the tests play the instances.
mod leases {
    use super::a_lease_taken_over_after_it_expired_leaves_the_first_holder_nothing;
    crate::both_modes!(flags = &["--processing-jobs", "0"]; a_lease_taken_over_after_it_expired_leaves_the_first_holder_nothing);
}

/// The processing queue over 4 partitions (`--queue-shards 4`): every job queued here is found on its shard at
/// once (the periodic scan is an hour away in tests), and none is left behind.
mod sharded_queue {
    use super::photos_on_a_sharded_queue_are_all_processed;
    crate::both_modes!(flags = &["--queue-shards", "4"]; photos_on_a_sharded_queue_are_all_processed);
}

/// The look at every shard (each second here) comes however often uploads wake the worker for theirs.
mod periodic_scan {
    use super::a_job_queued_elsewhere_is_found_while_uploads_keep_coming;
    crate::both_modes!(flags = &["--queue-shards", "4", "--processing-scan-seconds", "1"];
        a_job_queued_elsewhere_is_found_while_uploads_keep_coming);
}

/// A photo recorded as another instance records it (its job in the table, no wake-up here) is processed
/// within a few scans while this instance takes an upload every 200 ms, each on another shard than its job.
async fn a_job_queued_elsewhere_is_found_while_uploads_keep_coming(app: TestApp) {
    let services = &app.state.services;
    let seed = app.upload_bytes("seed", "image/jpeg", crate::helpers::JPEG).await;
    let seed = uuid::Uuid::parse_str(app.ready(&seed["id"]).await["id"].as_str().unwrap()).unwrap();
    let mut photo = services.catalog.photo(seed).await.unwrap().unwrap();
    photo.id = uuid::Uuid::new_v4();
    photo.name = "queued elsewhere".into();
    photo.object_key = photoshare::blob::object_key(photo.id, photo.format);
    photo.processing = photoshare::catalog::Processing::processing();
    (photo.width, photo.height) = (None, None);
    services.blobs.put(&photo.object_key, crate::helpers::JPEG.to_vec(), "image/jpeg").await.unwrap();
    services.catalog.record_photo(&photo).await.unwrap();
    let (id, shard) = (json!(photo.id.to_string()), services.catalog.queue_shard_of(photo.id));

    let status = "query($id: ID!) { photo(id: $id) { status } }";
    let started = std::time::Instant::now();
    while app.data(status, json!({ "id": id })).await["photo"]["status"] == "PROCESSING" {
        assert!(started.elapsed() < Duration::from_secs(8), "still PROCESSING after 8 s of uploads elsewhere");
        let ticket = loop {
            let ticket = app.create_upload("photo.jpg", "image/jpeg", Some("elsewhere")).await;
            let upload = uuid::Uuid::parse_str(ticket["uploadId"].as_str().unwrap()).unwrap();
            if services.catalog.queue_shard_of(upload) != shard {
                break ticket;
            }
        };
        assert!(app.post_file(&ticket, crate::helpers::JPEG, "image/jpeg", &[]).await.status().is_success());
        let completed = app.complete_upload(ticket["uploadId"].as_str().unwrap()).await;
        assert!(completed.get("errors").is_none(), "{completed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.data(status, json!({ "id": id })).await["photo"]["status"], "READY");
}

async fn photos_on_a_sharded_queue_are_all_processed(app: TestApp) {
    let mut photos = Vec::new();
    for n in 0..8 {
        photos.push(app.upload_bytes(&format!("queued {n}"), "image/jpeg", crate::helpers::JPEG).await);
    }
    for photo in &photos {
        assert_eq!(app.ready(&photo["id"]).await["status"], "READY", "found on its shard and processed");
    }
    let jobs: Vec<String> =
        (0..4).map(|shard| if shard == 0 { "JOBS".into() } else { format!("JOBS#{shard}") }).collect();
    for partition in &jobs {
        let left = app.state.services.catalog.table().query(&photoshare::table::Query::partition(partition, 10)).await;
        assert!(left.unwrap().is_empty(), "{partition}: no job left once every photo is READY");
    }
}

const IMAGES: &str = "query($id: ID!) { photo(id: $id) { id status width height sizeBytes url placeholder takenAt camera
    processingError thumbnail: image(size: THUMBNAIL) { width height } images { size url width height contentType sizeBytes } } }";

async fn fetch(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let response = app.client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

async fn a_phone_photo_becomes_ready_upright_and_without_metadata(app: TestApp) {
    // Stored 1800x1200 with orientation 6: every viewer shows it 1200x1800, portrait.
    let original = images::phone_jpeg(1800, 1200, 6);
    let processing = app.upload_bytes("phone", "image/jpeg", &original).await;
    let id = processing["id"].clone();
    let early = app.data(IMAGES, json!({ "id": id })).await["photo"].clone();
    if early["status"] == "PROCESSING" {
        assert!(early["images"].as_array().unwrap().is_empty() && early["thumbnail"].is_null(), "{early}");
        let size = (early["width"].as_u64(), early["height"].as_u64());
        assert_eq!(size, (Some(1200), Some(1800)), "the displayed size is known from the header");
        // The service's link: "come back" while processing, the FULL rendition once READY (checked below).
        let (status, _) = fetch(&app, early["url"].as_str().unwrap()).await;
        assert!(matches!(status, 503 | 302), "never a 404 nor the original: {status}");
    }
    assert_eq!(app.ready(&id).await["status"], "READY");

    let photo = app.data(IMAGES, json!({ "id": id })).await["photo"].clone();
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(1200), Some(1800)), "as displayed");
    assert_eq!(photo["takenAt"], "2026-11-28T13:00:00+00:00", "18:30 at +05:30, in UTC");
    assert_eq!(photo["camera"], "Google Pixel 8");
    let placeholder = photo["placeholder"].as_str().expect("a placeholder");
    assert!((20..=60).contains(&placeholder.len()), "a ThumbHash is about 25 bytes: {placeholder}");

    let images = photo["images"].as_array().unwrap();
    let sizes: Vec<_> = images
        .iter()
        .map(|image| {
            (image["size"].as_str().unwrap(), image["width"].as_u64().unwrap(), image["height"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(sizes, [("THUMBNAIL", 267, 400), ("PREVIEW", 1067, 1600), ("FULL", 1200, 1800)], "smallest first");
    assert_eq!(photo["thumbnail"]["height"], 400);
    for image in images {
        assert_eq!(image["contentType"], "image/jpeg");
        let (status, bytes) = fetch(&app, image["url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(
            bytes.len() as u64,
            image["sizeBytes"].as_u64().unwrap(),
            "{}: sizeBytes is what is served",
            image["size"]
        );
        let served = inspect(&bytes);
        assert_eq!(
            (served.width, served.height),
            (image["width"].as_u64().unwrap() as u32, image["height"].as_u64().unwrap() as u32)
        );
        assert_eq!(served.red_corner, Some((true, false)), "{}: upright (the red corner is top right)", image["size"]);
        assert!(
            served.exif_beyond_orientation.is_empty() && served.metadata_left.is_empty(),
            "{}: metadata left {:?} {:?}",
            image["size"],
            served.metadata_left,
            served.exif_beyond_orientation
        );
    }

    // Photo.url is FULL, and so is a share link.
    let (status, full) = fetch(&app, photo["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(full.len() as u64, photo["sizeBytes"].as_u64().unwrap(), "Photo.sizeBytes is what url serves");
    assert!(inspect(&full).metadata_left.is_empty() && inspect(&full).exif_beyond_orientation.is_empty());
    let share = "mutation($id: ID!) { createShareLink(photoId: $id, expiresInSeconds: 60) { url } }";
    let link = app.data(share, json!({ "id": id })).await["createShareLink"]["url"].clone();
    let (status, shared) = fetch(&app, link.as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(shared, full, "a share link serves FULL");

    // A gallery page with thumbnails and placeholders is still two table calls (the index, the photos): the
    // renditions are on the item.
    let calls = app.table_calls();
    let page = app
        .data("{ photos(first: 20) { nodes { placeholder image(size: THUMBNAIL) { url width } } } }", json!({}))
        .await;
    assert_eq!(page["photos"]["nodes"][0]["image"]["width"], 267);
    assert_eq!(app.table_calls() - calls, 2, "one query and one batch read for the page");

    // Operators see it in /metrics.
    assert_eq!(app.metric(r#"photoshare_processing_jobs_total{outcome="ready"}"#).await, 1);
    assert_eq!(app.metric("photoshare_processing_render_seconds_count").await, 1);
    assert_eq!(app.metric("photoshare_processing_running").await, 0);
}

async fn exif_rewritten_by_python_tools_keeps_its_time_and_camera(app: TestApp) {
    let photo = app.upload_bytes("piexif", "image/jpeg", &images::piexif_jpeg(600, 400)).await;
    assert_eq!(app.ready(&photo["id"]).await["status"], "READY");
    let photo = app.data(IMAGES, json!({ "id": photo["id"] })).await["photo"].clone();
    assert_eq!(photo["takenAt"], "2026-11-28T13:00:00+00:00", "18:30 at +05:30, in UTC");
    assert_eq!(photo["camera"], "Google Pixel 8");
    let (_, bytes) = fetch(&app, photo["url"].as_str().unwrap()).await;
    assert!(inspect(&bytes).metadata_left.is_empty() && inspect(&bytes).exif_beyond_orientation.is_empty());
}

async fn png_with_alpha_and_webp_are_taken(app: TestApp) {
    let png = app.upload_bytes("sixteen", "image/png", &images::png_16_bit_with_alpha(600, 400)).await;
    let webp = app.upload_bytes("webp", "image/webp", &images::webp(500, 300)).await;
    assert_eq!(webp["contentType"], "image/webp");
    for (photo, size) in [(png, (600, 400)), (webp, (500, 300))] {
        let ready = app.ready(&photo["id"]).await;
        assert_eq!(ready["status"], "READY", "{ready}");
        assert_eq!((ready["width"].as_u64(), ready["height"].as_u64()), (Some(size.0), Some(size.1)));
        let (_, bytes) = fetch(&app, ready["url"].as_str().unwrap()).await;
        let served = inspect(&bytes);
        assert_eq!((served.width, served.height), (size.0 as u32, size.1 as u32));
        assert_eq!(served.red_corner, Some((false, false)), "no orientation: as stored");
    }
    // The transparent right half of the PNG is white, not black.
    let png_photo = app.data("{ photos(first: 2) { nodes { name url } } }", json!({})).await;
    let url = png_photo["photos"]["nodes"].as_array().unwrap().iter().find(|p| p["name"] == "sixteen").unwrap()["url"]
        .clone();
    let (_, bytes) = fetch(&app, url.as_str().unwrap()).await;
    let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let pixel = decoded.get_pixel(550, 200);
    assert!(pixel.0.iter().all(|c| *c > 240), "transparent is white: {pixel:?}");
}

async fn a_bomb_is_refused_before_anything_is_decoded(app: TestApp) {
    let ticket = app.create_upload("bomb.png", "image/png", None).await;
    let bomb = images::png_claiming(30_000, 30_000);
    assert!(bomb.len() < 1_000, "a small file");
    assert!(app.post_file(&ticket, &bomb, "image/png", &[]).await.status().is_success());
    let body = app.complete_upload(ticket["uploadId"].as_str().unwrap()).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UPLOAD_INVALID", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("900 MP") && message.contains("100 MP"), "{message}");
    let gallery = app.data("{ photos(first: 5) { nodes { id } } }", json!({})).await;
    assert!(gallery["photos"]["nodes"].as_array().unwrap().is_empty(), "nothing recorded");
}

/// Files whose pixel count is allowed but whose decoding would take more memory than a render may: refused
/// when the upload is completed, from the header, not recorded to end FAILED later.
async fn a_render_cost_bomb_is_refused_at_complete_upload(app: TestApp) {
    let bombs = [
        ("bomb.webp", "image/webp", images::webp_claiming(10_000, 10_000), "667 MiB", "or as a JPEG"),
        ("bomb.jpg", "image/jpeg", images::progressive_jpeg_claiming(10_000, 10_000), "858 MiB", "baseline JPEG"),
    ];
    for (file, content_type, bomb, estimate, advice) in bombs {
        let ticket = app.create_upload(file, content_type, None).await;
        assert!(app.post_file(&ticket, &bomb, content_type, &[]).await.status().is_success());
        let body = app.complete_upload(ticket["uploadId"].as_str().unwrap()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "UPLOAD_INVALID", "{file}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(estimate) && message.contains("560 MiB") && message.contains(advice), "{message}");
    }
    let gallery = app.data("{ photos(first: 5) { nodes { name } } }", json!({})).await;
    assert!(gallery["photos"]["nodes"].as_array().unwrap().is_empty(), "nothing recorded: {gallery}");
}

async fn a_file_that_does_not_decode_ends_failed_with_its_reason(app: TestApp) {
    // A real PNG header (so completeUpload takes it) over a damaged image stream.
    let mut broken = images::png_claiming(8, 8);
    let end = broken.len() - 20;
    for byte in &mut broken[40..end] {
        *byte ^= 0x5A;
    }
    let photo = app.upload_bytes("broken", "image/png", &broken).await;
    let failed = app.ready(&photo["id"]).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert!(failed["processingError"].as_str().is_some_and(|e| e.contains("not a readable image")), "{failed}");
    let (status, _) = fetch(&app, failed["url"].as_str().unwrap()).await;
    assert_eq!(status, 410, "nothing is served for a FAILED photo, and never will be");
    let listed = app.data("{ photos(first: 5) { nodes { name status } } }", json!({})).await;
    assert_eq!(listed["photos"]["nodes"][0], json!({ "name": "broken", "status": "FAILED" }), "shown as such");
}

async fn subscribers_hear_when_processing_ends(app: TestApp) {
    let query = "subscription { photoUpdated { id status width height images { size } } }";
    let mut subscription = Subscription::start(&app.address, query, json!({})).await;
    let photo = app.upload_bytes("heard", "image/jpeg", &images::phone_jpeg(640, 480, 1)).await;
    let update = subscription.next(Duration::from_secs(10)).await.expect("photoUpdated arrives");
    assert_eq!(update["photoUpdated"]["id"], photo["id"]);
    assert_eq!(update["photoUpdated"]["status"], "READY");
    assert_eq!(update["photoUpdated"]["images"].as_array().unwrap().len(), 3);
    assert_eq!(
        (update["photoUpdated"]["width"].as_u64(), update["photoUpdated"]["height"].as_u64()),
        (Some(640), Some(480))
    );
}

async fn a_second_post_through_the_ticket_changes_nothing_served(app: TestApp) {
    let ticket = app.create_upload("twice.jpg", "image/jpeg", None).await;
    assert!(app.post_file(&ticket, &images::phone_jpeg(320, 240, 1), "image/jpeg", &[]).await.status().is_success());
    let completed = app.complete_upload(ticket["uploadId"].as_str().unwrap()).await;
    let ready = app.ready(&completed["data"]["completeUpload"]["id"]).await;
    let (_, before) = fetch(&app, ready["url"].as_str().unwrap()).await;
    // The policy is still valid: storage takes other bytes for the original's key.
    let replaced = app.post_file(&ticket, b"not an image at all", "image/jpeg", &[]).await;
    let after_photo = app.data(IMAGES, json!({ "id": ready["id"] })).await["photo"].clone();
    let (_, after) = fetch(&app, after_photo["url"].as_str().unwrap()).await;
    assert_eq!(
        after,
        before,
        "served bytes are the renditions made from what was checked (re-POST: {})",
        replaced.status()
    );
    assert_eq!(after_photo["sizeBytes"].as_u64(), Some(after.len() as u64));
}

/// The work lives in the table: an instance that recorded a photo and died (kill -9) before processing it
/// leaves it PROCESSING; the next instance to start finishes it.
async fn processing_cut_by_a_crash_is_finished_by_the_next_instance(app: TestApp) {
    let dir = TempDir(std::env::temp_dir().join(format!("photoshare-crash-{}", uuid::Uuid::new_v4().simple())));
    let start = |processing: bool| {
        let jobs = if processing { "1" } else { "0" };
        let mut args = vec!["--processing-jobs".to_string(), jobs.to_string()];
        match app.mode {
            Mode::Embedded => args.extend(["--data-dir".to_string(), dir.0.display().to_string()]),
            Mode::Aws => {}
        }
        let app = &app;
        async move {
            match app.mode {
                Mode::Embedded => Instance::with_args(args, false).await,
                Mode::Aws => Instance::start(app, &args.iter().map(String::as_str).collect::<Vec<_>>()).await,
            }
        }
    };
    let mut first = start(false).await;
    let through_first = app.at(&first.address());
    let photo = through_first.upload_bytes("cut", "image/jpeg", &images::phone_jpeg(800, 600, 6)).await;
    let status =
        through_first.data("query($id: ID!) { photo(id: $id) { status } }", json!({ "id": photo["id"] })).await;
    assert_eq!(status["photo"]["status"], "PROCESSING", "nothing processes on the first instance");
    first.kill().await;

    let second = start(true).await;
    let ready = app.at(&second.address()).ready(&photo["id"]).await;
    assert_eq!(ready["status"], "READY", "{ready}");
    assert_eq!((ready["width"].as_u64(), ready["height"].as_u64()), (Some(600), Some(800)));
    let (status, bytes) = fetch(&app, ready["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(inspect(&bytes).metadata_left.is_empty());
}

/// Two instances racing for one job, through the catalog: a held lease cannot be taken; once it expired it
/// can, and then the first holder's result commits nothing; the second's does, once.
async fn a_lease_taken_over_after_it_expired_leaves_the_first_holder_nothing(app: TestApp) {
    use photoshare::catalog::{PhotoStatus, Processing};
    let uploaded = app.upload_bytes("raced", "image/jpeg", &images::phone_jpeg(320, 240, 1)).await;
    let id = uuid::Uuid::parse_str(uploaded["id"].as_str().unwrap()).unwrap();
    let catalog = &app.state.services.catalog;
    let (one, other) = (photoshare::catalog::Holder::new(false), photoshare::catalog::Holder::new(false));
    let now = chrono::Utc::now();
    let jobs = catalog.due_jobs(now, 10, &[0], &Default::default(), &one).await.unwrap().jobs;
    let job = jobs.iter().find(|job| job.photo_id == id).expect("the photo's job is due").clone();

    let first = catalog.claim(&job, now, now + chrono::Duration::seconds(60), &one).await.unwrap().expect("claimed");
    assert!(catalog.claim(&job, now, now + chrono::Duration::seconds(60), &other).await.unwrap().is_none(), "held");
    let seen = catalog.due_jobs(now, 10, &[0], &Default::default(), &other).await.unwrap().jobs;
    assert!(seen.iter().all(|job| job.photo_id != id), "not due while held");

    // A minute later the first holder is presumed dead: another instance takes the job over.
    let later = now + chrono::Duration::seconds(61);
    let due = catalog.due_jobs(later, 10, &[0], &Default::default(), &other).await.unwrap().jobs;
    let job = due.iter().find(|job| job.photo_id == id).expect("due again once the lease expired");
    let until = later + chrono::Duration::seconds(60);
    let second = catalog.claim(job, later, until, &other).await.unwrap().expect("taken over");
    assert_eq!(second.attempts, 2);

    let photo = catalog.photo(id).await.unwrap().unwrap();
    let failed = Processing { status: Some(PhotoStatus::Failed), error: Some("late".into()), ..Processing::default() };
    assert!(
        catalog.finish_processing(&first, &photo, failed, None).await.unwrap().is_none(),
        "the lost lease commits nothing"
    );
    assert_eq!(catalog.photo(id).await.unwrap().unwrap().processing.status(), PhotoStatus::Processing);

    let ready = Processing::ready_as(320, 240, 1_000);
    let updated =
        catalog.finish_processing(&second, &photo, ready, Some((320, 240))).await.unwrap().expect("committed");
    assert_eq!(updated.processing.status(), PhotoStatus::Ready);
    assert_eq!(catalog.photo(id).await.unwrap().unwrap().processing.status(), PhotoStatus::Ready);
    assert!(
        catalog
            .due_jobs(later + chrono::Duration::hours(1), 10, &[0], &Default::default(), &other)
            .await
            .unwrap()
            .jobs
            .is_empty(),
        "the job is gone"
    );
}
