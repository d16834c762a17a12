//! The data every run starts from, the same each time: photos over two years with three-word names (one word
//! and one month find about 20 photos), 0 to 5 comments on each of the newest 20 (the gallery page), and 10
//! older photos with 55 comments each (the photo page).

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_util::StreamExt;
use photoshare::catalog::{Catalog, NewComment, Photo};
use photoshare::text::CommentText;
use uuid::Uuid;

const WORDS: &[&str] = &[
    "sunset", "pier", "harbour", "beach", "mountain", "forest", "river", "city", "night", "morning", "snow", "garden",
    "bridge", "street", "market", "festival", "portrait", "family", "dog", "cat", "bird", "flower", "lake", "tower",
    "train", "boat", "cloud", "storm", "autumn", "spring", "summer", "winter", "coffee", "dinner", "party", "wedding",
    "museum", "castle", "island", "desert", "valley", "road", "window", "door", "light", "shadow", "rain", "sky",
];

/// The name word and the month the search operation asks for.
pub const SEARCH_WORD: &str = "sunset";
pub const SEARCH_FROM: &str = "2025-06-01T00:00:00Z";
pub const SEARCH_TO: &str = "2025-06-30T23:59:59.999Z";
/// Comments on each photo of the photo page (it shows the first 50).
pub const LONG_TIMELINE: usize = 55;
/// Fewest photos the roles below need.
pub const MIN_PHOTOS: usize = 400;

/// A deterministic generator, so every run loads the same names and times.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}

pub struct Dataset {
    /// Newest first, as the gallery shows them.
    pub photos: Vec<Photo>,
}

impl Dataset {
    pub fn generate(count: usize) -> Self {
        let mut rng = Lcg(6);
        let start: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 12, 1, 0, 0, 0).unwrap();
        let span = Duration::days(730).num_seconds() as usize;
        let mut photos: Vec<Photo> = (0..count)
            .map(|_| {
                let id = Uuid::new_v4();
                Photo {
                    id,
                    name: (0..3).map(|_| WORDS[rng.next(WORDS.len())]).collect::<Vec<_>>().join(" "),
                    description: None,
                    format: photoshare::image_format::ImageFormat::Jpeg,
                    size_bytes: 2_000_000,
                    width: Some(4032),
                    height: Some(3024),
                    uploaded_at: start + Duration::seconds(rng.next(span) as i64),
                    uploader_ip: "192.0.2.1".into(),
                    object_key: format!("photos/{id}.jpg"),
                    comment_count: 0,
                    first_comments: Some(Vec::new()),
                    processing: photoshare::catalog::Processing::ready_as(640, 480, 50_000),
                    owner: None,
                    name_shard: 0,
                }
            })
            .collect();
        photos.sort_by_key(|photo| std::cmp::Reverse(photo.uploaded_at));
        Self { photos }
    }

    /// The first gallery page.
    pub fn gallery(&self) -> &[Photo] {
        &self.photos[..20]
    }

    /// How many comments the `index`th gallery photo has.
    pub fn gallery_comments(index: usize) -> usize {
        index % 6
    }

    /// Photos with `LONG_TIMELINE` comments: the photo page's.
    pub fn long_timelines(&self) -> &[Photo] {
        &self.photos[100..110]
    }

    /// The photo fan-out subscribers watch, and the one the 1,000 subscriptions watch.
    pub fn fan_out_photo(&self) -> &Photo {
        &self.photos[150]
    }

    pub fn crowd_photo(&self) -> &Photo {
        &self.photos[151]
    }

    /// How many photos the search operation matches.
    pub fn search_matches(&self) -> usize {
        let (from, to) = (SEARCH_FROM.parse::<DateTime<Utc>>().unwrap(), SEARCH_TO.parse::<DateTime<Utc>>().unwrap());
        let named = |p: &Photo| p.name.split(' ').any(|word| word == SEARCH_WORD);
        self.photos.iter().filter(|p| named(p) && from <= p.uploaded_at && p.uploaded_at <= to).count()
    }

    /// Photos the `addComment` load comments on: older ones, so the pages measured stay as they were.
    pub fn comment_targets(&self) -> &[Photo] {
        &self.photos[300..self.photos.len().min(1_300)]
    }

    /// Bulk-load the photos into an empty table, then add the comments through the catalog (as `addComment`
    /// does, one transaction each): one photo's comments one after another, eight photos at a time. (Comments
    /// racing for one photo's first places are refused and retried by design; moto copies the whole table
    /// for every refused transaction, which a load need not pay for.)
    pub async fn load(&self, catalog: &Catalog) -> anyhow::Result<()> {
        catalog.load_photos(&self.photos).await?;
        let gallery = self.gallery().iter().enumerate().map(|(index, photo)| (photo.id, Self::gallery_comments(index)));
        let long = self.long_timelines().iter().map(|photo| (photo.id, LONG_TIMELINE));
        let timelines: Vec<(Uuid, usize)> = gallery.chain(long).collect();
        let added: Vec<anyhow::Result<()>> = futures_util::stream::iter(timelines)
            .map(|(photo_id, count)| async move {
                for n in 0..count {
                    let comment = catalog
                        .add_comment(NewComment {
                            photo_id,
                            body: CommentText::parse(&format!(
                                "Comment {n}: what a lovely light on the water, where was this taken?"
                            ))?,
                            author: None,
                            author_ip: "192.0.2.2".into(),
                            retry: None,
                        })
                        .await?;
                    anyhow::ensure!(comment.is_some(), "photo {photo_id} is missing");
                }
                Ok(())
            })
            .buffer_unordered(8)
            .collect()
            .await;
        added.into_iter().collect()
    }
}
