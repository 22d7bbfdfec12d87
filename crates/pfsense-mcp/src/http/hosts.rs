//! The Host and Origin allow-lists (DNS rebinding, browsers' cross-origin requests), checked
//! before the bearer token: a request a web page makes from a foreign origin, or through a
//! rebound name, is refused (403) before its token is looked at, so it cannot count towards the
//! lockout of the address it comes from (which is every local client's, on loopback).
//!
//! rmcp checks both lists again (its check is private). This one is written here to the rules
//! rmcp 3.9 matches by: host names case-insensitively and without IPv6 brackets, a port only when the entry
//! names one; origins by scheme, host and port, `:*` for any port, an entry without a port
//! matching any port (rmcp's rule for now; it plans to match only the default port), `null`
//! only when listed. Should rmcp become stricter, its own check still refuses what it refuses.

use super::limits::RejectionLog;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header, uri::Authority};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// A place a request may name: a host (the Host header), or a scheme and host (an Origin);
/// `port` None when any port will do.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl Place {
    /// Whether `seen` (a request's Host or Origin, its port filled in) is this place.
    fn admits(&self, seen: &Place) -> bool {
        self.scheme == seen.scheme
            && self.host == seen.host
            && self.port.is_none_or(|p| seen.port == Some(p))
    }
}

/// Host names compare case-insensitively and without an IPv6 address's brackets.
fn bare_host(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

/// A Host header's (or `:authority`'s) place: its port only as written.
fn host_place(authority: &Authority) -> Place {
    Place {
        scheme: None,
        host: bare_host(authority.host()),
        port: authority.port_u16(),
    }
}

/// An origin: `null`, or a scheme and host. A request's ([`seen_origin`]) has its port filled
/// in with the scheme's default when it leaves it out (RFC 6454); an allowed one
/// ([`parse_allowed_origin`]) has none when any port will do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    At(Place),
}

/// An Origin header's value, its port filled in; None when it is no origin.
fn seen_origin(value: &str) -> Option<Origin> {
    written_origin(value).map(|origin| match origin {
        Origin::At(mut place) => {
            place.port = place.port.or(match place.scheme.as_deref() {
                Some("http") => Some(80),
                Some("https") => Some(443),
                _ => None,
            });
            Origin::At(place)
        }
        null => null,
    })
}

/// `null`, or `scheme://host[:port]` with the port only as written.
fn written_origin(value: &str) -> Option<Origin> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("null") {
        return Some(Origin::Null);
    }
    let uri = Uri::try_from(value).ok()?;
    let authority = uri.authority()?;
    Some(Origin::At(Place {
        scheme: Some(uri.scheme_str()?.to_ascii_lowercase()),
        host: bare_host(authority.host()),
        port: authority.port_u16(),
    }))
}

/// A configured origin: `null`, `scheme://host` (any port), `scheme://host:port`, or
/// `scheme://host:*` (any port); None for what is none of them (`null:*`, a port and `:*`).
fn parse_allowed_origin(value: &str) -> Option<Origin> {
    match value.trim().strip_suffix(":*") {
        Some(base) => match written_origin(base)? {
            Origin::At(place) if place.port.is_none() => Some(Origin::At(place)),
            _ => None,
        },
        None => written_origin(value),
    }
}

/// The accepted hosts and origins, and the log lines of the requests refused for them.
pub struct AllowLists {
    hosts: Vec<Place>,
    origins: Vec<Origin>,
    pub rejections: RejectionLog,
}

impl AllowLists {
    /// From the lists the server was configured with (`allow_lists` in the module above).
    pub fn new(hosts: &[String], origins: &[String]) -> AllowLists {
        let hosts = hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .map(|h| match Authority::try_from(h) {
                Ok(a) => host_place(&a),
                Err(_) => Place {
                    scheme: None,
                    host: bare_host(h),
                    port: None,
                },
            })
            .collect();
        let origins = origins
            .iter()
            .filter_map(|o| parse_allowed_origin(o))
            .collect();
        AllowLists {
            hosts,
            origins,
            rejections: RejectionLog::new(
                "refused requests with a Host or Origin that is not allowed",
            ),
        }
    }

    fn host_allowed(&self, host: &Place) -> bool {
        self.hosts.iter().any(|a| a.admits(host))
    }

    fn origin_allowed(&self, origin: &Origin) -> bool {
        self.origins.iter().any(|a| match (a, origin) {
            (Origin::Null, Origin::Null) => true,
            (Origin::At(allowed), Origin::At(seen)) => allowed.admits(seen),
            _ => false,
        })
    }

    /// `None` when the request's Host and Origin are accepted, else the answer and what to log.
    fn refusal(&self, uri: &Uri, headers: &HeaderMap) -> Option<(StatusCode, &'static str)> {
        let host = match headers.get(header::HOST) {
            Some(value) => {
                let Ok(text) = value.to_str() else {
                    return Some((
                        StatusCode::BAD_REQUEST,
                        "Bad Request: Invalid Host header encoding",
                    ));
                };
                match Authority::try_from(text) {
                    Ok(a) => host_place(&a),
                    Err(_) => {
                        return Some((StatusCode::BAD_REQUEST, "Bad Request: Invalid Host header"));
                    }
                }
            }
            // HTTP/2 carries the host in `:authority`.
            None => match uri.authority() {
                Some(a) => host_place(a),
                None => return Some((StatusCode::BAD_REQUEST, "Bad Request: missing Host header")),
            },
        };
        if !self.host_allowed(&host) {
            return Some((
                StatusCode::FORBIDDEN,
                "Forbidden: Host header is not allowed",
            ));
        }
        let origin = headers.get(header::ORIGIN)?;
        let Ok(text) = origin.to_str() else {
            return Some((
                StatusCode::FORBIDDEN,
                "Forbidden: Invalid Origin header encoding",
            ));
        };
        match seen_origin(text) {
            None => Some((StatusCode::FORBIDDEN, "Forbidden: Invalid Origin header")),
            Some(o) if !self.origin_allowed(&o) => Some((
                StatusCode::FORBIDDEN,
                "Forbidden: Origin header is not allowed",
            )),
            Some(_) => None,
        }
    }
}

/// Middleware (outside the bearer check): 403 for a Host or Origin not on the lists (400 for
/// one that cannot be read), as rmcp answers them, before the token is looked at.
pub async fn require_allowed_host_and_origin(
    State(lists): State<Arc<AllowLists>>,
    request: Request,
    next: Next,
) -> Response {
    let Some((status, text)) = lists.refusal(request.uri(), request.headers()) else {
        return next.run(request).await;
    };
    let ip = request
        .extensions()
        .get::<super::limits::ConnInfo>()
        .map(|c| c.peer.ip());
    if lists.rejections.should_log(ip, std::time::Instant::now()) {
        let shown = |name| {
            request.headers().get(name).map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .take(100)
                    .collect::<String>()
            })
        };
        tracing::warn!(
            ip = %ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
            host = ?shown(header::HOST),
            origin = ?shown(header::ORIGIN),
            "refused a request whose Host or Origin is not allowed (DNS rebinding or a web page of another site?); more from this address within a minute are counted, not logged"
        );
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> AllowLists {
        AllowLists::new(
            &[
                "localhost:8787".into(),
                "127.0.0.1:8787".into(),
                "[::1]:8787".into(),
                "mcp.example.net".into(),
            ],
            &[
                "http://localhost:8787".into(),
                "https://app.example.net".into(),
                "http://dev.example.net:*".into(),
                "https://port.example.net:443".into(),
            ],
        )
    }

    fn check(host: &str, origin: Option<&str>) -> Option<StatusCode> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            headers.insert(header::ORIGIN, o.parse().unwrap());
        }
        lists()
            .refusal(&Uri::from_static("/mcp"), &headers)
            .map(|(s, _)| s)
    }

    #[test]
    fn hosts_match_as_rmcp_matches_them() {
        assert_eq!(check("localhost:8787", None), None);
        assert_eq!(check("LOCALHOST:8787", None), None);
        assert_eq!(check("[::1]:8787", None), None);
        assert_eq!(
            check("mcp.example.net:9999", None),
            None,
            "entry without port"
        );
        assert_eq!(check("localhost:8788", None), Some(StatusCode::FORBIDDEN));
        assert_eq!(check("localhost", None), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            check("evil.example:8787", None),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(check("a b", None), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn origins_match_as_rmcp_matches_them() {
        let ok = "localhost:8787";
        assert_eq!(check(ok, Some("http://localhost:8787")), None);
        assert_eq!(check(ok, Some("https://app.example.net:8443")), None);
        assert_eq!(check(ok, Some("http://dev.example.net:3000")), None);
        assert_eq!(check(ok, Some("https://port.example.net")), None);
        let forbidden = Some(StatusCode::FORBIDDEN);
        assert_eq!(check(ok, Some("https://localhost:8787")), forbidden);
        assert_eq!(check(ok, Some("http://evil.example")), forbidden);
        assert_eq!(check(ok, Some("null")), forbidden);
        assert_eq!(check(ok, Some("not an origin")), forbidden);
        // What rmcp refuses to read as an allowed origin matches nothing.
        assert_eq!(parse_allowed_origin("https://a.example:443:*"), None);
        assert_eq!(parse_allowed_origin("null:*"), None);
        assert_eq!(
            parse_allowed_origin("null"),
            Some(Origin::Null),
            "null when listed"
        );
    }
}
