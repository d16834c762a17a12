//! The operations measured, as the issue and the playground (playground/app/operations.js) write them, and
//! a check of what each returns, made once before it is put under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::dataset::{self, Dataset};
use crate::driver::Body;

/// Reads, writes, or reads with writes among them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    /// Measured without the response cache only (nothing of it is cached).
    Write,
    /// Measured with the response cache only: what its readers get while writes end its answers.
    Mixed,
}

/// Whether a response's `data` is right, or what is wrong with it.
pub type Check = Box<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

pub struct Operation {
    pub name: String,
    pub body: Body,
    pub kind: Kind,
    /// What a correct response's `data` holds.
    pub check: Check,
}

pub const GALLERY: &str =
    "{ photos(first: 20) { nodes { id name url commentCount comments(first: 3) { nodes { body } } } } }";

const PHOTO_PAGE: &str = "query Photo($id: ID!, $first: Int!) { photo(id: $id) {
    id name description contentType sizeBytes width height uploadedAt uploaderIp url commentCount
    comments(first: $first) { nodes { id photoId body createdAt authorIp cursor } pageInfo { hasNextPage endCursor } } } }";

const SEARCH: &str = "query Search($first: Int!, $filter: PhotoFilter!) { photos(first: $first, filter: $filter) {
    nodes { id name url uploadedAt commentCount width height } pageInfo { hasNextPage endCursor } } }";

pub const ADD_COMMENT: &str = "mutation AddComment($input: AddCommentInput!) {
    addComment(input: $input) { id photoId body createdAt authorIp cursor } }";

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// Bodies taking turns, one per request.
fn rotating(bodies: Vec<String>) -> Body {
    Arc::new(move |n| bodies[n as usize % bodies.len()].clone())
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what()) }
}

/// The five operations of issue 6 and the mixed ones of issue 18; `run` makes `addComment` client ids unique
/// to this run.
pub fn all(dataset: &Dataset, run: &str) -> Vec<Operation> {
    let gallery_ids: Vec<String> = dataset.gallery().iter().map(|p| p.id.to_string()).collect();
    let page_ids: Vec<String> = dataset.long_timelines().iter().map(|p| p.id.to_string()).collect();
    let targets: Vec<String> = dataset.comment_targets().iter().map(|p| p.id.to_string()).collect();
    let found = dataset.search_matches().min(20);
    let run = run.to_string();
    // Client ids unique across every load run of this process (each run numbers its requests from 0).
    let comments = Arc::new(AtomicU64::new(0));
    let mut operations = vec![
        Operation {
            name: "floor `{ __typename }`".into(),
            kind: Kind::Read,
            body: rotating(vec![body("{ __typename }", json!({}))]),
            check: Box::new(|data| ensure(data["__typename"] == "Query", || format!("{data}"))),
        },
        Operation {
            name: "gallery page (20, url, 3 comments)".into(),
            kind: Kind::Read,
            body: rotating(vec![body(GALLERY, json!({}))]),
            check: Box::new(move |data| {
                let nodes = data["photos"]["nodes"].as_array().cloned().unwrap_or_default();
                ensure(nodes.len() == 20, || format!("{} photos", nodes.len()))?;
                for (index, node) in nodes.iter().enumerate() {
                    ensure(node["id"] == gallery_ids[index].as_str(), || format!("photo {index} is {}", node["id"]))?;
                    let count = Dataset::gallery_comments(index);
                    ensure(node["commentCount"] == count, || format!("photo {index}: {node}"))?;
                    let shown = node["comments"]["nodes"].as_array().map_or(0, Vec::len);
                    ensure(shown == count.min(3), || format!("photo {index} shows {shown} comments"))?;
                    ensure(node["url"].as_str().is_some_and(|u| u.starts_with("http")), || format!("{node}"))?;
                }
                Ok(())
            }),
        },
        Operation {
            name: "photo page (50 comments)".into(),
            kind: Kind::Read,
            body: rotating(page_ids.iter().map(|id| body(PHOTO_PAGE, json!({ "id": id, "first": 50 }))).collect()),
            check: Box::new(|data| {
                let photo = &data["photo"];
                let shown = photo["comments"]["nodes"].as_array().map_or(0, Vec::len);
                ensure(shown == 50 && photo["comments"]["pageInfo"]["hasNextPage"] == true, || {
                    format!("{shown} comments, hasNextPage {}", photo["comments"]["pageInfo"]["hasNextPage"])
                })?;
                ensure(photo["commentCount"] == dataset::LONG_TIMELINE, || format!("{}", photo["commentCount"]))
            }),
        },
        Operation {
            name: "search name + month".into(),
            kind: Kind::Read,
            body: rotating(vec![body(
                SEARCH,
                json!({ "first": 20, "filter": {
                    "name": dataset::SEARCH_WORD, "uploadedFrom": dataset::SEARCH_FROM, "uploadedTo": dataset::SEARCH_TO } }),
            )]),
            check: Box::new(move |data| {
                let nodes = data["photos"]["nodes"].as_array().cloned().unwrap_or_default();
                ensure(nodes.len() == found, || format!("{} photos found, not {found}", nodes.len()))?;
                for node in nodes {
                    let (name, at) = (node["name"].as_str().unwrap_or(""), node["uploadedAt"].as_str().unwrap_or(""));
                    ensure(name.contains(dataset::SEARCH_WORD) && at.starts_with("2025-06"), || format!("{node}"))?;
                }
                Ok(())
            }),
        },
        Operation {
            name: "addComment".into(),
            kind: Kind::Write,
            body: comment_on(targets, run.clone(), comments.clone()),
            check: Box::new(|data| is_benchmark_comment(&data["addComment"])),
        },
    ];
    // The gallery page with `addComment`s among its requests (one in `every`), on the page's own photos (each
    // write ends the cached page: the worst case) or on any photo.
    let first_page: Vec<String> = dataset.gallery().iter().map(|p| p.id.to_string()).collect();
    let anywhere: Vec<String> = dataset.photos.iter().map(|p| p.id.to_string()).collect();
    for (reads, every) in [(95, 20), (80, 5)] {
        for (on, targets) in [("the page's photos", &first_page), ("any photo", &anywhere)] {
            let (gallery, comment) =
                (body(GALLERY, json!({})), comment_on(targets.clone(), run.clone(), comments.clone()));
            operations.push(Operation {
                name: format!("gallery {reads}% + addComment {}% on {on}", 100 - reads),
                kind: Kind::Mixed,
                body: Arc::new(move |n| if n % every == 0 { comment(n) } else { gallery.clone() }),
                check: Box::new(|data| {
                    if data.get("addComment").is_some() {
                        is_benchmark_comment(&data["addComment"])
                    } else {
                        let nodes = data["photos"]["nodes"].as_array().map_or(0, Vec::len);
                        ensure(nodes == 20, || format!("{nodes} photos"))
                    }
                }),
            });
        }
    }
    operations
}

/// `addComment` bodies on `targets` in turn, with client ids unique to the run (`comments` counts them).
fn comment_on(targets: Vec<String>, run: String, comments: Arc<AtomicU64>) -> Body {
    Arc::new(move |_| {
        let n = comments.fetch_add(1, Ordering::Relaxed);
        let input = json!({ "photoId": targets[n as usize % targets.len()],
            "body": format!("Benchmark comment {n}: lovely colours!"), "clientId": format!("{run}-{n}") });
        body(ADD_COMMENT, json!({ "input": input }))
    })
}

fn is_benchmark_comment(comment: &Value) -> Result<(), String> {
    ensure(comment["body"].as_str().is_some_and(|b| b.starts_with("Benchmark comment")), || format!("{comment}"))
}
