//! A real HTTP server on loopback that answers from a script and records every request, so
//! tests can check exactly what the MCP server sent (and that it sent nothing).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string (percent-encoded), empty when there is none.
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Decoded query pairs in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url_decode_pairs(&self.query)
    }
}

fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// A `Location` header (redirects).
    pub location: Option<String>,
}

impl Answer {
    /// A pfSense success envelope around `data`.
    pub fn ok(data: Value) -> Answer {
        Answer::envelope(200, "SUCCESS", "", data)
    }

    pub fn envelope(code: u16, response_id: &str, message: &str, data: Value) -> Answer {
        let status = match code {
            200 => "ok",
            400 => "bad request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not found",
            409 => "conflict",
            _ => "error",
        };
        Answer {
            status: code,
            content_type: "application/json".into(),
            body: serde_json::to_vec(&json!({
                "code": code, "status": status, "response_id": response_id,
                "message": message, "data": data,
            }))
            .unwrap_or_default(),
            location: None,
        }
    }

    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            content_type: content_type.into(),
            body: body.into(),
            location: None,
        }
    }

    /// A redirect to `location`, with the small HTML page web servers send along.
    pub fn redirect(status: u16, location: &str) -> Answer {
        Answer {
            location: Some(location.into()),
            ..Answer::raw(
                status,
                "text/html",
                format!("<html><body><a href=\"{location}\">moved</a></body></html>"),
            )
        }
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<Recorded>,
    answers: HashMap<(String, String), Answer>,
}

/// The running recorder.
#[derive(Clone)]
pub struct Recorder {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Recorder {
    /// Start on a free loopback port.
    pub async fn start() -> Recorder {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Recorder { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer `method path` with `answer` from now on.
    pub fn answer(&self, method: &str, path: &str, answer: Answer) {
        self.shared
            .lock()
            .unwrap()
            .answers
            .insert((method.to_string(), path.to_string()), answer);
    }

    /// Answer `method path` with `answer` when the request has no query string (a read of the
    /// whole list, not a filtered one); other requests to the path get the default answer.
    pub fn answer_unfiltered(&self, method: &str, path: &str, answer: Answer) {
        self.answer(method, &format!("{path}?"), answer);
    }

    /// Answer `GET path` with a redirect (`status`) to the same path on a recorder of its
    /// own, started here: returned with the redirect's target, so a test can check that
    /// nothing followed it (the credentials would have gone along).
    pub async fn redirect_elsewhere(&self, path: &str, status: u16) -> (Recorder, String) {
        let elsewhere = Recorder::start().await;
        let target = format!("{}{path}", elsewhere.url());
        self.answer("GET", path, Answer::redirect(status, &target));
        (elsewhere, target)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub fn clear(&self) {
        self.shared.lock().unwrap().requests.clear();
    }
}

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let answer = {
        let mut s = shared.lock().unwrap();
        s.requests.push(recorded.clone());
        let unfiltered = (recorded.method.clone(), format!("{}?", recorded.path));
        recorded
            .query
            .is_empty()
            .then(|| s.answers.get(&unfiltered))
            .flatten()
            .or_else(|| {
                s.answers
                    .get(&(recorded.method.clone(), recorded.path.clone()))
            })
            .cloned()
    };
    let answer = answer.unwrap_or_else(|| {
        // By default, echo what was sent as the envelope's data.
        let data = if recorded.body.is_empty() {
            json!({"query": recorded.query})
        } else {
            recorded.json()
        };
        Answer::ok(data)
    });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response =
        (status, [("content-type", answer.content_type)], answer.body).into_response();
    if let Some(location) = answer
        .location
        .and_then(|l| axum::http::HeaderValue::from_str(&l).ok())
    {
        response.headers_mut().insert("location", location);
    }
    response
}
