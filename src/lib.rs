//! photoshare: a GraphQL photo-sharing service. Uploads go straight to S3 through presigned POSTs; photos
//! and their records live in DynamoDB + S3, or in an embedded store on local disk.
//!
//! Layers, each a folder, each using only those below it (`tests/api/layers.rs` checks this):
//! `http` (axum: connections, routes, WebSocket) → `graphql` (schema, resolvers, limits) → `domain` (the
//! rules: uploads, photos, comments, shares, events, callers) → `catalog` (the single-table design) → `table`,
//! `blob` and `events_engine` (DynamoDB-shaped table, S3-shaped bucket, pub/sub engine). `app` wires them at start-up
//! from `config`.

pub mod app;
pub mod aws;
pub mod blob;
pub mod catalog;
pub mod client_ip;
pub mod config;
pub mod domain;
pub mod events_engine;
pub mod graphql;
pub mod http;
pub mod image_format;
pub mod metrics;
pub mod state;
pub mod table;
pub mod telemetry;
pub mod text;
