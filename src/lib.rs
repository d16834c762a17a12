//! photoshare: a GraphQL photo-sharing service. Uploads go straight to S3 through presigned POSTs; photos
//! and their records live in DynamoDB + S3, or in an embedded store on local disk.

pub mod app;
pub mod aws;
pub mod blob;
pub mod caller;
pub mod catalog;
pub mod config;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod image;
pub mod metrics;
pub mod search;
pub mod shares;
pub mod state;
pub mod table;
pub mod telemetry;
pub mod text;
pub mod uploads;
