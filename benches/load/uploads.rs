//! The upload path: `createUpload`, the POST of the file straight to storage, `completeUpload`, then the
//! background processing until the photo is READY; the time each takes and what the service read from storage
//! (the request path reads only the photo's headers; processing reads the file once).

use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use crate::driver;
use crate::server::{Counters, Server};

const PIER: &[u8] = include_bytes!("../../tests/fixtures/pier.jpg");
/// A camera-sized photo: 2 MiB.
pub const PHOTO_BYTES: usize = 2 * 1024 * 1024;

/// A 2 MiB JPEG laid out like a camera's: SOI, a 40 KB EXIF segment (APP1), the fixture's own segments
/// (frame header included), then the rest of the picture's bytes.
pub fn camera_jpeg() -> Vec<u8> {
    let exif_len: usize = 40_000;
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
    jpeg.extend_from_slice(&u16::try_from(exif_len + 2).unwrap().to_be_bytes());
    jpeg.extend(b"Exif\0\0".iter().copied().chain(std::iter::repeat_n(0x5A, exif_len - 6)));
    jpeg.extend_from_slice(&PIER[2..]);
    jpeg.resize(PHOTO_BYTES, 0x00);
    jpeg
}

/// What each upload cost, one entry per upload.
#[derive(Default)]
pub struct Uploads {
    pub create_us: Vec<u32>,
    pub post_us: Vec<u32>,
    pub complete_us: Vec<u32>,
    /// createUpload + completeUpload: the service's part.
    pub service_us: Vec<u32>,
    /// From createUpload to the photo seen READY.
    pub ready_us: Vec<u32>,
    pub counters: Vec<Counters>,
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

async fn graphql(client: &reqwest::Client, url: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let response = driver::post(client, url, body).await.map_err(anyhow::Error::msg)?;
    Ok(serde_json::from_slice::<Value>(&response)?["data"].clone())
}

/// Upload `count` photos one after another through `server`.
pub async fn measure(server: &mut Server, count: usize) -> anyhow::Result<Uploads> {
    let (client, url, photo) = (driver::client(), format!("{}/graphql", server.address), camera_jpeg());
    let mut figures = Uploads::default();
    for n in 0..count {
        let before = server.counters().await?;
        let started = Instant::now();
        let ticket = graphql(&client, &url,
            "mutation($input: CreateUploadInput!) { createUpload(input: $input) { uploadId url fields { name value } } }",
            json!({ "input": { "fileName": format!("IMG_{n:04}.jpg"), "contentType": "image/jpeg", "name": "Harbour at dawn" } }),
        ).await?["createUpload"].clone();
        let create = micros(started);

        let posted = Instant::now();
        let mut form = reqwest::multipart::Form::new();
        for field in ticket["fields"].as_array().context("ticket fields")? {
            let (name, value) = (field["name"].as_str().context("name")?, field["value"].as_str().context("value")?);
            form = form.text(name.to_string(), value.to_string());
        }
        let file = reqwest::multipart::Part::bytes(photo.clone()).file_name("photo.jpg").mime_str("image/jpeg")?;
        let response =
            client.post(ticket["url"].as_str().context("url")?).multipart(form.part("file", file)).send().await?;
        anyhow::ensure!(response.status().is_success(), "storage refused the upload: {}", response.status());
        let post = micros(posted);

        let completing = Instant::now();
        let id = ticket["uploadId"].as_str().context("uploadId")?;
        let photo_data = graphql(
            &client,
            &url,
            "mutation($id: ID!) { completeUpload(uploadId: $id) { id sizeBytes status } }",
            json!({ "id": id }),
        )
        .await?["completeUpload"]
            .clone();
        let complete = micros(completing);
        anyhow::ensure!(
            photo_data["sizeBytes"] == PHOTO_BYTES && photo_data["status"] == "PROCESSING",
            "unexpected photo {photo_data}"
        );
        // Waiting on /metrics (no table call) for the job to end, so the counters are the upload's own.
        let metrics = url.replace("/graphql", "/metrics");
        let done = |text: &str, outcome: &str| {
            let series = format!("photoshare_processing_jobs_total{{outcome=\"{outcome}\"}} ");
            text.lines().find_map(|line| line.strip_prefix(series.as_str())?.parse::<u64>().ok()).unwrap_or(0)
        };
        loop {
            let text = client.get(&metrics).send().await?.text().await?;
            anyhow::ensure!(done(&text, "failed") == 0, "processing failed");
            if done(&text, "ready") > n as u64 {
                break;
            }
            anyhow::ensure!(started.elapsed().as_secs() < 30, "not READY after 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        figures.ready_us.push(micros(started));
        figures.counters.push(server.counters().await? - before);
        let query = "query($id: ID!) { photo(id: $id) { status width height } }";
        let photo = graphql(&client, &url, query, json!({ "id": id })).await?["photo"].clone();
        anyhow::ensure!(photo["status"] == "READY" && photo["width"] == 64, "unexpected photo {photo}");
        figures.create_us.push(create);
        figures.post_us.push(post);
        figures.complete_us.push(complete);
        figures.service_us.push(create + complete);
    }
    for times in [
        &mut figures.create_us,
        &mut figures.post_us,
        &mut figures.complete_us,
        &mut figures.service_us,
        &mut figures.ready_us,
    ] {
        times.sort_unstable();
    }
    Ok(figures)
}
