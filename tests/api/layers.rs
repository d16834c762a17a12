//! The shape of `src/`: every module uses only modules of layers below its own (`crate::x` paths, read from
//! the source), every file starts with its `//!` and none is over 400 lines. The layers, top first, are the
//! ones docs/architecture.md draws.

use std::path::{Path, PathBuf};

/// Each top-level module of the crate and its layer: a module may use modules of higher numbers only.
const LAYERS: &[(&str, u8)] = &[
    ("main", 0),
    ("app", 0),
    ("config", 1),
    ("http", 2),
    ("graphql", 3),
    ("state", 4),
    ("telemetry", 5),
    ("metrics", 5),
    ("domain", 6),
    ("catalog", 7),
    ("table", 8),
    ("blob", 8),
    ("events_engine", 8),
    ("aws", 9),
    ("client_ip", 10),
    ("image_format", 10),
    ("text", 10),
];

const MAX_LINES: usize = 400;

fn layer(module: &str) -> u8 {
    LAYERS.iter().find(|(name, _)| *name == module).map(|(_, layer)| *layer).unwrap_or_else(|| {
        panic!("module {module} has no layer: add it to LAYERS (and to the map in docs/architecture.md)")
    })
}

/// Every `.rs` file under `dir`, into `found`.
pub fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The crate's modules a source file names with `crate::`.
fn uses(text: &str) -> Vec<String> {
    let mut used = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `$crate::` in a macro, or part of another name
        }
        let name: String = text[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && !used.contains(&name) {
            used.push(name);
        }
    }
    used
}

#[test]
fn modules_use_only_the_layers_below_and_stay_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        if relative == "lib.rs" {
            continue;
        }
        let module = relative.split(['/', '.']).next().unwrap().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!("{relative}: starts without a `//!` saying what it is for"));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!("{relative}: {lines} lines, over {MAX_LINES}: split it along its seams"));
        }
        for used in uses(&text) {
            if used != module && layer(&used) <= layer(&module) {
                problems.push(format!("{relative} ({module}) uses crate::{used}, a layer above or beside it"));
            }
        }
    }
    assert!(problems.is_empty(), "the layers are crossed:\n{}", problems.join("\n"));
}
