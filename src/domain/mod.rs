//! The rules of photoshare, between the API (`graphql`, `http`) and storage (`catalog`, `blob`): what makes
//! an upload a photo, a comment acceptable, a share link valid, who a caller is, what is published to
//! subscribers. Functions here take the `Services` they use, never the API's state (its rate limiter and
//! metrics are the API's business).

pub mod caller;
pub mod error;
pub mod events;
pub mod image;
pub mod rate_limit;
pub mod shares;
pub mod text;
pub mod uploads;
