//! The integration suite: one binary, real servers over HTTP. Every behavioural test runs twice, on the
//! embedded store and on AWS mode against the DynamoDB and S3 stand-ins that `tests/run.sh` starts.

mod haproxy;
mod helpers;
mod images;
mod process;
mod ws;

mod bad_input;
mod cache;
mod comments;
mod connections;
mod docs;
mod embedded_store;
mod engine;
mod fanout;
mod faults;
mod gallery;
mod http;
mod layers;
mod lifecycle;
mod limits;
mod metrics;
mod over_http;
mod owners;
mod photo_answers;
mod proxy;
mod queue;
mod renditions;
mod schema;
mod search;
mod shares;
mod telemetry;
mod uploads;
mod ws_limits;
mod ws_reads;
