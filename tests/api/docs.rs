//! The README and `docs/` point at what exists: every module path they name (`graphql::photo_answers`,
//! `domain::deletion::delete_photo`), every file of the repository, every link to a file and a section of
//! it; and no text sends a reader to an issue number, which a reader cannot look up.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page of docs/, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths.into_iter().map(|path| (path.clone(), std::fs::read_to_string(&path).unwrap())).collect()
}

/// The spans of `text` written as code (between single backticks), outside fenced blocks.
fn code_spans(text: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            spans.push(code);
        }
    }
    spans
}

/// The file of module `segments` under `src/`, if there is one.
fn module_file(segments: &[&str]) -> Option<PathBuf> {
    let dir = segments.iter().fold(root().join("src"), |dir, segment| dir.join(segment));
    [dir.with_extension("rs"), dir.join("mod.rs")].into_iter().find(|file| file.is_file())
}

/// Whether `source` defines (or re-exports) an item called `name`, or has it as a word (an enum's variant).
fn defines(source: &str, name: &str, as_word: bool) -> bool {
    let word_at = |at: usize, len: usize| {
        let before = source[..at].chars().next_back();
        let after = source[at + len..].chars().next();
        let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !part(before) && !part(after)
    };
    if as_word {
        return source.match_indices(name).any(|(at, found)| word_at(at, found.len()));
    }
    let reexported = source.lines().filter(|line| line.trim_start().starts_with("pub use ")).any(|line| {
        line.match_indices(name).any(|(at, found)| {
            let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !part(line[..at].chars().next_back()) && !part(line[at + found.len()..].chars().next())
        })
    });
    reexported
        || ["fn", "struct", "enum", "trait", "type", "const", "static", "mod", "macro_rules!"].iter().any(|kind| {
            let written = format!("{kind} {name}");
            source.match_indices(&written).any(|(at, found)| word_at(at, found.len()))
        })
}

/// What the module path `segments` names, looked up under the module `base`: nothing there (`None`: not
/// a path of this module), the item (`Ok`), or a module that lacks the rest (`Err`, saying so).
fn resolve(base: &[&str], segments: &[&str]) -> Option<Result<(), String>> {
    let path = |n: usize| [base, &segments[..n]].concat();
    let modules = (1..=segments.len()).rev().find(|n| module_file(&path(*n)).is_some())?;
    let source = std::fs::read_to_string(module_file(&path(modules)).unwrap()).unwrap();
    match &segments[modules..] {
        [] => Some(Ok(())),
        [item] if defines(&source, item, false) => Some(Ok(())),
        [ty, member] if defines(&source, ty, false) && defines(&source, member, true) => Some(Ok(())),
        rest => Some(Err(format!("{} has no {}", path(modules).join("::"), rest.join("::")))),
    }
}

/// Why `code` names nothing, if it is a module path of this crate (looked up from the crate's root and from
/// the modules in `near`) that names nothing in any of them.
fn unresolved(code: &str, near: &[&[&str]]) -> Option<String> {
    let is_path = code.contains("::") && code.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':');
    if !is_path {
        return None;
    }
    let segments: Vec<&str> = code.trim_start_matches("crate::").split("::").collect();
    let found: Vec<Result<(), String>> =
        [&[][..]].iter().chain(near).filter_map(|base| resolve(base, &segments)).collect();
    if found.iter().any(Result::is_ok) {
        return None;
    }
    found.into_iter().find_map(Result::err)
}

/// The anchors GitHub gives the headings of a Markdown page.
fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            let title = line.trim_start_matches('#').trim().to_lowercase();
            title
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

/// The targets of the Markdown links of `text` that are not web addresses.
fn local_links(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(at, _)| text[at + 2..].split(')').next())
        .filter(|target| !target.starts_with("http://") && !target.starts_with("https://"))
        .collect()
}

#[test]
fn the_docs_point_at_modules_files_and_sections_that_exist() {
    let mut broken = Vec::new();
    for (page, text) in pages() {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for span in code_spans(&text) {
            if let Some(why) = unresolved(span, &[]) {
                broken.push(format!("{name}: `{span}`: {why}"));
            }
            let is_file = ["src/", "tests/", "benches/", "deploy/", "docs/", "playground/"]
                .iter()
                .any(|dir| span.starts_with(dir))
                && !span.contains(['<', '*', ' ', '…']);
            if is_file && !root().join(span).exists() {
                broken.push(format!("{name}: `{span}` does not exist"));
            }
        }
        for link in local_links(&text) {
            let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            if !target.exists() {
                broken.push(format!("{name}: link to {link}: no such file"));
            } else if !anchor.is_empty() {
                let target_text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&target_text).iter().any(|a| a == anchor) {
                    broken.push(format!("{name}: link to {link}: no such section"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "the docs point at what is not there:\n{}", broken.join("\n"));
}

/// The module of a source file under `src/`: `src/graphql/photo_answers.rs` is `graphql::photo_answers`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root().join("src")).unwrap().with_extension("");
    let mut segments: Vec<String> = relative.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if segments.last().is_some_and(|last| last == "mod") {
        segments.pop();
    }
    segments
}

#[test]
fn module_docs_name_modules_that_exist() {
    let mut files = Vec::new();
    crate::layers::sources(&root().join("src"), &mut files);
    let mut broken = Vec::new();
    for file in files {
        let module = module_of(&file);
        let module: Vec<&str> = module.iter().map(String::as_str).collect();
        let parent = &module[..module.len().saturating_sub(1)];
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if !(line.starts_with("//!") || line.starts_with("///")) {
                continue;
            }
            for code in code_spans(line) {
                let code = code.trim_start_matches("super::");
                if let Some(why) = unresolved(code, &[parent, &module]) {
                    broken.push(format!("{}:{}: `{code}`: {why}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(broken.is_empty(), "module docs name what is not there:\n{}", broken.join("\n"));
}

#[test]
fn no_page_sends_a_reader_to_an_issue_number() {
    for (page, text) in pages() {
        for (number, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let issue = lower.match_indices("issue").any(|(at, word)| {
                let rest = lower[at + word.len()..].trim_start_matches(['s', ' ', '#']);
                rest.starts_with(|c: char| c.is_ascii_digit())
            });
            assert!(!issue, "{}:{}: names an issue number: {line}", page.display(), number + 1);
        }
    }
}

#[test]
fn the_readme_is_short() {
    let lines =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap().lines().count();
    assert!(
        lines < 300,
        "README.md has {lines} lines: keep it to what it is, set-up, a tour and the map; docs/ for the rest"
    );
}
