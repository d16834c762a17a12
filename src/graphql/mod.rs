//! The GraphQL API: one function builds the schema for the server, the tests and `photoshare schema`.
//! Roots are merged from one module per area.

mod cacheable;
mod comments;
mod context;
mod contract;
mod documents;
mod images;
mod json;
mod limits;
mod loaders;
mod observe;
pub mod over_http;
mod persisted;
mod photo_answers;
mod photos;
mod rate_limit;
mod response_cache;
mod shares;
mod subscriptions;
mod uploads;
mod validated;

use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{MergedObject, Schema, SchemaBuilder};

use crate::domain::caller::Caller;
use crate::domain::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::telemetry;
use context::{caller, client_ip, hold, parse_id, photo_loader, services, state};
pub use limits::{INTROSPECTION_QUERY, fragment_bomb};
use loaders::new_photo_loader;
pub use loaders::{PhotoLoader, connection_data, request_data};

use response_cache::ResponseCache;

#[derive(MergedObject, Default)]
pub struct Query(photos::PhotoQuery, shares::ShareQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(uploads::UploadMutation, photos::PhotoMutation, comments::CommentMutation, shares::ShareMutation);

pub use subscriptions::Subscription;

pub type PhotoSchema = Schema<Query, Mutation, Subscription>;

/// The schema without backends: enough for its SDL. Limits apply to every request, before execution.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(limits::MAX_DEPTH)
        .limit_complexity(limits::MAX_COMPLEXITY)
        .limit_directives(limits::MAX_DIRECTIVES)
}

/// The API as the HTTP and WebSocket layers run it: the schema, behind what every operation passes first
/// (the alias limit, the deadline) and what every query and mutation records (metrics). These are not
/// async-graphql extensions on purpose: with any extension, every field of a response resolves through a
/// chain of boxed futures (a gallery page took 40% more CPU time).
/// Cloned for every request (axum's state, a spawned execution): one reference count, not one per part.
#[derive(Clone)]
pub struct Api(Arc<Parts>);

pub struct Parts {
    schemas: Arc<validated::Schemas>,
    state: Arc<AppState>,
    documents: Arc<documents::Documents>,
    answers: Arc<ResponseCache>,
    persisted: Arc<persisted::PersistedQueries>,
    /// Heavy documents being validated and run at once: at most one per core.
    heavy: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for Api {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// A document parsed and checked once, kept by query text (`documents`).
struct Parsed {
    /// Unique in this process: what `photo_answers` keys by.
    id: u64,
    document: ExecutableDocument,
    cost: limits::Cost,
    /// Whether it asks for a field whose value depends on the caller (`cacheable::asks_for_caller_fields`).
    caller_fields: bool,
    /// The fields whose answers `photo_answers` may not keep (`photo_answers::unkept_fields`).
    unkept: Arc<std::collections::HashSet<async_graphql::Pos>>,
}

/// What `admit` found out about a request it lets run.
struct Admitted {
    /// The kept document the request runs, unless it was parsed into the request itself: set on the request
    /// only when it executes (`prepared`), so an answer from the response cache copies no document.
    document: Option<Arc<Parsed>>,
    /// What a query asks of that document, when it is kept: for `validated` and `photo_answers`.
    asked: Option<validated::Asked>,
    /// The root field, for metrics.
    operation: &'static str,
    /// Where its answer is kept, if it may be.
    cache_key: Option<cacheable::Key>,
    /// Validating it takes long enough to run off the runtime's workers (see `HEAVY_FIELDS`).
    heavy: bool,
    /// Query, mutation or subscription (over the WebSocket: a stream of answers, not one answer within the
    /// deadline; over HTTP GET: refused).
    kind: OperationType,
    /// Its answer depends on the stored photos alone (`cacheable::is_cacheable`): shared caches may keep it.
    public: bool,
}

/// Documents selecting more fields than this (once expanded), or longer than `HEAVY_BYTES`, are validated and
/// run on the blocking pool, a few at a time: async-graphql validates a document in one go, without yielding,
/// and the largest documents within the limits take milliseconds, which on a runtime worker would hold up every
/// other request scheduled there. GraphiQL's introspection (181 fields) is one of them; the playground's
/// queries (under 40) and a gallery page are not.
const HEAVY_FIELDS: u64 = 100;
const HEAVY_BYTES: usize = 4 * 1024;

impl Api {
    pub fn new(state: Arc<AppState>) -> Self {
        let answers = Arc::new(ResponseCache::new(state.api.query_cache));
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let heavy = Arc::new(tokio::sync::Semaphore::new(cores));
        let documents = Arc::new(documents::Documents::new());
        let photo_answers = Arc::new(photo_answers::PhotoAnswers::new());
        let schemas = Arc::new(validated::Schemas::new(state.clone(), photo_answers));
        Self(Arc::new(Parts { schemas, state, documents, answers, persisted: Arc::default(), heavy }))
    }

    /// Parse a long document not seen before on the blocking pool, a few at a time (parsing costs about a
    /// third of a microsecond per byte): `admit` then finds it parsed.
    async fn parse_off_runtime(&self, request: &mut async_graphql::Request) -> Result<(), async_graphql::ServerError> {
        if self.documents.contains(request.query.as_str()) {
            return Ok(());
        }
        limits::check_text(&request.query)?;
        let internal = || async_graphql::ServerError::new("internal error", None);
        // The turn goes with the work, so it is given back when the parse ends, not when its caller gives up.
        let turn = self.heavy.clone().acquire_owned().await.map_err(|_| internal())?;
        let query = request.query.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            async_graphql::parser::parse_query(query)
        });
        request.set_parsed_query(parsed.await.map_err(|_| internal())??);
        Ok(())
    }

    /// Execute an admitted request within the request deadline; a heavy one on the blocking pool (the wait for
    /// a turn counts towards the deadline). `json` writes its answer when it is `spliced`.
    async fn run(
        &self,
        admitted: &Admitted,
        request: async_graphql::Request,
        spliced: bool,
    ) -> async_graphql::Response {
        let deadline = self.state.api.request_timeout;
        let execution = async {
            let request = admitted.prepared(request, spliced);
            let schema = self.schemas.to_run(admitted.asked);
            if !admitted.heavy {
                return Ok(schema.execute(request).await);
            }
            // The turn goes with the work: a request cut off at the deadline keeps it until its execution ends,
            // so no more than one heavy document per core ever runs at once.
            let turn = self.heavy.clone().acquire_owned().await.map_err(|_| anyhow::anyhow!("semaphore closed"))?;
            let (schema, runtime) = (schema.clone(), tokio::runtime::Handle::current());
            tokio::task::spawn_blocking(move || {
                let _turn = turn;
                runtime.block_on(schema.execute(request))
            })
            .await
            .map_err(|e| anyhow::anyhow!("a heavy document's execution failed: {e}"))
        };
        match tokio::time::timeout(deadline, execution).await {
            Ok(Ok(response)) => {
                self.schemas.ran(admitted.asked, &response);
                with_codes(response)
            }
            Ok(Err(cause)) => error_response(ApiError::Internal(cause)),
            Err(_) => {
                tracing::warn!(operation = admitted.operation, ?deadline, "request timed out");
                error_response(ApiError::TimedOut { deadline, operation: admitted.operation })
            }
        }
    }

    /// Record the request's root field, outcome and time in the metrics.
    fn record(&self, operation: &'static str, started: std::time::Instant, response: &async_graphql::Response) {
        let outcome = observe::outcome(response);
        telemetry::record_outcome(outcome);
        self.state.metrics.record_request(operation, outcome, started.elapsed().as_secs_f64());
    }

    /// Parses the document (or takes it from the cache; execution reuses it) and checks the limits
    /// async-graphql does not, before it validates anything (`limits::check_document`): the root field the
    /// operation asks for, for metrics, or the error that refuses it.
    fn admit(&self, request: &mut async_graphql::Request) -> Result<Admitted, async_graphql::ServerError> {
        let (parsed, kept) = match self.documents.get(request.query.as_str()) {
            Some(parsed) => (parsed, true),
            None => {
                limits::check_text(&request.query)?;
                let query = request.query.clone();
                let document = request.parsed_query()?;
                let cost = limits::check_document(document)?;
                let caller_fields = cacheable::asks_for_caller_fields(document);
                let unkept = Arc::new(photo_answers::unkept_fields(document));
                static DOCUMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let id = DOCUMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let parsed = Arc::new(Parsed { id, document: document.clone(), cost, caller_fields, unkept });
                self.documents.keep(query, parsed.clone());
                (parsed, false)
            }
        };
        let heavy = parsed.cost.fields > HEAVY_FIELDS || request.query.len() > HEAVY_BYTES;
        let selected = observe::selected(&parsed.document, request.operation_name.as_deref());
        limits::required_variables(selected, &request.variables)?;
        let (operation, kind) = (observe::root_field(selected), observe::operation_type(selected));
        let kind_name = match kind {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        telemetry::record_operation(kind_name, operation, request.operation_name.as_deref());
        let public = cacheable::is_cacheable(selected, parsed.caller_fields);
        let cached = self.answers.enabled() && public;
        let cache_key = cached.then(|| cacheable::Key::new(request, &request.variables)).flatten();
        let variables = cache_key.as_ref().map(cacheable::Key::variables);
        Ok(Admitted {
            // Mutations are left out: each one's variables are new (a body, a client id).
            asked: (kept && kind == OperationType::Query).then(|| self.schemas.asked(parsed.id, request, variables)),
            cache_key,
            document: kept.then_some(parsed),
            operation,
            heavy,
            kind,
            public,
        })
    }
}

impl Admitted {
    /// `request`, ready to execute: with its document, and for a query that may keep its photo answers (when
    /// `json` writes the answer: `spliced`), its selection (`photo_answers`).
    fn prepared(&self, mut request: async_graphql::Request, spliced: bool) -> async_graphql::Request {
        if let Some(parsed) = &self.document {
            request.set_parsed_query(parsed.document.clone());
            let keeps = spliced && self.kind == OperationType::Query && !parsed.caller_fields;
            if let Some(asked) = self.asked.filter(|_| keeps) {
                request = request.data(photo_answers::Selection::new(asked, &parsed.unkept));
            }
        }
        request
    }
}

/// The response to a request refused before it ran.
fn refused(error: async_graphql::ServerError) -> async_graphql::Response {
    with_codes(async_graphql::Response::from_errors(vec![error]))
}

/// What async-graphql's WebSocket protocol runs: it writes the answers itself (serde), so no kept photo
/// answers are spliced into them (`photo_answers`).
impl async_graphql::Executor for Api {
    async fn execute(&self, mut request: async_graphql::Request) -> async_graphql::Response {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        async {
            let admitted = refuse_malformed_key(&request.data).and_then(|()| self.admit(&mut request));
            let (operation, response) = match admitted {
                Err(error) => ("invalid", refused(error)),
                Ok(admitted) => (admitted.operation, self.run(&admitted, request, false).await),
            };
            self.record(operation, started, &response);
            response
        }
        .instrument(telemetry::operation_span(None))
        .await
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        use futures_util::StreamExt;
        let started = std::time::Instant::now();
        // Over the WebSocket the caller is the connection's (its key from `connection_init`, or the upgrade's).
        let caller_data = session_data.as_deref().unwrap_or(&request.data);
        let admitted = match refuse_malformed_key(caller_data).and_then(|()| self.admit(&mut request)) {
            Ok(admitted) => admitted,
            Err(error) => {
                let response = refused(error);
                self.record("invalid", started, &response);
                return futures_util::stream::once(std::future::ready(response)).boxed();
            }
        };
        // A loader of its own, as over HTTP; a subscription's lives as long as its stream, so it keeps nothing.
        let loader = new_photo_loader(&self.state);
        loader.enable_all_cache(admitted.kind != OperationType::Subscription);
        let request = admitted.prepared(request, false).data(loader);
        let answers = self.schemas.strict.execute_stream_with_session_data(request, session_data.unwrap_or_default());
        if admitted.kind == OperationType::Subscription {
            return answers.map(with_codes).boxed();
        }
        // A query or mutation over the socket: one answer, within the deadline, recorded like one over HTTP.
        let (api, deadline) = (self.clone(), self.state.api.request_timeout);
        futures_util::stream::once(async move {
            let response = match tokio::time::timeout(deadline, answers.into_future()).await {
                Ok((Some(response), _)) => with_codes(response),
                Ok((None, _)) => error_response(ApiError::Internal(anyhow::anyhow!("an operation gave no answer"))),
                Err(_) => {
                    tracing::warn!(operation = admitted.operation, ?deadline, "request over the WebSocket timed out");
                    error_response(ApiError::TimedOut { deadline, operation: admitted.operation })
                }
            };
            api.record(admitted.operation, started, &response);
            response
        })
        .boxed()
    }
}

/// The SDL clients depend on (checked in as `schema.graphql`).
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// `UNAUTHENTICATED` when the caller in `data` sent an `Authorization` that is not an owner key: every
/// operation is refused, not only those that need a key, so a client with a broken key finds out at once.
fn refuse_malformed_key(data: &async_graphql::Data) -> Result<(), async_graphql::ServerError> {
    let caller = data.get(&std::any::TypeId::of::<Caller>()).and_then(|caller| caller.downcast_ref::<Caller>());
    match caller.map(Caller::owner) {
        Some(Err(error)) => Err(async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default())),
        _ => Ok(()),
    }
}

/// A response of one error, for a request that was refused before it ran.
fn error_response(error: crate::domain::error::ApiError) -> async_graphql::Response {
    let mut error = async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default());
    error.locations.clear();
    async_graphql::Response::from_errors(vec![error])
}

/// Errors async-graphql raises itself (syntax, validation, input values it cannot parse) are the client's to
/// fix: give them the `BAD_USER_INPUT` code, so every error a client sees has one.
pub fn with_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::BadUserInput.as_str());
            // The only `DateTime` inputs; async-graphql names the type, not the field.
            if error.message.starts_with("Failed to parse \"DateTime\"") {
                error.message.push_str(
                    ": uploadedFrom and uploadedTo take an RFC 3339 time with an offset, e.g. 2026-11-28T18:00:00+08:00",
                );
            }
        }
    }
    response
}
