//! A POST's body, read whole before anything looks at it: within [`super::BODY_TIMEOUT`] of
//! when reading starts (a client that stalls or drips its body gets 408 and its connection is
//! closed, so slow bodies cannot hold connections), at most `--max-body-bytes` (413), and,
//! when it is declared JSON, checked as one JSON-RPC 2.0 message the way stdio checks a line
//! ([`crate::jsonrpc`]): the same errors, answered with 400.

use crate::jsonrpc::{self, Framing};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;

/// Whether the request declares a JSON body: media type `application/json`, parameters
/// (`; charset=utf-8`) allowed, as rmcp reads it (anything else gets its 415).
pub fn declared_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            let essence = t.split_once(';').map_or(t, |(essence, _)| essence);
            essence.trim().eq_ignore_ascii_case("application/json")
        })
}

/// Why a body was not read.
enum Unread {
    TooLarge,
    Broken(String),
}

async fn collect(body: Body, max: usize) -> Result<Bytes, Unread> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Unread::Broken(e.to_string()))?;
        if bytes.len() + chunk.len() > max {
            return Err(Unread::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// The body of `request` read whole (the request gets it back as bytes) and, when it is
/// declared JSON, the JSON-RPC message it holds; or the answer when it cannot be had.
pub async fn read(
    request: Request,
    max: usize,
) -> Result<(Request, Option<jsonrpc::Message>), Response> {
    let (parts, body) = request.into_parts();
    let declared_len = declared_length(&parts.headers);
    if declared_len.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    let bytes = match tokio::time::timeout(super::BODY_TIMEOUT, collect(body, max)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(Unread::TooLarge)) => return Err(too_large(max)),
        Ok(Err(Unread::Broken(why))) => {
            tracing::debug!(error = %why, "a request body could not be read");
            return Err(plain(
                StatusCode::BAD_REQUEST,
                format!("Bad Request: the request body could not be read ({why})\n"),
            ));
        }
        Err(_) => {
            tracing::debug!("a request body did not arrive in time");
            let mut response = plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "Request Timeout: the request body did not arrive within {} s\n",
                    super::BODY_TIMEOUT.as_secs()
                ),
            );
            // The rest of the body may still come: on HTTP/1 the connection cannot be read
            // any further, so it is closed (HTTP/2 ends only this stream).
            if parts.version < Version::HTTP_2 {
                response.headers_mut().insert(
                    header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            return Err(response);
        }
    };
    let message = if declared_json(&parts.headers) {
        match jsonrpc::check(&bytes, Framing::HttpRequest) {
            Ok(message) => Some(message),
            Err(refusal) => {
                tracing::debug!(
                    code = refusal.code,
                    "answered a request body that is no JSON-RPC 2.0 message"
                );
                return Err(super::json_rpc_error(
                    StatusCode::BAD_REQUEST,
                    refusal.id,
                    refusal.code,
                    refusal.message,
                ));
            }
        }
    } else {
        None
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), message))
}

/// The JSON-RPC id of a request refused because the server is shutting down, when its body
/// gives one: a body declared JSON, within `max` bytes, arriving within
/// [`super::CLOSE_TIMEOUT`] (shorter than [`super::BODY_TIMEOUT`]: the shutdown waits that long
/// for connections once the calls in flight are answered), that holds an id JSON-RPC allows.
/// Null otherwise. Nothing in the body is acted on.
pub async fn id_of_late_request(request: Request, max: usize) -> Value {
    let (parts, body) = request.into_parts();
    let declared_len = declared_length(&parts.headers);
    if !declared_json(&parts.headers) || declared_len.is_some_and(|n| n > max as u64) {
        return Value::Null;
    }
    match tokio::time::timeout(super::CLOSE_TIMEOUT, collect(body, max)).await {
        Ok(Ok(bytes)) => jsonrpc::read(&bytes)
            .ok()
            .and_then(|message| message.readable_id().cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// The body's length as `Content-Length` declares it, when it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn too_large(max_body_bytes: usize) -> Response {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Payload Too Large: the body is over {max_body_bytes} bytes (--max-body-bytes)\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_application_json_is_declared_json() {
        let with = |t: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static(t),
            );
            declared_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/json-seq"));
        assert!(!with("text/plain"));
        assert!(!declared_json(&HeaderMap::new()));
    }
}
