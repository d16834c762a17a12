//! View links already signed for the current window. `Photo.url` signs every link from the start of a
//! 5-minute window, so a photo's link is the same for the whole window (with the same credentials); this
//! keeps each one after its first signing instead of presigning it again on every request (the SDK's
//! presigning took about 150 µs of CPU, 20 times a gallery page).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Links kept at most (about 1 KB each); past this the window's cache starts over.
const CAPACITY: usize = 10_000;

/// Links signed from one window start, by what they were signed for.
#[derive(Default)]
pub struct ViewUrls {
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    start: Option<DateTime<Utc>>,
    links: HashMap<String, String>,
}

/// Everything a link's signature covers besides the window start.
pub fn signed_for(key: &str, content_type: &str, file_name: &str, expires_in: Duration, access_key: &str) -> String {
    format!("{key}\n{content_type}\n{file_name}\n{}\n{access_key}", expires_in.as_secs())
}

impl ViewUrls {
    /// The link signed from `start` for `what`, if there is one.
    pub fn get(&self, start: DateTime<Utc>, what: &str) -> Option<String> {
        let window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.start != Some(start) {
            return None;
        }
        window.links.get(what).cloned()
    }

    /// Keep `link`, signed from `start`; links of any other window are dropped.
    pub fn put(&self, start: DateTime<Utc>, what: String, link: String) {
        let mut window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.start != Some(start) || window.links.len() >= CAPACITY {
            window.start = Some(start);
            window.links.clear();
        }
        window.links.insert(what, link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_kept_for_their_window_only() {
        let urls = ViewUrls::default();
        let start = Utc::now();
        let what = signed_for("photos/a.jpg", "image/jpeg", "a.jpg", Duration::from_secs(900), "AKID");
        assert_eq!(urls.get(start, &what), None);
        urls.put(start, what.clone(), "https://link".into());
        assert_eq!(urls.get(start, &what).as_deref(), Some("https://link"));
        let other = signed_for("photos/a.jpg", "image/jpeg", "a.jpg", Duration::from_secs(900), "ROTATED");
        assert_eq!(urls.get(start, &other), None, "new credentials sign anew");

        let next = start + chrono::Duration::minutes(5);
        assert_eq!(urls.get(next, &what), None);
        urls.put(next, other.clone(), "https://next".into());
        assert_eq!(urls.get(start, &what), None, "a new window drops the old one's links");
    }

    #[test]
    fn the_cache_is_bounded() {
        let urls = ViewUrls::default();
        let start = Utc::now();
        for n in 0..CAPACITY + 1 {
            urls.put(start, n.to_string(), "l".into());
        }
        assert!(urls.get(start, "0").is_none());
        assert!(urls.get(start, &CAPACITY.to_string()).is_some());
    }
}
