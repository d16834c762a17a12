//! Subscribers on `/graphql/ws` (graphql-transport-ws): a crowd watching one photo's comments, to hold many
//! subscriptions open (memory) and to time each delivery from the moment `addComment` is sent (fan-out).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::driver;
use crate::operations::ADD_COMMENT;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connect, `connection_init`, wait for `connection_ack`, then subscribe to `commentAdded(photoId)`.
async fn subscribe(address: &str, photo_id: &str) -> anyhow::Result<Socket> {
    let mut request = format!("{}/graphql/ws", address.replacen("http://", "ws://", 1)).into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket.send(Message::text(json!({ "type": "connection_init" }).to_string())).await?;
    let ack = tokio::time::timeout(Duration::from_secs(10), socket.next()).await?.context("closed")??;
    anyhow::ensure!(ack.to_text()?.contains("connection_ack"), "expected connection_ack, got {ack}");
    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id body } }";
    let subscribe =
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "id": photo_id } } });
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(socket)
}

/// Reads one subscriber's messages, answering pings, and reports each comment body with when it arrived.
async fn read(index: usize, mut socket: Socket, report: mpsc::UnboundedSender<(usize, String, Instant)>) {
    while let Some(Ok(frame)) = socket.next().await {
        let Message::Text(text) = frame else { continue };
        let arrived = Instant::now();
        let Ok(message) = serde_json::from_str::<Value>(&text) else { continue };
        match message["type"].as_str() {
            Some("ping") => {
                let _ = socket.send(Message::text(json!({ "type": "pong" }).to_string())).await;
            }
            Some("next") => {
                let body = message["payload"]["data"]["commentAdded"]["body"].as_str().unwrap_or("").to_string();
                let _ = report.send((index, body, arrived));
            }
            _ => {
                eprintln!("subscriber {index}: {message}");
                return;
            }
        }
    }
}

/// Posts comments on the watched photo.
pub struct Poster {
    client: reqwest::Client,
    url: String,
    photo_id: String,
}

impl Poster {
    pub fn new(address: &str, photo_id: &str) -> Self {
        Self { client: driver::client(), url: format!("{address}/graphql"), photo_id: photo_id.to_string() }
    }

    async fn post(&self, body: &str) -> anyhow::Result<()> {
        let input = json!({ "photoId": self.photo_id, "body": body });
        let request = json!({ "query": ADD_COMMENT, "variables": { "input": input } }).to_string();
        driver::post(&self.client, &self.url, request).await.map_err(anyhow::Error::msg)?;
        Ok(())
    }
}

/// Subscribers of one photo's comments, each in a group (the instance it is connected to).
pub struct Crowd {
    groups: Vec<usize>,
    arrivals: mpsc::UnboundedReceiver<(usize, String, Instant)>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Crowd {
    /// `places`: how many subscribers to open at each address (group = position in `places`).
    pub async fn open(places: &[(&str, usize)], photo_id: &str) -> anyhow::Result<Self> {
        let groups: Vec<usize> = places.iter().enumerate().flat_map(|(g, (_, n))| std::iter::repeat_n(g, *n)).collect();
        let sockets: Vec<anyhow::Result<Socket>> = futures_util::stream::iter(groups.clone())
            .map(|group| subscribe(places[group].0, photo_id))
            .buffered(50)
            .collect()
            .await;
        let (report, arrivals) = mpsc::unbounded_channel();
        let mut readers = Vec::new();
        for (index, socket) in sockets.into_iter().enumerate() {
            readers.push(tokio::spawn(read(index, socket?, report.clone())));
        }
        Ok(Self { groups, arrivals, readers })
    }

    /// Post probe comments until every subscriber has had one: a subscription starts when the server has
    /// handled its `subscribe` message, and the protocol does not acknowledge that.
    pub async fn wait_until_listening(&mut self, poster: &Poster) -> anyhow::Result<()> {
        let mut heard = vec![false; self.groups.len()];
        let mut missing = heard.len();
        for attempt in 0..40 {
            poster.post(&format!("probe {attempt}")).await?;
            let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
            while missing > 0 {
                let Ok(Some((index, _, _))) = tokio::time::timeout_at(deadline, self.arrivals.recv()).await else {
                    break;
                };
                if !std::mem::replace(&mut heard[index], true) {
                    missing -= 1;
                }
            }
            if missing == 0 {
                // Let stragglers of later probes arrive, then forget them.
                tokio::time::sleep(Duration::from_millis(1_000)).await;
                while self.arrivals.try_recv().is_ok() {}
                return Ok(());
            }
        }
        bail!("{missing} of {} subscribers never received a comment", heard.len())
    }

    /// Post `count` comments, one after another: each when the previous one reached everyone (or 3 s
    /// passed), after a pause of 0–199 ms so sending does not fall in step with the instances' feed polling.
    /// Every delivery's delay (µs) since sending, by group, sorted; and how many deliveries never came.
    pub async fn measure(&mut self, poster: &Poster, count: usize) -> anyhow::Result<(Vec<Vec<u32>>, usize)> {
        let groups = self.groups.iter().max().map_or(0, |g| g + 1);
        let mut delays = vec![Vec::new(); groups];
        let mut lost = 0;
        for k in 0..count {
            tokio::time::sleep(Duration::from_millis((k as u64 * 73) % 200)).await;
            let body = format!("fan-out {k}");
            let sent = Instant::now();
            poster.post(&body).await?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            let mut got = 0;
            while got < self.groups.len() {
                let Ok(Some((index, text, arrived))) = tokio::time::timeout_at(deadline, self.arrivals.recv()).await
                else {
                    break;
                };
                if text == body {
                    got += 1;
                    delays[self.groups[index]].push(u32::try_from((arrived - sent).as_micros()).unwrap_or(u32::MAX));
                }
            }
            lost += self.groups.len() - got;
        }
        delays.iter_mut().for_each(|d| d.sort_unstable());
        Ok((delays, lost))
    }

    pub fn close(self) {
        self.readers.iter().for_each(|reader| reader.abort());
    }
}
