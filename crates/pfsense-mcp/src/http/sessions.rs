//! MCP sessions belong to the token that opened them. A request naming a session
//! (`Mcp-Session-Id`) with another token gets 404, as for a session that does not exist:
//! tool calls, answers to approval prompts, the standing event stream, and DELETE. Each token
//! may hold a bounded number of sessions.

use super::auth::Caller;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::RoleServer;
use rmcp::service::RequestContext;
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
    manager: Arc<LocalSessionManager>,
    per_token: usize,
}

impl Sessions {
    pub fn new(manager: Arc<LocalSessionManager>, per_token: usize) -> Sessions {
        Sessions {
            owners: Mutex::new(HashMap::new()),
            manager,
            per_token,
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<str>>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
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

/// 404 for a session that does not exist or belongs to another token: the two look the same.
fn no_such_session() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not Found: no such session (start a new one with initialize)\n",
    )
        .into_response()
}

/// Middleware (inside the bearer check, which sets [`Caller`]): only the owning token reaches
/// a session; a new session is refused when the token holds its maximum.
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
    match named {
        Some(id) => {
            let owner = sessions.owners().get(&id).cloned();
            if owner.as_deref() != Some(&*caller) {
                tracing::debug!(caller = %caller, "refused a request for a session of another token (or none)");
                return no_such_session();
            }
            let closing = request.method() == Method::DELETE;
            let response = next.run(request).await;
            if closing && response.status().is_success() {
                sessions.owners().remove(&id);
            }
            response
        }
        None => {
            if request.method() == Method::POST {
                let held = sessions.held_by(&caller).await;
                if held >= sessions.per_token {
                    tracing::warn!(caller = %caller, held, "refused a new MCP session: the token holds its maximum");
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        format!(
                            "Too Many Requests: this token already holds {held} MCP sessions (the maximum, --max-sessions-per-token); end one with DELETE /mcp and its Mcp-Session-Id, or wait for an idle one to expire\n"
                        ),
                    )
                        .into_response();
                }
            }
            let response = next.run(request).await;
            if let Some(id) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                sessions.owners().insert(id.to_string(), caller);
            }
            response
        }
    }
}
