//! The processing queue and background work as users meet them: one client's flood of slow photos does not
//! hold up another client's photo; a photo whose render was cut by a crash (kill -9) is READY soon after the
//! restart, with the default lease; an idle instance's background queries back off, while a new photo is
//! still taken at once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_modes;
use crate::helpers::{JPEG, Mode, TempDir, TestApp};
use crate::images;
use crate::process::Instance;

/// The apps only hold the store (and the tests' helpers): real `photoshare` processes do the work.
mod crash {
    use super::a_photo_cut_by_a_crash_mid_render_is_ready_within_30_s_of_the_restart;
    crate::both_modes!(flags = &["--processing-jobs", "0"];
        a_photo_cut_by_a_crash_mid_render_is_ready_within_30_s_of_the_restart);
}

both_modes!(one_clients_flood_of_slow_photos_does_not_hold_up_another_clients_photo);

/// Background looks every second here (`--processing-scan-seconds 1`, which the sweeper of deleted photos
/// follows too), backing off while they find nothing.
mod idle {
    use super::an_idle_instance_backs_off_its_background_queries_yet_takes_a_new_photo_at_once;
    crate::both_modes!(flags = &["--processing-scan-seconds", "1"];
        an_idle_instance_backs_off_its_background_queries_yet_takes_a_new_photo_at_once);
}

/// A photo that takes a while to render: 24 MP.
pub fn slow_photo() -> Vec<u8> {
    images::phone_jpeg(6000, 4000, 1)
}

const STATUS: &str = "query($id: ID!) { photo(id: $id) { status } }";

/// An instance with default settings (embedded: on `dir`; AWS: on the app's table and bucket) takes a slow
/// photo and is killed while rendering it; restarted on the same store, it makes the photo READY in time.
async fn a_photo_cut_by_a_crash_mid_render_is_ready_within_30_s_of_the_restart(app: TestApp) {
    let dir = TempDir(std::env::temp_dir().join(format!("photoshare-cut-{}", uuid::Uuid::new_v4().simple())));
    let mut instance = match app.mode {
        Mode::Embedded => {
            let args = ["--data-dir", &dir.0.display().to_string(), "--mutations-per-minute", "0"];
            Instance::with_args(args.map(String::from).to_vec(), false).await
        }
        Mode::Aws => Instance::start(&app, &[]).await,
    };
    let through = app.at(&instance.address());
    let photo = through.upload_bytes("cut", "image/jpeg", &slow_photo()).await;
    let began = Instant::now();
    while through.metric("photoshare_processing_running").await == 0 {
        assert!(began.elapsed() < Duration::from_secs(10), "the render began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(through.data(STATUS, json!({ "id": photo["id"] })).await["photo"]["status"], "PROCESSING");
    instance.kill().await;

    let restarted = Instant::now();
    instance.restart().await;
    let status = status_once_processed(&through, &photo["id"], Duration::from_secs(40)).await;
    let took = restarted.elapsed();
    eprintln!("{:?}: READY {:.1} s after the restart", app.mode, took.as_secs_f64());
    assert_eq!(status, "READY");
    assert!(took < Duration::from_secs(30), "READY {took:?} after the restart");
    assert_eq!(
        through.metric(r#"photoshare_processing_jobs_total{outcome="ready"}"#).await,
        1,
        "the restarted instance did the work"
    );
}

/// The photo's status once it is no longer PROCESSING, or PROCESSING if it still is after `within` (the callers
/// time the wait themselves and assert on both).
async fn status_once_processed(app: &TestApp, id: &Value, within: Duration) -> Value {
    let asked = Instant::now();
    loop {
        let status = app.data(STATUS, json!({ "id": id })).await["photo"]["status"].clone();
        if status != "PROCESSING" || asked.elapsed() > within {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Slow photos one client queues before another client uploads an ordinary one.
const FLOOD: usize = 40;

/// One client queues 40 slow photos (about a second of rendering each here, one at a time); another client's
/// ordinary photo, uploaded after them, is READY within 10 s, long before the flood is through.
async fn one_clients_flood_of_slow_photos_does_not_hold_up_another_clients_photo(app: TestApp) {
    let flooder = app.with_key(Some("flooding-client-key-000000000000000000"));
    let other = app.with_key(Some("another-client-key-1111111111111111111"));
    let slow = slow_photo();
    let mut flood = Vec::new();
    for n in 0..FLOOD {
        flood.push(flooder.upload_bytes(&format!("flood {n}"), "image/jpeg", &slow).await["id"].clone());
    }

    let uploaded = Instant::now();
    let photo = other.upload_bytes("ordinary", "image/jpeg", JPEG).await;
    let status = status_once_processed(&other, &photo["id"], Duration::from_secs(60)).await;
    let took = uploaded.elapsed();
    let mut flood_done = 0;
    for id in &flood {
        flood_done += usize::from(flooder.data(STATUS, json!({ "id": id })).await["photo"]["status"] != "PROCESSING");
    }
    eprintln!(
        "{:?}: the other client's photo READY in {:.1} s; {flood_done} of {FLOOD} flooded done by then",
        app.mode,
        took.as_secs_f64()
    );
    assert_eq!(status, "READY");
    assert!(took < Duration::from_secs(10), "the other client's photo took {took:?}");
    assert!(flood_done < FLOOD, "the flood was still being processed");
}

/// Idle for 12 s, the worker's looks at the queue and the sweeper's at deleted photos (every second if they
/// found something: about 48 table calls) make at most 15 table calls; a photo uploaded then is READY at once.
async fn an_idle_instance_backs_off_its_background_queries_yet_takes_a_new_photo_at_once(app: TestApp) {
    let calls = app.table_calls();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let idle = app.table_calls() - calls;
    eprintln!("{:?}: {idle} table calls in 12 s idle", app.mode);
    assert!(idle <= 15, "{idle} background table calls in 12 s of idling");

    let woken = Instant::now();
    let photo = app.upload_bytes("woken", "image/jpeg", JPEG).await;
    assert_eq!(app.ready(&photo["id"]).await["status"], "READY");
    assert!(woken.elapsed() < Duration::from_secs(3), "READY {:?} after the upload began", woken.elapsed());
}
