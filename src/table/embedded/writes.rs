//! Writing the embedded table: one writer thread commits every change that queued meanwhile in one
//! transaction (group commit), each change still all or nothing on its own, the index following its items.

use redb::{Database, ReadableTable};

use super::encoding::{decode, encode, index_entry, internal, item_key};
use super::{GSI1_ENTRIES, ITEMS};
use crate::table::*;

/// A change to make, all or nothing.
pub(super) enum Change {
    Transact(Vec<Write>),
    /// Add to a number attribute, creating the item if it is absent.
    Add {
        key: Key,
        attr: String,
        by: i64,
    },
}

/// A change waiting for the writer thread, and where its outcome goes.
pub(super) struct Pending {
    pub(super) change: Change,
    pub(super) done: tokio::sync::oneshot::Sender<TableResult<()>>,
}

/// Most changes committed together.
pub(super) const GROUP: usize = 256;

/// The writer thread. redb has one writer at a time and every commit waits for the disk, so the changes that
/// queued while the last commit was syncing are committed together, with one sync (group commit). Each
/// change still succeeds or fails on its own: its conditions are checked against what the changes before it
/// in the group left, and a refused change writes nothing.
pub(super) fn write_loop(db: &Database, pending: std::sync::mpsc::Receiver<Pending>) {
    while let Ok(first) = pending.recv() {
        let mut group = vec![first];
        group.extend(pending.try_iter().take(GROUP - 1));
        let (changes, waiting): (Vec<_>, Vec<_>) = group.into_iter().map(|p| (p.change, p.done)).unzip();
        for (outcome, done) in commit_group(db, changes).into_iter().zip(waiting) {
            let _ = done.send(outcome);
        }
    }
}

/// Every change's outcome; the group commits once.
pub(super) fn commit_group(db: &Database, changes: Vec<Change>) -> Vec<TableResult<()>> {
    let count = changes.len();
    let failed = |error: &TableError| (0..count).map(|_| Err(internal(anyhow::anyhow!("{error}")))).collect();
    let txn = match db.begin_write().map_err(internal) {
        Ok(txn) => txn,
        Err(error) => return failed(&error),
    };
    let outcomes = (|| {
        let mut items = txn.open_table(ITEMS).map_err(internal)?;
        let mut index = txn.open_table(GSI1_ENTRIES).map_err(internal)?;
        let mut outcomes = Vec::with_capacity(count);
        for change in changes {
            match stage(&items, change) {
                Ok(staged) => {
                    // A failure here leaves the change half-applied: the whole group is abandoned below.
                    apply(&mut items, &mut index, staged)?;
                    outcomes.push(Ok(()));
                }
                Err(refused) => outcomes.push(Err(refused)),
            }
        }
        Ok::<_, TableError>(outcomes)
    })();
    match outcomes {
        // Dropping the uncommitted transaction aborts it: nothing of the group is written.
        Err(error) => failed(&error),
        Ok(outcomes) => match txn.commit().map_err(internal) {
            Ok(()) => outcomes,
            Err(error) => failed(&error),
        },
    }
}

/// A change's items as they will be (`None`: removed), its conditions checked against `items`; nothing is
/// written yet.
pub(super) fn stage(items: &redb::Table<&[u8], &[u8]>, change: Change) -> TableResult<Vec<(Key, Option<Item>)>> {
    let current = |key: &Key| -> TableResult<Option<Item>> {
        items.get(item_key(key)?.as_bytes()).map_err(internal)?.map(|v| decode(v.value())).transpose()
    };
    let writes = match change {
        Change::Add { key, attr, by } => {
            let mut item = current(&key)?.unwrap_or_else(|| {
                Item::from([(PK.to_string(), Value::S(key.pk.clone())), (SK.to_string(), Value::S(key.sk.clone()))])
            });
            add_to(&mut item, attr, by);
            return Ok(vec![(key, Some(item))]);
        }
        Change::Transact(writes) => writes,
    };
    writes
        .into_iter()
        .map(|write| match write {
            Write::Put(item) => Ok((key_of(&item).map_err(internal)?, Some(item))),
            Write::PutIfAbsent(item) => {
                let key = key_of(&item).map_err(internal)?;
                match current(&key)? {
                    Some(_) => Err(TableError::ConditionFailed),
                    None => Ok((key, Some(item))),
                }
            }
            Write::Update { key, add, set, checks } => {
                let mut item = current(&key)?.ok_or(TableError::ConditionFailed)?;
                if !checks.iter().all(|check| check.holds(&item)) {
                    return Err(TableError::ConditionFailed);
                }
                add.into_iter().for_each(|(attr, by)| add_to(&mut item, attr, by));
                item.extend(set);
                Ok((key, Some(item)))
            }
            Write::Delete(key) => Ok((key, None)),
            Write::Increment { key, attr, by } => {
                let mut item = current(&key)?.unwrap_or_else(|| {
                    Item::from([(PK.to_string(), Value::S(key.pk.clone())), (SK.to_string(), Value::S(key.sk.clone()))])
                });
                add_to(&mut item, attr, by);
                Ok((key, Some(item)))
            }
            Write::DeleteExisting(key) => match current(&key)? {
                Some(_) => Ok((key, None)),
                None => Err(TableError::ConditionFailed),
            },
        })
        .collect()
}

/// Adds `by` to the number attribute `attr` (absent counts as 0), as DynamoDB's `ADD` does.
pub(super) fn add_to(item: &mut Item, attr: String, by: i64) {
    let now = item.opt_number(&attr).unwrap_or(0);
    item.insert(attr, Value::N(now + by));
}

/// Writes staged items, keeping the index in step: an index entry holds its item too, as DynamoDB's index
/// projects it, so a query of the index reads nothing else.
pub(super) fn apply(
    items: &mut redb::Table<&[u8], &[u8]>,
    index: &mut redb::Table<&[u8], &[u8]>,
    staged: Vec<(Key, Option<Item>)>,
) -> TableResult<()> {
    for (key, new_item) in staged {
        let raw = item_key(&key)?;
        let old = items.remove(raw.as_bytes()).map_err(internal)?.map(|v| decode(v.value())).transpose()?;
        if let Some(entry) = old.as_ref().map(index_entry).transpose()?.flatten() {
            index.remove(entry.as_bytes()).map_err(internal)?;
        }
        if let Some(item) = new_item {
            let bytes = encode(&item)?;
            items.insert(raw.as_bytes(), bytes.as_slice()).map_err(internal)?;
            if let Some(entry) = index_entry(&item)? {
                index.insert(entry.as_bytes(), bytes.as_slice()).map_err(internal)?;
            }
        }
    }
    Ok(())
}
