//! What changed since when, by photo: what lets a kept answer that holds photos X and Y outlive a comment on
//! photo Z (`graphql::response_cache`). Every commit that changes what a `photo` or `photos` answer shows is
//! an event (a new, processed, edited or deleted photo; a new or deleted comment), and each event is counted
//! here as it commits on this instance and as it arrives from other instances (the feed or the engine).
//!
//! A change gets the next tick of one clock and stamps its photo with it, and the lists with it too when it
//! may change which photos a list or search holds (a new, edited or deleted photo). An answer whose execution
//! began at tick T, holding photos P, is still true while no stamp of P, nor the lists' stamp, is past T:
//! the commit came before its tick, so a change stamped at or before T was in the data the answer read, and
//! one stamped after T ends it.
//!
//! Photos are stamped in a fixed number of slots by id: two photos in one slot end each other's answers
//! (a miss, never a stale answer), and the memory stays the same however many photos there are.

use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::catalog::Event;

/// Slots photos are stamped in: with 20 photos on a page, a change to another photo ends it 1 time in 200.
const SLOTS: usize = 4096;

pub struct Freshness {
    clock: AtomicU64,
    /// The tick of the last change to which photos a list holds.
    lists: AtomicU64,
    photos: Box<[AtomicU64]>,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            clock: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            photos: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Freshness {
    /// The current tick: read before any data an answer is made of.
    pub fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// `event` committed (here or elsewhere): stamp what it changes, before anyone hears of it.
    pub fn changed(&self, event: &Event) {
        let (photo, lists) = match event {
            Event::Photo(photo) => (photo.id, true),
            Event::PhotoEdited { photo, .. } => (photo.id, true),
            Event::PhotoRemoved(id) => (*id, true),
            Event::PhotoUpdated(photo) => (photo.id, false),
            Event::Comment(added) => (added.comment.photo_id, false),
            Event::CommentRemoved { photo_id, .. } => (*photo_id, false),
        };
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.slot(photo).fetch_max(tick, Ordering::SeqCst);
        if lists {
            self.lists.fetch_max(tick, Ordering::SeqCst);
        }
    }

    /// Whether an answer begun at tick `since`, holding `photos`, is still true.
    pub fn unchanged_since(&self, since: u64, photos: &[Uuid]) -> bool {
        self.lists.load(Ordering::SeqCst) <= since
            && photos.iter().all(|id| self.slot(*id).load(Ordering::SeqCst) <= since)
    }

    /// Whether a change to one of these photos ends the answers that hold the other.
    pub fn share_a_slot(one: Uuid, other: Uuid) -> bool {
        Self::slot_of(one) == Self::slot_of(other)
    }

    fn slot_of(id: Uuid) -> usize {
        // The low bits of a v4 or v7 id are random.
        (id.as_u128() % SLOTS as u128) as usize
    }

    fn slot(&self, id: Uuid) -> &AtomicU64 {
        &self.photos[Self::slot_of(id)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment_on(photo_id: Uuid) -> Event {
        Event::CommentRemoved { photo_id, id: Uuid::new_v4() }
    }

    #[test]
    fn a_change_to_one_photo_leaves_answers_without_it() {
        let freshness = Freshness::default();
        let (x, y) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let since = freshness.now();
        freshness.changed(&comment_on(y));
        assert!(freshness.unchanged_since(since, &[x]), "a comment on y leaves an answer of x");
        assert!(!freshness.unchanged_since(since, &[x, y]), "and ends one holding y");
        let later = freshness.now();
        assert!(freshness.unchanged_since(later, &[x, y]), "an answer begun after the comment holds it");
    }

    #[test]
    fn new_edited_and_deleted_photos_end_every_answer() {
        let freshness = Freshness::default();
        let since = freshness.now();
        freshness.changed(&Event::PhotoRemoved(Uuid::from_u128(3)));
        assert!(!freshness.unchanged_since(since, &[]), "a list or a null photo may now differ");
        assert!(!freshness.unchanged_since(since, &[Uuid::from_u128(1)]));
    }

    #[test]
    fn photos_sharing_a_slot_end_each_others_answers() {
        let freshness = Freshness::default();
        let (x, same_slot) = (Uuid::from_u128(5), Uuid::from_u128(5 + SLOTS as u128));
        assert!(Freshness::share_a_slot(x, same_slot) && !Freshness::share_a_slot(x, Uuid::from_u128(6)));
        let since = freshness.now();
        freshness.changed(&comment_on(same_slot));
        assert!(!freshness.unchanged_since(since, &[x]), "a miss, never a stale answer");
    }
}
