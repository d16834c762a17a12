//! The GraphQL API: one function builds the schema for the server, the tests and `photoshare schema`.
//! Roots are merged from one module per area.

mod loaders;
mod photos;
mod uploads;

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::error::ApiError;
use crate::state::AppState;
pub use loaders::PhotoLoader;

#[derive(MergedObject, Default)]
pub struct Query(photos::PhotoQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(uploads::UploadMutation);

pub type PhotoSchema = Schema<Query, Mutation, EmptySubscription>;

/// The caller's address, as the HTTP layer determined it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The schema without backends: enough for its SDL.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

pub fn build_schema(state: Arc<AppState>) -> PhotoSchema {
    schema_builder().data(state).finish()
}

/// The SDL clients depend on (checked in as `schema.graphql`).
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// Data each request carries: who is calling, and its own DataLoader (no stale cache across requests).
pub fn request_data(request: async_graphql::Request, state: &Arc<AppState>, ip: IpAddr) -> async_graphql::Request {
    let loader = DataLoader::new(PhotoLoader::new(state.catalog.clone()), tokio::spawn);
    request.data(ClientIp(ip)).data(loader)
}

fn state<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Arc<AppState>, ApiError> {
    ctx.data::<Arc<AppState>>().map_err(|e| ApiError::Internal(anyhow::anyhow!("schema built without state: {}", e.message)))
}

fn client_ip(ctx: &async_graphql::Context<'_>) -> Result<IpAddr, ApiError> {
    ctx.data::<ClientIp>()
        .map(|ip| ip.0)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request without client IP: {}", e.message)))
}

fn photo_loader<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a DataLoader<PhotoLoader>, ApiError> {
    ctx.data::<DataLoader<PhotoLoader>>()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request without photo loader: {}", e.message)))
}

/// A UUID argument, or a `BAD_USER_INPUT` naming it.
fn parse_id(argument: &str, id: &async_graphql::ID) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(id.as_str())
        .map_err(|_| ApiError::bad_input(format!("{argument} must be an id this API gave out, not {:?}", id.as_str())))
}
