//! MCP sessions belong to the token that opened them. A request naming a session
//! (`Mcp-Session-Id`) with another token gets 404, as for a session that does not exist:
//! tool calls, answers to approval prompts, the standing event stream, and DELETE (at warn
//! when the session is another token's). Each token may hold a bounded number of sessions:
//! whether a request opens one is decided on its parsed message, and a session rmcp opens
//! without a slot reserved is closed.

use super::auth::Caller;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::RoleServer;
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The header naming a session (streamable HTTP).
pub const SESSION_HEADER: &str = "mcp-session-id";

/// Whether an MCP request came over HTTP outside any session: a 2026-07-28 request (that
/// revision has no sessions), which rmcp serves on a server value of its own, so nothing the
/// call sets on its session outlives it. False over stdio, whose one connection is the session.
pub fn sessionless(context: &RequestContext<RoleServer>) -> bool {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .is_some_and(|parts| !parts.headers.contains_key(SESSION_HEADER))
}

/// Default number of live sessions one token may hold.
pub const DEFAULT_MAX_SESSIONS_PER_TOKEN: usize = 64;

/// Which token opened which session.
pub struct Sessions {
    owners: Mutex<HashMap<String, Arc<str>>>,
    /// Sessions each token is opening (an initialize on its way): counted with the ones it
    /// holds, so concurrent initializes cannot pass the limit together.
    opening: Mutex<HashMap<Arc<str>, usize>>,
    manager: Arc<LocalSessionManager>,
    per_token: usize,
    /// The largest request body (`--max-body-bytes`): a POST's body is read whole here, to
    /// see whether it opens a session and which id it holds.
    max_body_bytes: usize,
}

/// The JSON-RPC ids each session has in flight, counted by who holds them: the HTTP request
/// until its answer's stream ends, and the tool call until its handler returns (it goes on
/// when the client hangs up). rmcp routes an answer to an HTTP request by its id: a second
/// request with the id of one still in flight took its route, so one of them got the other's
/// answer. A reused id is refused instead. Session ids are unique in the process.
static IN_FLIGHT: std::sync::LazyLock<Mutex<HashMap<(String, String), usize>>> =
    std::sync::LazyLock::new(Default::default);

fn in_flight() -> std::sync::MutexGuard<'static, HashMap<(String, String), usize>> {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key of a JSON-RPC id as rmcp compares them: `8`, `8.0` and `8e0` are one id, `"8"`
/// another.
fn id_key(id: &rmcp::model::RequestId) -> String {
    match id {
        rmcp::model::NumberOrString::Number(n) => n.to_string(),
        rmcp::model::NumberOrString::String(s) => serde_json::to_string(&**s).unwrap_or_default(),
    }
}

/// A hold on one id of a session, given back when dropped.
pub struct HeldId(Option<(String, String)>);

impl HeldId {
    /// Hold `id` in `session`, whoever else holds it.
    fn hold(session: &str, id: String) -> HeldId {
        let key = (session.to_string(), id);
        *in_flight().entry(key.clone()).or_default() += 1;
        HeldId(Some(key))
    }

    /// Hold `id` in `session` when nobody holds it yet.
    fn take_free(session: &str, id: String) -> Option<HeldId> {
        let key = (session.to_string(), id);
        let mut held = in_flight();
        let count = held.entry(key.clone()).or_default();
        if *count > 0 {
            return None;
        }
        *count += 1;
        Some(HeldId(Some(key)))
    }
}

impl Drop for HeldId {
    fn drop(&mut self) {
        let Some(key) = self.0.take() else { return };
        let mut held = in_flight();
        if let Some(count) = held.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&key);
            }
        }
    }
}

/// The hold a tool call of a session keeps on its id while its handler runs (none over
/// stdio or without a session).
pub fn hold_while_running(context: &RequestContext<RoleServer>) -> HeldId {
    let session = context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.headers.get(SESSION_HEADER))
        .and_then(|v| v.to_str().ok());
    match session {
        Some(session) => HeldId::hold(session, id_key(&context.id)),
        None => HeldId(None),
    }
}

impl Sessions {
    pub fn new(
        manager: Arc<LocalSessionManager>,
        per_token: usize,
        max_body_bytes: usize,
    ) -> Sessions {
        Sessions {
            owners: Mutex::new(HashMap::new()),
            opening: Mutex::new(HashMap::new()),
            manager,
            per_token,
            max_body_bytes,
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<str>>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn opening(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, usize>> {
        self.opening.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a new session of `caller`, or how many it holds when there is none.
    async fn reserve(self: &Arc<Self>, caller: &Arc<str>) -> Result<Opening, usize> {
        let held = self.held_by(caller).await;
        let mut opening = self.opening();
        let pending = opening.entry(caller.clone()).or_default();
        if held + *pending >= self.per_token {
            return Err(held + *pending);
        }
        *pending += 1;
        Ok(Opening {
            sessions: self.clone(),
            caller: caller.clone(),
        })
    }

    /// Forget sessions rmcp has ended (idle timeout, closed by the client).
    async fn prune(&self) {
        let live = self.manager.sessions.read().await;
        self.owners().retain(|id, _| live.contains_key(id.as_str()));
    }

    async fn held_by(&self, caller: &str) -> usize {
        self.prune().await;
        self.owners().values().filter(|o| &***o == caller).count()
    }
}

/// The id of a JSON-RPC request (a message with a `method` and an `id`), keyed as rmcp
/// compares ids; `None` for notifications and responses.
fn request_id(message: &crate::jsonrpc::Message) -> Option<String> {
    message.method.as_ref()?;
    let id = serde_json::from_value::<rmcp::model::RequestId>(message.id.clone()?).ok()?;
    Some(id_key(&id))
}

/// Whether a message is an MCP `initialize` (the one request that opens a session). Decided
/// on the parsed message, so an escaped name (`"initial\u0069ze"`) is one too.
fn is_initialize(message: &crate::jsonrpc::Message) -> bool {
    message.method.as_deref() == Some("initialize")
}

/// 400 with the JSON-RPC error for a request whose id is that of one still being answered.
fn id_in_use(id: &str) -> Response {
    super::json_rpc_error(
        StatusCode::BAD_REQUEST,
        serde_json::from_str(id).unwrap_or(serde_json::Value::Null),
        -32600,
        format!(
            "Invalid Request: id {id} is the id of a request of this session that is still being answered; give each request an id of its own"
        ),
    )
}

/// A session being opened; its slot is given back when the initialize is answered (the new
/// session then counts among those the token holds) or abandoned.
struct Opening {
    sessions: Arc<Sessions>,
    caller: Arc<str>,
}

impl Drop for Opening {
    fn drop(&mut self) {
        let mut opening = self.sessions.opening();
        if let Some(n) = opening.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                opening.remove(&self.caller);
            }
        }
    }
}

/// 404 for a session that does not exist or belongs to another token: the two look the same.
fn no_such_session() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not Found: no such session (start a new one with initialize)\n",
    )
        .into_response()
}

fn too_many_sessions(held: usize) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "Too Many Requests: this token already holds {held} MCP sessions (the maximum, --max-sessions-per-token); end one with DELETE /mcp and its Mcp-Session-Id, or wait for an idle one to expire\n"
        ),
    )
        .into_response()
}

/// Middleware (inside the bearer check, which sets [`Caller`]): only the owning token reaches
/// a session; a new session is refused when the token holds its maximum. A POST's body is
/// read here, within the body timeout and limit, and checked as a JSON-RPC message
/// ([`super::body`]).
pub async fn bind_to_token(
    State(sessions): State<Arc<Sessions>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().map(|c| c.0.clone()) else {
        return no_such_session();
    };
    let named = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(id) = &named {
        let owner = sessions.owners().get(id).cloned();
        match owner {
            Some(owner) if owner == caller => {}
            Some(owner) => {
                // A valid token naming a session it did not open: a session id that leaked,
                // or a shared client misconfigured. Neither the token nor the id is logged.
                tracing::warn!(caller = %caller, owner = %owner, "refused a request for a session another token opened (404)");
                return no_such_session();
            }
            None => {
                tracing::debug!(caller = %caller, "refused a request for a session that does not exist (any more)");
                return no_such_session();
            }
        }
    }
    let (request, message) = if request.method() == Method::POST {
        match super::body::read(request, sessions.max_body_bytes).await {
            Ok(read) => read,
            Err(answer) => return answer,
        }
    } else {
        (request, None)
    };
    match named {
        Some(id) => {
            let closing = request.method() == Method::DELETE;
            let mut held = None;
            if let Some(request_id) = message.as_ref().and_then(request_id) {
                match HeldId::take_free(&id, request_id.clone()) {
                    Some(h) => held = Some(h),
                    None => {
                        tracing::debug!(caller = %caller, id = %request_id, "refused a request whose id is in flight");
                        return id_in_use(&request_id);
                    }
                }
            }
            let response = next.run(request).await;
            if closing && response.status().is_success() {
                sessions.owners().remove(&id);
            }
            match held {
                // The id stays in flight until the answer's stream has been sent.
                Some(held) => super::held_until_sent(response, held),
                None => response,
            }
        }
        None => {
            // Only an initialize opens a session: a sessionless request (2026-07-28) and
            // anything malformed go on to be answered as they are.
            let mut slot = None;
            if message.as_ref().is_some_and(is_initialize) {
                match sessions.reserve(&caller).await {
                    Ok(opening) => slot = Some(opening),
                    Err(held) => {
                        tracing::warn!(caller = %caller, held, "refused a new MCP session: the token holds its maximum");
                        return too_many_sessions(held);
                    }
                }
            }
            let response = next.run(request).await;
            let Some(id) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
            else {
                return response;
            };
            if slot.is_none() {
                // rmcp opened a session for a message not taken for an initialize: it still
                // needs a slot, or it is closed at once.
                tracing::warn!(caller = %caller, "rmcp opened an MCP session for a request not recognised as an initialize");
                match sessions.reserve(&caller).await {
                    Ok(opening) => slot = Some(opening),
                    Err(held) => {
                        let _ = sessions.manager.close_session(&id.as_str().into()).await;
                        tracing::warn!(caller = %caller, held, "refused a new MCP session: the token holds its maximum");
                        return too_many_sessions(held);
                    }
                }
            }
            sessions.owners().insert(id, caller);
            drop(slot);
            response
        }
    }
}
