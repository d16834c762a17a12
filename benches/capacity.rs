//! The capacity model (issue 19): what the key design asks of DynamoDB's partitions at a given traffic, for
//! 1, 10 and 100 instances, with the table's event feed or an events engine.
//!
//! It does not guess the costs: a sample of traffic (uploads named from a skewed word distribution, their
//! processing, comments skewed to some photos, gallery pages, a name search, the feed's polls) runs through
//! the real `Catalog` over the embedded table, wrapped in a ledger that prices every call as DynamoDB would
//! and books it to the partition it touches: writes 1 unit per KB (twice that inside a transaction), reads 1
//! unit per 4 KB (half for the eventually consistent queries the catalog makes), and each write of an item
//! with a `gsi1pk` once more on that index partition (all attributes are projected, plus 100 bytes). Item
//! size is the attributes' names and values (numbers as their digits), as DynamoDB counts it, near enough.
//!
//! Partitions of one thing (a photo's, an upload's) take that thing's traffic only; shared partitions (the
//! gallery index, the feed's minute, the job queue, a name token, its count) take a share of everyone's. The
//! model scales the sample's per-operation cost on each shared partition to the target rates and compares
//! it with the published per-partition limits: 1,000 write units and 3,000 read units a second.
//!
//! `cargo bench --bench capacity` (seconds): the sample's costs, what the layout holds per instance count and
//! fan-out, and the partitions over their limit at the goal (10,000 uploads and 50,000 comments a second).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use photoshare::catalog::{Catalog, NewComment, Photo, PhotoFilter, Processing};
use photoshare::table::embedded::EmbeddedTable;
use photoshare::table::{GSI1_PK, Index, Item, ItemExt, Key, PK, Query, Table, TableResult, TableStats, Value, Write};
use photoshare::text::CommentText;
use uuid::Uuid;

const WRITE_LIMIT: f64 = 1_000.0;
const READ_LIMIT: f64 = 3_000.0;
/// Polls a second of an instance following the feed, and how far back each reads (`domain::events`).
const FEED_POLLS: f64 = 5.0;
const FEED_WINDOW_SECONDS: f64 = 2.2;

/// Sample sizes: enough for the word distribution's shares to settle.
const SAMPLE_UPLOADS: usize = 2_000;
const SAMPLE_COMMENTS: usize = 6_000;

/// Common words of photo names, most common first (drawn with Zipf weights), and the camera defaults most
/// uploads keep (`IMG_1234`, `PXL_20261201_…`, `DSC01234`).
const WORDS: &[&str] = &[
    "beach",
    "sunset",
    "family",
    "dog",
    "birthday",
    "party",
    "christmas",
    "wedding",
    "summer",
    "trip",
    "cat",
    "baby",
    "holiday",
    "mountain",
    "lake",
    "garden",
    "city",
    "night",
    "snow",
    "park",
    "friends",
    "dinner",
    "sea",
    "river",
    "forest",
    "kids",
    "morning",
    "sky",
    "flowers",
    "house",
    "car",
    "food",
    "street",
    "bridge",
    "cake",
    "autumn",
    "spring",
    "winter",
    "portrait",
    "mom",
    "dad",
    "walk",
    "view",
    "church",
    "market",
    "festival",
    "museum",
    "castle",
    "island",
    "road",
    "train",
    "boat",
    "cloud",
    "storm",
    "coffee",
    "school",
    "game",
    "team",
    "concert",
    "harbour",
    "pier",
    "tower",
    "desert",
    "valley",
    "window",
    "light",
    "shadow",
    "rain",
    "bird",
];
const CAMERA_DEFAULT_SHARE: f64 = 0.45;

/// A deterministic generator, so every run draws the same names.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index below `weights.len()`, drawn by the cumulative `weights`.
    fn pick(&mut self, cumulative: &[f64]) -> usize {
        let x = self.unit() * cumulative.last().copied().unwrap_or(1.0);
        cumulative.partition_point(|&c| c < x).min(cumulative.len() - 1)
    }
}

fn zipf(n: usize, s: f64) -> Vec<f64> {
    let mut total = 0.0;
    (1..=n)
        .map(|rank| {
            total += 1.0 / (rank as f64).powf(s);
            total
        })
        .collect()
}

fn name(rng: &mut Lcg, words: &[f64]) -> String {
    if rng.unit() < CAMERA_DEFAULT_SHARE {
        let n = (rng.unit() * 10_000.0) as u32;
        return match (rng.unit() * 3.0) as u32 {
            0 => format!("IMG_{n:04}"),
            1 => format!("PXL_20261201_{n:04}"),
            _ => format!("DSC{n:05}"),
        };
    }
    let count = 1 + (rng.unit() * 3.0) as usize;
    (0..count).map(|_| WORDS[rng.pick(words)]).collect::<Vec<_>>().join(" ")
}

/// Read and write units booked per partition.
#[derive(Default, Clone, Copy, Debug)]
struct Units {
    write: f64,
    read: f64,
}

/// The embedded table, with every call priced and booked to its partition.
struct Ledger {
    inner: EmbeddedTable,
    booked: Mutex<HashMap<String, Units>>,
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::S(s) => s.len(),
        Value::N(n) => n.to_string().len() / 2 + 1,
    }
}

fn size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn units(bytes: usize, per: usize) -> f64 {
    bytes.div_ceil(per).max(1) as f64
}

impl Ledger {
    fn book(&self, partition: String, write: f64, read: f64) {
        let mut booked = self.booked.lock().unwrap();
        let units = booked.entry(partition).or_default();
        units.write += write;
        units.read += read;
    }

    fn take(&self) -> HashMap<String, Units> {
        std::mem::take(&mut *self.booked.lock().unwrap())
    }

    /// A write of `item` (as it is after the write, or before a delete): on its partition and its index's.
    fn book_write(&self, item: &Item, transactional: bool) {
        let bytes = size(item);
        let factor = if transactional { 2.0 } else { 1.0 };
        if let Some(pk) = item.opt_string(PK) {
            self.book(pk.to_string(), units(bytes, 1024) * factor, 0.0);
        }
        if let Some(index_pk) = item.opt_string(GSI1_PK) {
            self.book(format!("gsi1 {index_pk}"), units(bytes + 100, 1024), 0.0);
        }
    }

    async fn current(&self, key: &Key) -> Item {
        let found = self.inner.get(key).await.ok().flatten();
        found.unwrap_or_else(|| Item::from([(PK.into(), Value::S(key.pk.clone()))]))
    }
}

#[async_trait::async_trait]
impl Table for Ledger {
    async fn ensure_created(&self) -> TableResult<()> {
        self.inner.ensure_created().await
    }

    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        let found = self.inner.get(key).await?;
        self.book(key.pk.clone(), 0.0, units(found.as_ref().map_or(1, size), 4096));
        Ok(found)
    }

    async fn batch_get(&self, keys: &[Key]) -> TableResult<Vec<Item>> {
        let found = self.inner.batch_get(keys).await?;
        for item in &found {
            self.book(item.string(PK).unwrap_or_default().to_string(), 0.0, units(size(item), 4096));
        }
        Ok(found)
    }

    async fn query(&self, query: &Query) -> TableResult<Vec<Item>> {
        let found = self.inner.query(query).await?;
        let bytes: usize = found.iter().map(size).sum();
        let partition = match query.index {
            Index::Table => query.pk.clone(),
            Index::Gsi1 => format!("gsi1 {}", query.pk),
        };
        // Eventually consistent (the catalog's queries are): half a unit per 4 KB, summed over the items.
        self.book(partition, 0.0, units(bytes, 4096) / 2.0);
        Ok(found)
    }

    async fn transact(&self, writes: Vec<Write>) -> TableResult<()> {
        let mut written = Vec::new();
        for write in &writes {
            written.push(match write {
                Write::Put(item) | Write::PutIfAbsent(item) => item.clone(),
                Write::Update { key, set, .. } => {
                    let mut item = self.current(key).await;
                    item.extend(set.iter().cloned());
                    item
                }
                Write::Delete(key) | Write::DeleteExisting(key) | Write::Increment { key, .. } => {
                    self.current(key).await
                }
            });
        }
        let result = self.inner.transact(writes).await;
        if result.is_ok() {
            written.iter().for_each(|item| self.book_write(item, true));
        }
        result
    }

    async fn put_many(&self, items: Vec<Item>) -> TableResult<()> {
        items.iter().for_each(|item| self.book_write(item, false));
        self.inner.put_many(items).await
    }

    async fn add(&self, key: &Key, attr: &str, by: i64) -> TableResult<()> {
        let item = self.current(key).await;
        self.book_write(&item, false);
        self.inner.add(key, attr, by).await
    }

    fn stats(&self) -> &TableStats {
        self.inner.stats()
    }
}

/// Shared partitions by kind: the gallery index, the feed's minute, the queue, name tokens and their counts.
fn kind(partition: &str) -> Option<String> {
    if partition.starts_with("EV#") {
        return Some("EV#<minute> (event feed)".into());
    }
    if partition.starts_with("PHOTO#") || partition.starts_with("UPLOAD#") || partition.starts_with("SHARE#") {
        return None; // one thing's own partition
    }
    Some(partition.to_string())
}

/// Units per operation on each shared partition, from one phase of the sample.
fn per_operation(booked: &HashMap<String, Units>, operations: usize) -> BTreeMap<String, Units> {
    let mut shared: BTreeMap<String, Units> = BTreeMap::new();
    for (partition, units) in booked {
        if let Some(kind) = kind(partition) {
            let entry = shared.entry(kind).or_default();
            entry.write += units.write / operations as f64;
            entry.read += units.read / operations as f64;
        }
    }
    shared
}

/// Units per operation on the partitions of one kind of thing (`prefix`): each operation touches one of them.
fn own_per_operation(booked: &HashMap<String, Units>, operations: usize, prefix: &str) -> Units {
    let on = booked.iter().filter(|(partition, _)| partition.starts_with(prefix)).map(|(_, units)| units);
    let (write, read) = on.fold((0.0, 0.0), |(w, r), units| (w + units.write, r + units.read));
    Units { write: write / operations as f64, read: read / operations as f64 }
}

struct Costs {
    upload: BTreeMap<String, Units>,
    processed: BTreeMap<String, Units>,
    comment: BTreeMap<String, Units>,
    gallery_page: BTreeMap<String, Units>,
    name_search: BTreeMap<String, Units>,
    /// One feed poll's read units per event in its window.
    feed_read_per_event: f64,
    /// On the commented photo's own partition, per comment.
    photo_per_comment: Units,
}

async fn measure(catalog: &Catalog, ledger: &Ledger) -> anyhow::Result<Costs> {
    let mut rng = Lcg(19);
    let words = zipf(WORDS.len(), 1.0);
    let now = Utc::now();
    let photos: Vec<Photo> = (0..SAMPLE_UPLOADS)
        .map(|n| {
            let id = Uuid::new_v4();
            Photo {
                id,
                name: name(&mut rng, &words),
                description: None,
                format: photoshare::image_format::ImageFormat::Jpeg,
                size_bytes: 3_100_000,
                width: None,
                height: None,
                uploaded_at: now + Duration::microseconds(n as i64),
                uploader_ip: "2001:db8::1".into(),
                object_key: format!("photos/{id}.jpg"),
                comment_count: 0,
                first_comments: Some(Vec::new()),
                processing: Processing::processing(),
                owner: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
                name_shard: 0,
            }
        })
        .collect();
    for photo in &photos {
        catalog.record_photo(photo).await?;
    }
    let upload = per_operation(&ledger.take(), photos.len());

    let holder = photoshare::catalog::Holder::new(false);
    // One owner's photos: a look takes one of them (the queue is fair between owners); each costs the same.
    let rounds = std::collections::HashMap::new();
    let jobs = catalog.due_jobs(Utc::now(), SAMPLE_UPLOADS, &catalog.queue_shards(), &rounds, &holder).await?.jobs;
    ledger.take(); // the look at the queue is per instance and scan, not per photo
    let mut processed = 0;
    for job in &jobs {
        let until = Utc::now() + Duration::minutes(2);
        let Some(lease) = catalog.claim(job, Utc::now(), until, &holder).await? else { continue };
        let Some(photo) = photos.iter().find(|p| p.id == job.photo_id) else { continue };
        let outcome = Processing::ready_as(2048, 1536, 420_000);
        catalog.finish_processing(&lease, photo, outcome, Some((4032, 3024))).await?;
        processed += 1;
    }
    let processed_costs = per_operation(&ledger.take(), processed.max(1));

    // Comments on the newest photos, Zipf over recency: every comment past a photo's first three.
    let recency = zipf(photos.len(), 0.8);
    for n in 0..SAMPLE_COMMENTS {
        let photo = &photos[photos.len() - 1 - rng.pick(&recency)];
        catalog
            .add_comment(NewComment {
                photo_id: photo.id,
                body: CommentText::parse(&format!(
                    "Comment {n}: what a lovely light on the water, where was this taken?"
                ))?,
                author_ip: "2001:db8::2".into(),
                author: Some("60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752".into()),
                retry: None,
            })
            .await?;
    }
    let booked = ledger.take();
    let comment = per_operation(&booked, SAMPLE_COMMENTS);
    let photo_per_comment = own_per_operation(&booked, SAMPLE_COMMENTS, "PHOTO#");

    let everything = PhotoFilter { words: None, uploaded_from: None, uploaded_to: None };
    for _ in 0..100 {
        catalog.search_photos(&everything, 20, None).await?;
    }
    let gallery_page = per_operation(&ledger.take(), 100);
    // The most common word, alone and with another: the search that reads its token's partitions most.
    let beach = PhotoFilter { words: Some(vec!["beach".into()]), uploaded_from: None, uploaded_to: None };
    let beach_sunset = PhotoFilter { words: Some(vec!["beach".into(), "sunset".into()]), ..beach.clone() };
    for n in 0..100 {
        catalog.search_photos(if n % 2 == 0 { &beach } else { &beach_sunset }, 20, None).await?;
    }
    let name_search = per_operation(&ledger.take(), 100);

    let events = catalog.events_between(now - Duration::seconds(60), Utc::now() + Duration::seconds(10)).await?;
    let feed_read = ledger.take().values().map(|u| u.read).sum::<f64>();
    let feed_read_per_event = feed_read / events.len().max(1) as f64;
    Ok(Costs {
        upload,
        processed: processed_costs,
        comment,
        gallery_page,
        name_search,
        feed_read_per_event,
        photo_per_comment,
    })
}

struct Traffic {
    uploads: f64,
    comments: f64,
    instances: f64,
    engine: bool,
}

/// Write and read units a second on each shared partition at `traffic`.
fn load(costs: &Costs, traffic: &Traffic) -> BTreeMap<String, Units> {
    let mut total: BTreeMap<String, Units> = BTreeMap::new();
    let phases =
        [(&costs.upload, traffic.uploads), (&costs.processed, traffic.uploads), (&costs.comment, traffic.comments)];
    for (per_op, rate) in phases {
        for (partition, units) in per_op {
            if traffic.engine && partition.starts_with("EV#") {
                continue; // no feed is written with an engine
            }
            let entry = total.entry(partition.clone()).or_default();
            entry.write += units.write * rate;
            entry.read += units.read * rate;
        }
    }
    if !traffic.engine {
        let events = traffic.uploads * 2.0 + traffic.comments;
        let polls = traffic.instances * FEED_POLLS * FEED_WINDOW_SECONDS * events * costs.feed_read_per_event;
        total.entry("EV#<minute> (event feed)".into()).or_default().read += polls;
    }
    total
}

/// The highest share of its limit any shared partition reaches, and which.
fn hottest(load: &BTreeMap<String, Units>) -> (f64, String) {
    let mut worst = (0.0, String::new());
    for (partition, units) in load {
        for (share, what) in [(units.write / WRITE_LIMIT, "writes"), (units.read / READ_LIMIT, "reads")] {
            if share > worst.0 {
                worst = (share, format!("{partition} {what}"));
            }
        }
    }
    worst
}

/// A rate at which a partition reaches its limit, from the share of it one unit of traffic takes.
fn ceiling(share: f64) -> String {
    if share == 0.0 { "no limit here".into() } else { format!("{:.0}", 1.0 / share) }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let layouts =
        [("today's default layout", 1, 1, 1), ("--gallery-shards 16 --queue-shards 128 --name-shards 8", 16, 128, 8)];
    for (layout, gallery_shards, queue_shards, name_shards) in layouts {
        let dir = std::env::temp_dir().join(format!("photoshare-capacity-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let table = EmbeddedTable::open(&dir.join("table.redb"))?;
        let ledger = Arc::new(Ledger { inner: table, booked: Mutex::default() });
        ledger.ensure_created().await?;
        let catalog = Catalog::new(ledger.clone())
            .with_gallery_shards(gallery_shards)
            .with_queue_shards(queue_shards)
            .with_name_shards(name_shards);
        let costs = measure(&catalog, &ledger).await?;
        std::fs::remove_dir_all(&dir)?;
        println!("== {layout}");
        report(&costs);
    }
    Ok(())
}

fn report(costs: &Costs) {
    println!("units per operation on shared partitions (sample: {SAMPLE_UPLOADS} uploads, {SAMPLE_COMMENTS} comments)");
    for (what, per_op) in [
        ("upload", &costs.upload),
        ("processed", &costs.processed),
        ("comment", &costs.comment),
        ("gallery page", &costs.gallery_page),
        ("name search", &costs.name_search),
    ] {
        let mut top: Vec<_> = per_op.iter().collect();
        top.sort_by(|a, b| (b.1.write + b.1.read).total_cmp(&(a.1.write + a.1.read)));
        let shown: Vec<String> =
            top.iter().take(5).map(|(p, u)| format!("{p}: {:.3} W {:.3} R", u.write, u.read)).collect();
        println!("  {what:<12} {}", shown.join(" | "));
    }
    let per_comment = costs.photo_per_comment;
    println!(
        "  a photo's own partition per comment: {:.2} W {:.2} R -> at most {:.0} comments/s on one photo",
        per_comment.write,
        per_comment.read,
        WRITE_LIMIT / per_comment.write
    );
    let page_reads: f64 = costs.gallery_page.values().map(|u| u.read).sum();
    let per_shard = costs.gallery_page.values().map(|u| u.read).fold(0.0, f64::max);
    println!(
        "  gallery page: {page_reads:.1} R in all, {per_shard:.1} R on each index shard -> at most {:.0} executed pages/s",
        READ_LIMIT / per_shard
    );
    let search_reads: f64 = costs.name_search.values().map(|u| u.read).sum();
    let per_partition = costs.name_search.values().map(|u| u.read).fold(0.0, f64::max);
    println!(
        "  name search (\"beach\", \"beach sunset\"): {search_reads:.1} R in all, {per_partition:.2} R on the busiest partition -> at most {:.0} searches/s",
        READ_LIMIT / per_partition
    );
    println!("  feed poll: {:.4} R per event in its window", costs.feed_read_per_event);

    // What the layout holds: the rate at which the first shared partition reaches its limit (load is linear in
    // the rates), for uploads alone, comments alone, and the mix.
    println!(
        "\n| instances | fan-out | uploads/s alone | comments/s alone | of 1,000 uploads/s + 20,000 comments/s | first partition over |"
    );
    println!("|---|---|---|---|---|---|");
    for instances in [1.0, 10.0, 100.0] {
        for engine in [false, true] {
            let at = |uploads, comments| hottest(&load(costs, &Traffic { uploads, comments, instances, engine }));
            let (uploads_share, _) = at(1.0, 0.0);
            let (comments_share, _) = at(0.0, 1.0);
            let (mix_share, partition) = at(1_000.0, 20_000.0);
            println!(
                "| {instances:.0} | {} | {} | {} | {:.1}% | {partition} |",
                if engine { "engine" } else { "table feed" },
                ceiling(uploads_share),
                ceiling(comments_share),
                100.0 / mix_share
            );
        }
    }
    println!("\nshared partitions over their limit at 10,000 uploads/s and 50,000 comments/s, engine, any instances:");
    let goal = load(costs, &Traffic { uploads: 10_000.0, comments: 50_000.0, instances: 100.0, engine: true });
    let mut over: Vec<(f64, &String, &Units)> = goal
        .iter()
        .map(|(partition, units)| ((units.write / WRITE_LIMIT).max(units.read / READ_LIMIT), partition, units))
        .filter(|(over, ..)| *over > 1.0)
        .collect();
    over.sort_by(|a, b| b.0.total_cmp(&a.0));
    // Every partition that is not a name token, and the worst name tokens (a word and its prefixes).
    let tokens = over.iter().filter(|(_, partition, _)| partition.starts_with("W#")).count();
    let shown = over.iter().filter(|(_, partition, _)| !partition.starts_with("W#"));
    for (times, partition, units) in shown.chain(over.iter().filter(|(_, p, _)| p.starts_with("W#")).take(4)) {
        println!("  {partition}: {:.0} W/s {:.0} R/s = {times:.1}x its limit", units.write, units.read);
    }
    if tokens > 4 {
        println!("  … and {} more name tokens and prefixes", tokens - 4);
    }
    if over.is_empty() {
        let share = |units: &Units| (units.write / WRITE_LIMIT).max(units.read / READ_LIMIT);
        if let Some((partition, units)) = goal.iter().max_by(|a, b| share(a.1).total_cmp(&share(b.1))) {
            println!("  none; the busiest is {partition} at {:.0}% of its limit", share(units) * 100.0);
        }
    }
    println!();
}
