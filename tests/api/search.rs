//! Search by name words and upload time: the semantics, paging while photos arrive, and the cost bound.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, Utc};
use photoshare::table::ItemExt;
use serde_json::{Value, json};

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(
    names_match_words_and_prefixes_in_any_case_accent_or_script,
    time_ranges_are_inclusive_in_any_offset_and_combine_with_names,
    bad_filters_are_refused,
    a_filtered_walk_stays_exact_while_photos_arrive,
    search_cost_follows_the_results_not_the_table,
    a_photo_with_the_longest_name_stays_editable,
);

/// Name tokens over 4 partitions (`--name-shards 4`): the same semantics and exact walks, and each shard's
/// entries and count stay exact through renames and deletions.
mod sharded {
    crate::both_modes!(
        flags = &["--name-shards", "4"];
        names_match_words_and_prefixes_in_any_case_accent_or_script,
        a_filtered_walk_stays_exact_while_photos_arrive,
        a_token_is_spread_over_its_shards_and_counted_exactly,
    );

    use super::*;

    async fn names_match_words_and_prefixes_in_any_case_accent_or_script(app: TestApp) {
        super::names_match_words_and_prefixes_in_any_case_accent_or_script(app).await
    }

    async fn a_filtered_walk_stays_exact_while_photos_arrive(app: TestApp) {
        super::a_filtered_walk_stays_exact_while_photos_arrive(app).await
    }
}

/// Each shard of `token`'s partition: its entries (photo ids) and its count.
async fn token_shards(app: &TestApp, token: &str, shards: usize) -> Vec<(Vec<String>, i64)> {
    let table = app.state.services.catalog.table();
    let mut found = Vec::new();
    for shard in 0..shards {
        let pk = if shard == 0 { format!("W#{token}") } else { format!("W#{token}#{shard}") };
        let items = table.query(&photoshare::table::Query::partition(pk, 1000)).await.expect("query");
        let count =
            items.iter().find(|item| item.opt_string("sk") == Some("#COUNT")).and_then(|i| i.opt_number("count"));
        let ids = items.iter().filter_map(|item| item.opt_string("id").map(str::to_string)).collect();
        found.push((ids, count.unwrap_or(0)));
    }
    found
}

async fn ids_walked(app: &TestApp, name: &str, first: usize) -> Vec<String> {
    let walk = app.walk(SEARCH, json!({ "filter": { "name": name }, "first": first }), &["photos"]);
    let pages = walk.pages().await;
    pages.iter().flat_map(|page| page.nodes()).map(|photo| photo["id"].as_str().unwrap().to_string()).collect()
}

async fn a_token_is_spread_over_its_shards_and_counted_exactly(app: TestApp) {
    let owner = app.with_key(Some("owner-of-the-sharded-beach-0123456789"));
    // A photo's shard is its id modulo the shards: at least 24 photos, and until every shard has one.
    let shard_of = |id: &str| (uuid::Uuid::parse_str(id).unwrap().as_u128() % 4) as usize;
    let mut beach: Vec<String> = Vec::new();
    for i in 0.. {
        if i >= 24 && (0..4).all(|shard| beach.iter().any(|id| shard_of(id) == shard)) {
            break;
        }
        let name = if i % 3 == 0 { format!("Beach sunset {i}") } else { format!("beach {i}") };
        beach.push(owner.upload_photo(&name).await["id"].as_str().unwrap().to_string());
    }
    beach.reverse();
    let shards = token_shards(&app, "beach", 4).await;
    for (n, (ids, count)) in shards.iter().enumerate() {
        let mut expected: Vec<&String> = beach.iter().filter(|id| shard_of(id) == n).collect();
        let mut entries: Vec<&String> = ids.iter().collect();
        expected.sort();
        entries.sort();
        assert_eq!(entries, expected, "shard {n} of W#beach holds the entries of its photos");
        assert_eq!(ids.len() as i64, *count, "shard {n}'s count is its entries");
    }
    let total = beach.len() as i64;
    assert_eq!(shards.iter().map(|(_, count)| count).sum::<i64>(), total);

    // Pages of 5 merge the shards newest first; two words read the rarer one's shards.
    assert_eq!(ids_walked(&app, "beach", 5).await, beach, "every photo once, newest first");
    let sunset: Vec<String> = beach.iter().rev().step_by(3).rev().cloned().collect();
    assert_eq!(ids_walked(&app, "sunset bea", 3).await, sunset);

    // A rename moves the photo out of the token; a deletion removes it; both on the photo's own shard.
    let update = "mutation($input: UpdatePhotoInput!) { updatePhoto(input: $input) { name } }";
    owner.data(update, json!({ "input": { "id": beach[0], "name": "Harbour at dusk" } })).await;
    owner.data("mutation($id: ID!) { deletePhoto(id: $id) }", json!({ "id": beach[1] })).await;
    let mut counts = Vec::new();
    for _ in 0..100 {
        let shards = token_shards(&app, "beach", 4).await;
        counts = shards.iter().map(|(ids, count)| (ids.len() as i64, *count)).collect();
        if counts.iter().map(|(entries, _)| entries).sum::<i64>() == total - 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(counts.iter().all(|(entries, count)| entries == count), "each shard's count is exact: {counts:?}");
    assert_eq!(counts.iter().map(|(_, count)| count).sum::<i64>(), total - 2, "{counts:?}");
    assert_eq!(ids_walked(&app, "beach", 5).await, beach[2..], "neither is found any more");
    assert_eq!(ids_walked(&app, "harbour", 5).await, [beach[0].clone()], "the new name finds it");
}

const SEARCH: &str = "query($filter: PhotoFilter, $first: Int, $after: String) {
    photos(first: $first, after: $after, filter: $filter) { nodes { id name uploadedAt } pageInfo { hasNextPage endCursor } } }";

async fn names(app: &TestApp, filter: Value) -> Vec<String> {
    let data = app.data(SEARCH, json!({ "filter": filter, "first": 100 })).await;
    data["photos"]["nodes"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

async fn names_matching(app: &TestApp, name: &str) -> HashSet<String> {
    names(app, json!({ "name": name })).await.into_iter().collect()
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn names_match_words_and_prefixes_in_any_case_accent_or_script(app: TestApp) {
    for name in ["Sunset at the pier", "Café Crème", "Straße in Köln", "海边日落", "Sunrise, harbour", "Pier 39"]
    {
        app.upload_photo(name).await;
    }
    let cases: [(&str, &[&str]); 14] = [
        ("sun", &["Sunset at the pier", "Sunrise, harbour"]),
        ("pier sun", &["Sunset at the pier"]),
        ("SUNSET", &["Sunset at the pier"]),
        ("set", &[]),
        ("cafe creme", &["Café Crème"]),
        ("CAFÉ", &["Café Crème"]),
        ("strasse", &["Straße in Köln"]),
        ("koln", &["Straße in Köln"]),
        ("日落", &["海边日落"]),
        ("海", &["海边日落"]),
        ("harbour,sunrise", &["Sunrise, harbour"]),
        ("pi", &["Sunset at the pier", "Pier 39"]),
        ("p", &[]),
        ("nothing like it", &[]),
    ];
    for (query, expected) in cases {
        assert_eq!(names_matching(&app, query).await, set(expected), "name filter {query:?}");
    }
    let all = names(&app, json!({ "name": "   " })).await;
    assert_eq!(all.len(), 6, "a blank name means no name filter");
    let newest_first = names(&app, json!({ "name": "sun" })).await;
    assert_eq!(newest_first, ["Sunrise, harbour", "Sunset at the pier"]);
}

async fn time_ranges_are_inclusive_in_any_offset_and_combine_with_names(app: TestApp) {
    let mut uploaded = Vec::new();
    for name in ["morning pier", "noon pier", "noon beach", "evening pier"] {
        uploaded.push(app.upload_photo(name).await);
    }
    let at = |i: usize| uploaded[i]["uploadedAt"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let plus8 = FixedOffset::east_opt(8 * 3600).unwrap();
    // Exactly the middle two, given in +08:00: both ends inclusive.
    let range = json!({ "uploadedFrom": at(1).with_timezone(&plus8).to_rfc3339(), "uploadedTo": at(2).with_timezone(&plus8).to_rfc3339() });
    assert_eq!(names(&app, range.clone()).await, ["noon beach", "noon pier"]);
    let mut with_name = range.clone();
    with_name["name"] = json!("pier");
    assert_eq!(names(&app, with_name).await, ["noon pier"]);
    assert_eq!(names(&app, json!({ "uploadedFrom": at(3).to_rfc3339() })).await, ["evening pier"]);
    assert_eq!(names(&app, json!({ "uploadedTo": at(0).to_rfc3339(), "name": "pier" })).await, ["morning pier"]);
    let today = Utc::now().date_naive();
    let day = json!({ "uploadedFrom": format!("{today}T00:00:00Z"), "uploadedTo": format!("{today}T23:59:59.999999Z"), "name": "pier" });
    assert_eq!(names(&app, day).await.len(), 3, "today's range");
    let empty = json!({ "uploadedFrom": "2001-01-01T00:00:00+08:00", "uploadedTo": "2001-01-31T23:59:59+08:00" });
    assert!(names(&app, empty).await.is_empty(), "no match is an empty connection, never all photos");
}

async fn bad_filters_are_refused(app: TestApp) {
    let cases = [
        json!({ "uploadedFrom": "2026-02-01T00:00:00Z", "uploadedTo": "2026-01-01T00:00:00Z" }),
        json!({ "name": "x".repeat(201) }),
        json!({ "name": "one two three four five six seven eight nine" }),
    ];
    let calls = app.table_calls();
    for filter in cases {
        assert_eq!(app.error_code(SEARCH, json!({ "filter": filter })).await, "BAD_USER_INPUT", "{filter}");
    }
    assert_eq!(app.table_calls(), calls, "refused searches cost no backend calls");
    let body = app.graphql(SEARCH, json!({ "filter": { "uploadedFrom": "yesterday" } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("DateTime"), "{body}");
}

async fn a_filtered_walk_stays_exact_while_photos_arrive(app: TestApp) {
    let mut expected = Vec::new();
    for i in 0..25 {
        expected.push(app.upload_photo(&format!("walk {i}")).await["id"].as_str().unwrap().to_string());
        app.upload_photo(&format!("other {i}")).await;
    }
    expected.reverse();
    let mut seen = Vec::new();
    let mut walk = app.walk(SEARCH, json!({ "filter": { "name": "walk" }, "first": 10 }), &["photos"]);
    for late in 0.. {
        let Some(page) = walk.next().await else { break };
        seen.extend(page.nodes().iter().map(|p| p["id"].as_str().unwrap().to_string()));
        // New matching photos arrive between pages; they are newer than the walk's position.
        app.upload_photo(&format!("walk late {late}")).await;
    }
    assert_eq!(seen, expected, "every match once, newest first, none skipped");
}

async fn search_cost_follows_the_results_not_the_table(app: TestApp) {
    let stats = || {
        let stats = app.state.services.catalog.table().stats();
        (stats.calls(), stats.items_read())
    };
    for i in 0..40 {
        let name = if i % 13 == 0 { format!("zebra crossing {i}") } else { format!("street crossing {i}") };
        app.upload_photo(&name).await;
    }
    let cost = |before: (u64, u64), after: (u64, u64)| (after.0 - before.0, after.1 - before.1);
    // (filter, photos returned, most calls, most items read) with pages of 20.
    let cases = [
        (json!({ "name": "zebra" }), 4, 3, 2 * (4 + 20) + 8),
        (json!({ "name": "crossing zebra" }), 4, 3, 2 * (4 + 20) + 8),
        (json!({ "name": "unicorn" }), 0, 1, 8),
        // The index's entries (the cursor's own and one more past the page), then the page's photos.
        (json!({ "uploadedFrom": "2020-01-01T00:00:00Z" }), 20, 2, 22 + 20),
        (json!({ "name": "street", "uploadedFrom": "2020-01-01T00:00:00Z" }), 20, 3, 2 * (20 + 20) + 8),
    ];
    for (filter, returned, max_calls, max_items) in cases {
        let before = stats();
        let data = app.data(SEARCH, json!({ "filter": filter, "first": 20 })).await;
        let (calls, items) = cost(before, stats());
        assert_eq!(data["photos"]["nodes"].as_array().unwrap().len(), returned, "{filter}");
        assert!(calls <= max_calls && items <= max_items, "{filter}: {calls} calls, {items} items read");
    }
}

/// The ids of the photos a name search finds (first 10).
async fn ids_found_by(app: &TestApp, words: &str) -> Vec<Value> {
    let query = "query($name: String!) { photos(first: 10, filter: { name: $name }) { nodes { id } } }";
    let page = app.data(query, json!({ "name": words })).await;
    page["photos"]["nodes"].as_array().unwrap().iter().map(|node| node["id"].clone()).collect()
}

/// A name of 200 characters of distinct ten-letter words (`first`: the letter each starts with; 162 tokens
/// written out).
fn longest_name(first: u8) -> String {
    let word = |n: usize| -> String {
        let mut word = vec![first];
        word.extend((1..10).map(|i| b'a' + ((n * 7 + i * 3) % 26) as u8));
        String::from_utf8(word).unwrap()
    };
    let name = (0..18).map(word).collect::<Vec<_>>().join(" ");
    assert!(name.chars().count() <= 200, "{name}");
    name
}

/// A name can have about 100 index tokens (its words and their prefixes), while one edit rewrites the name's
/// entries and counts in a transaction of at most 100 items: every edit of such a photo, even of its
/// description alone, was refused ("change fewer words at a time"). Now a name is indexed under at most 24
/// tokens, its words first, and a description edit rewrites no entry.
async fn a_photo_with_the_longest_name_stays_editable(app: TestApp) {
    let owner = app.with_key(Some("owner-of-the-longest-names-0123456789"));
    let (first, second) = (longest_name(b'q'), longest_name(b'z'));
    let photo = owner.upload_photo(&first).await;
    assert_eq!(photo["name"], first.as_str(), "the whole name is kept");
    let id = photo["id"].clone();
    let first_word = first.split(' ').next().unwrap();
    assert_eq!(ids_found_by(&app, first_word).await, [id.clone()], "found by its first word");
    assert_eq!(ids_found_by(&app, "qd").await, [id.clone()], "and by a short prefix");

    let update = "mutation($input: UpdatePhotoInput!) { updatePhoto(input: $input) { name description } }";
    let described = owner.graphql(update, json!({ "input": { "id": id, "description": "Low tide" } })).await;
    assert_eq!(described["data"]["updatePhoto"]["description"], "Low tide", "a description edit: {described}");
    assert_eq!(described["data"]["updatePhoto"]["name"], first.as_str());

    let renamed = owner.graphql(update, json!({ "input": { "id": id, "name": second } })).await;
    assert_eq!(renamed["data"]["updatePhoto"]["name"], second.as_str(), "a rename to another such name: {renamed}");
    assert!(ids_found_by(&app, first_word).await.is_empty(), "the old name finds nothing");
    assert_eq!(ids_found_by(&app, second.split(' ').nth(3).unwrap()).await, [id.clone()], "the new one finds it");

    let back = owner.graphql(update, json!({ "input": { "id": id, "name": first, "description": "" } })).await;
    assert_eq!(back["data"]["updatePhoto"]["name"], first.as_str(), "and back: {back}");
    assert_eq!(ids_found_by(&app, first_word).await, [id]);
}
