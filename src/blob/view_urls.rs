//! View links already signed for the current window. `Photo.url` signs every link from the start of a
//! 5-minute window, so a photo's link is the same for the whole window (with the same credentials); this
//! keeps each one after its first signing instead of presigning it again on every request (the SDK's
//! presigning took about 150 µs of CPU, 20 times a gallery page). The window start is part of what a link
//! is kept under, so a new window never finds the last one's links; those are evicted as the cache fills.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Links kept at most (about 1 KB each).
const CAPACITY: usize = 10_000;

/// Signed links, by everything their signature covers.
pub struct ViewUrls {
    links: quick_cache::sync::Cache<String, String>,
}

impl Default for ViewUrls {
    fn default() -> Self {
        Self { links: quick_cache::sync::Cache::new(CAPACITY) }
    }
}

/// Everything a link's signature covers: the window it is signed from and what it opens, with which key.
pub fn signed_for(
    window_start: DateTime<Utc>,
    key: &str,
    content_type: &str,
    file_name: &str,
    expires_in: Duration,
    access_key: &str,
) -> String {
    format!("{}\n{key}\n{content_type}\n{file_name}\n{}\n{access_key}", window_start.timestamp(), expires_in.as_secs())
}

impl ViewUrls {
    /// The link signed for `what`, if there is one.
    pub fn get(&self, what: &str) -> Option<String> {
        self.links.get(what)
    }

    /// Keep `link`, signed for `what`.
    pub fn put(&self, what: String, link: String) {
        self.links.insert(what, link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_kept_for_their_window_only() {
        let urls = ViewUrls::default();
        let start = Utc::now();
        let what = signed_for(start, "photos/a.jpg", "image/jpeg", "a.jpg", Duration::from_secs(900), "AKID");
        assert_eq!(urls.get(&what), None);
        urls.put(what.clone(), "https://link".into());
        assert_eq!(urls.get(&what).as_deref(), Some("https://link"));
        let other = signed_for(start, "photos/a.jpg", "image/jpeg", "a.jpg", Duration::from_secs(900), "ROTATED");
        assert_eq!(urls.get(&other), None, "new credentials sign anew");
        let next = start + chrono::Duration::minutes(5);
        let later = signed_for(next, "photos/a.jpg", "image/jpeg", "a.jpg", Duration::from_secs(900), "AKID");
        assert_eq!(urls.get(&later), None, "a new window signs anew");
    }

    #[test]
    fn the_cache_is_bounded() {
        let urls = ViewUrls::default();
        for n in 0..3 * CAPACITY {
            urls.put(n.to_string(), "l".into());
        }
        assert!(urls.links.len() <= CAPACITY, "{} kept", urls.links.len());
    }
}
