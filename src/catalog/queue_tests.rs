//! Unit tests of the processing queue (`catalog::queue`): fair rounds, held and void leases, on the embedded table.

use std::sync::Arc;

use super::*;
use crate::catalog::attributes as attr;
use crate::table::Table;
use crate::table::embedded::EmbeddedTable;
use crate::table::embedded::scratch::Scratch;

/// A catalog on a table of its own (the scratch removes it).
struct Store(Catalog, Arc<EmbeddedTable>, Scratch);

fn store() -> Store {
    let scratch = Scratch::new();
    Store(Catalog::new(scratch.table.clone()), scratch.table.clone(), scratch)
}

/// A photo of `owner` recorded (with its job) `seconds` after a fixed time.
async fn queued(catalog: &Catalog, owner: &str, seconds: i64) -> Uuid {
    let mut photo = crate::catalog::photos::tests::photo(0, Some(Vec::new()));
    (photo.id, photo.owner) = (Uuid::new_v4(), Some(owner.to_string()));
    photo.uploaded_at = DateTime::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000 + seconds);
    catalog.record_photo(&photo).await.unwrap();
    photo.id
}

#[tokio::test]
async fn a_due_job_behind_many_leased_ones_is_found() {
    let Store(catalog, table, _scratch) = &store();
    let mut ids: Vec<Uuid> = (0..30).map(|_| Uuid::new_v4()).collect();
    ids.sort();
    // Jobs as versions before fair queueing wrote them; every one but the last is held for an hour.
    let held = keys::time(Utc::now() + chrono::Duration::hours(1));
    let jobs = ids.iter().enumerate().map(|(n, id)| {
        let key = keys::unqueued_job(*id, 1);
        let mut job = Item::from([
            (crate::table::PK.into(), Value::S(key.pk)),
            (crate::table::SK.into(), Value::S(key.sk)),
            (attr::ATTEMPTS.into(), Value::N(0)),
        ]);
        if n < ids.len() - 1 {
            job.insert(attr::LEASE_UNTIL.into(), Value::S(held.clone()));
        }
        job
    });
    table.put_many(jobs.collect()).await.unwrap();
    let due = catalog.due_jobs(Utc::now(), 2, &[0], &HashMap::new(), &Holder::new(false)).await.unwrap();
    assert_eq!(due.jobs.iter().map(|job| job.photo_id).collect::<Vec<_>>(), [ids[29]], "only the free job");
}

#[tokio::test]
async fn each_queuer_gets_a_turn_however_many_jobs_another_queued() {
    let Store(catalog, _, _scratch) = &store();
    let mut flood = Vec::new();
    for n in 0..50 {
        flood.push(queued(catalog, "a", n).await);
    }
    let (b, c) = (queued(catalog, "b", 100).await, queued(catalog, "c", 0).await);
    let holder = Holder::new(false);
    let calls = catalog.table().stats().calls();
    let due = catalog.due_jobs(Utc::now(), 3, &[0], &HashMap::new(), &holder).await.unwrap();
    let ids: Vec<Uuid> = due.jobs.iter().map(|job| job.photo_id).collect();
    assert_eq!(ids, [flood[0], b, c], "each queuer's oldest, in queuer order");
    assert!(catalog.table().stats().calls() - calls <= 3, "a window per queuer at most");

    // A round goes on after the queuer served last, and comes back to it last.
    let mut rounds = HashMap::from([(0, due.jobs[0].after_queuer())]);
    let due = catalog.due_jobs(Utc::now(), 1, &[0], &rounds, &holder).await.unwrap();
    assert_eq!(due.jobs[0].photo_id, b);
    rounds.insert(0, keys::after_queuer("o:c"));
    let due = catalog.due_jobs(Utc::now(), 2, &[0], &rounds, &holder).await.unwrap();
    assert_eq!(due.jobs.iter().map(|job| job.photo_id).collect::<Vec<_>>(), [flood[0], b], "wrapped around");
}

#[tokio::test]
async fn a_lease_of_another_process_is_void_only_where_this_one_owns_the_store() {
    let Store(catalog, _, _scratch) = &store();
    let id = queued(catalog, "a", 0).await;
    let (ended, shared, sole) = (Holder::new(true), Holder::new(false), Holder::new(true));
    let (now, none) = (Utc::now(), HashMap::new());
    let job = catalog.due_jobs(now, 1, &[0], &none, &ended).await.unwrap().jobs.remove(0);
    assert_eq!(job.photo_id, id);
    let until = now + chrono::Duration::seconds(30);
    let first = catalog.claim(&job, now, until, &ended).await.unwrap().expect("claimed");

    let seen = catalog.due_jobs(now, 1, &[0], &none, &shared).await.unwrap();
    assert!(seen.jobs.is_empty(), "held for another instance sharing the store");
    assert_eq!(seen.held_until.map(keys::time), Some(keys::time(until)), "until its lease runs out");

    let void = catalog.due_jobs(now, 1, &[0], &none, &sole).await.unwrap().jobs.remove(0);
    let second = catalog.claim(&void, now, until, &sole).await.unwrap().expect("a void lease is taken over");
    assert!(catalog.claim(&void, now, until, &sole).await.unwrap().is_none(), "once");
    assert!(!catalog.renew(&first, until).await.unwrap(), "the first lease is lost");
    assert!(catalog.renew(&second, until).await.unwrap(), "the second is renewed");
}

#[test]
fn a_queuers_jobs_sort_together_oldest_first_and_positions_fall_between_queuers() {
    let (at, later) = (Utc::now(), Utc::now() + chrono::Duration::seconds(1));
    let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
    let first = keys::job(id, "a:10.0.0.4", at, 1).sk;
    let second = keys::job(other, "a:10.0.0.4", later, 1).sk;
    let next_queuer = keys::job(other, "a:10.0.0.40", at, 1).sk;
    assert!(first < second && second < keys::after_queuer("a:10.0.0.4"), "oldest first, all before the position");
    assert!(keys::after_queuer("a:10.0.0.4") < next_queuer, "a queuer whose name continues another's comes after");
    assert!(first < keys::after_job(&first) && keys::after_job(&first) < second);
    assert_eq!(keys::job_parts(&first), Some(("a:10.0.0.4", id)));
    let unqueued = keys::unqueued_job(id, 1).sk;
    assert_eq!(keys::job_parts(&unqueued), Some((unqueued.as_str(), id)), "an old job is its own queuer");
    assert_eq!(keys::job(id, "o:ab", at, 4).pk, keys::unqueued_job(id, 4).pk, "same shard");
}
