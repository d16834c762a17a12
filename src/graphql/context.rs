//! What a resolver reads from its context: the state and the domain's services, the caller, the request's
//! photo loader, the answer's holdings (for the response cache), and ids parsed from arguments.

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache};

use super::{PhotoLoader, response_cache};
use crate::domain::caller::Caller;
use crate::domain::error::ApiError;
use crate::state::AppState;

pub(super) fn state<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Arc<AppState>, ApiError> {
    ctx.data::<Arc<AppState>>()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("schema built without state: {}", e.message)))
}

/// The domain's services, which resolvers hand to the domain functions they call.
pub(super) fn services<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a crate::domain::Services, ApiError> {
    Ok(&state(ctx)?.services)
}

pub(super) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Caller, ApiError> {
    ctx.data::<Caller>().map_err(|e| ApiError::Internal(anyhow::anyhow!("request without a caller: {}", e.message)))
}

pub(super) fn client_ip(ctx: &async_graphql::Context<'_>) -> Result<IpAddr, ApiError> {
    Ok(caller(ctx)?.ip)
}

/// The request's photo loader; its cache also holds every photo a listing returned, so `Comment.photo` and
/// friends cost nothing for photos already on the page.
pub(super) fn photo_loader<'a>(
    ctx: &async_graphql::Context<'a>,
) -> Result<&'a DataLoader<PhotoLoader, HashMapCache>, ApiError> {
    ctx.data::<DataLoader<PhotoLoader, HashMapCache>>()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request without photo loader: {}", e.message)))
}

/// Note that the answer holds `photos` (or looked for them): a kept answer ends when one of them changes.
pub(super) fn hold(ctx: &async_graphql::Context<'_>, photos: impl IntoIterator<Item = uuid::Uuid>) {
    if let Some(holdings) = ctx.data_opt::<Arc<response_cache::Holdings>>() {
        holdings.hold(photos);
    }
}

/// A UUID argument, or a `BAD_USER_INPUT` naming it.
pub(super) fn parse_id(argument: &str, id: &async_graphql::ID) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(id.as_str()).map_err(|_| {
        ApiError::bad_input(format!(
            "{argument} must be an id this API gave out, not {}",
            crate::text::quote(id.as_str())
        ))
    })
}
