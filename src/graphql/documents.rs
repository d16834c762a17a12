//! Documents parsed (and their costs counted) before, kept by query text: clients send the same few queries
//! over and over, and parsing one cost a fifteenth of a gallery request's CPU time. The cache is bounded by
//! what its documents weigh in memory, not by their number: a parsed document takes a few hundred bytes per
//! selection, so 256 documents of 985 fields each (3 KB of text apiece) had grown the process by 85 MiB.
//! Each document weighs its text plus `NODE_BYTES` per field and spread (counted with fragments expanded, an
//! estimate from above), and all of them together at most `CAPACITY_BYTES`. S3-FIFO eviction keeps the hot
//! ones while one-off documents, large or small, pass through.

use std::sync::Arc;

use super::Parsed;

/// What all kept documents weigh together, at most: a few hundred everyday documents (a gallery page's is
/// about 15 KB), or a dozen of the largest the limits allow.
const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
/// Documents a full cache holds, about (for its tables' first size).
const ESTIMATED_DOCUMENTS: usize = 256;
/// Memory one field or spread of a parsed document takes, about: its node (name, arguments, directives,
/// selection set, positions), its name's allocation, room left in the vectors, and its entry in `unkept`.
/// Measured: 256 documents of 985 fields took 85 MiB, 345 bytes per field.
const NODE_BYTES: u64 = 384;
/// Longer texts are never kept (GraphiQL's introspection is 1.5 KB): their parse is paid each time.
const CACHED_QUERY_BYTES: usize = 8 * 1024;
/// Fewer shards than quick_cache's default (four per core): each holds a quarter of the capacity, so even
/// the heaviest document the limits allow (about 400 KB) fits in its shard on a machine of many cores.
const SHARDS: usize = 4;

pub(super) struct Documents(quick_cache::sync::Cache<String, Arc<Parsed>, Weight>);

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<String, Arc<Parsed>> for Weight {
    fn weight(&self, query: &String, parsed: &Arc<Parsed>) -> u64 {
        let nodes = parsed.cost.fields.saturating_add(parsed.cost.spreads);
        (query.len() as u64).saturating_add(nodes.saturating_mul(NODE_BYTES))
    }
}

impl Documents {
    pub fn new() -> Self {
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(ESTIMATED_DOCUMENTS)
            .weight_capacity(CAPACITY_BYTES)
            .shards(SHARDS)
            .build()
            .unwrap_or_else(|_| unreachable!("both required options are set"));
        Self(quick_cache::sync::Cache::with_options(options, Weight, Default::default(), Default::default()))
    }

    pub fn get(&self, query: &str) -> Option<Arc<Parsed>> {
        self.0.get(query)
    }

    pub fn contains(&self, query: &str) -> bool {
        self.0.contains_key(query)
    }

    /// Keeps `parsed` for `query`, unless the text is over `CACHED_QUERY_BYTES`.
    pub fn keep(&self, query: String, parsed: Arc<Parsed>) {
        if query.len() <= CACHED_QUERY_BYTES {
            self.0.insert(query, parsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Arc<Parsed> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let cost = super::super::limits::check_document(&document).unwrap();
        let unkept = Arc::new(super::super::photo_answers::unkept_fields(&document));
        Arc::new(Parsed { id: 0, document, cost, caller_fields: false, unkept })
    }

    /// A document of 985 fields, 3 KB of text.
    fn wide(n: usize) -> String {
        let fields: Vec<String> = (0..984).map(|field| format!("f{}", field % 10)).collect();
        format!("query Wide{n} {{ photos {{ nodes {{ {} }} }} }}", fields.join(" "))
    }

    #[test]
    fn large_documents_weigh_what_they_hold_and_everyday_ones_stay() {
        let documents = Documents::new();
        let everyday = "query Gallery($after: String) { photos(first: 20, after: $after) { nodes { id name \
                        description uploadedAt status commentCount thumbnailUrl comments(first: 3) { nodes { id \
                        body createdAt } } } pageInfo { endCursor hasNextPage } } }";
        documents.keep(everyday.to_string(), parsed(everyday));
        for _ in 0..3 {
            assert!(documents.get(everyday).is_some(), "an everyday document is kept");
        }

        let large = parsed(&wide(0));
        assert!(large.cost.fields >= 985, "{:?}", large.cost);
        for n in 0..256 {
            documents.keep(wide(n), large.clone());
            assert!(documents.0.weight() <= CAPACITY_BYTES, "after {n}: {} bytes", documents.0.weight());
        }
        let kept = documents.0.len();
        assert!(kept < 20, "{kept} documents of 985 fields kept: 256 used to be");
        assert!(kept >= 4, "a few large documents still fit: {kept}");

        // (A flood of the heaviest documents may push the everyday one out: it is parsed and kept again.)
        documents.keep(everyday.to_string(), parsed(everyday));
        assert!(documents.get(everyday).is_some(), "kept again after the flood");
        for n in 0..200 {
            let small = format!("query Small{n} {{ photo(id: \"{n}\") {{ id name }} }}");
            documents.keep(small.clone(), parsed(&small));
        }
        assert!(documents.0.len() > 150, "small documents are kept by the hundred: {}", documents.0.len());
    }
}
