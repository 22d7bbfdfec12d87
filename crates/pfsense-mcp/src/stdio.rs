//! The stdio transport's front door: each line from stdin is checked before rmcp sees it, so
//! input that is not JSON (garbage, a cut-off line, nesting deeper than 128 levels, a line over
//! 16 MiB) gets a JSON-RPC parse error (-32700, id null) on stdout instead of silence, and JSON
//! that is no JSON-RPC 2.0 message gets invalid request (-32600) with its id and why (rmcp's own
//! answer has neither). Our answers and rmcp's share stdout a whole line at a time.

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The longest line accepted (rmcp's own limit).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How big the pipes between this front door and rmcp are.
const PIPE_BYTES: usize = 64 * 1024;

/// The JSON-RPC parse error for a line that is not JSON, saying why.
fn parse_error(why: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32700,
            "message": format!("Parse error: {why}. Send one JSON-RPC 2.0 message per line."),
        }
    })
    .to_string()
}

/// `line` as one JSON value, or why it is not one.
fn read(line: &[u8]) -> Result<Value, String> {
    // Into a `Value`: that also applies serde_json's nesting limit (128), which skipping the
    // input (`IgnoredAny`) does not.
    serde_json::from_slice::<Value>(line).map_err(|e| e.to_string())
}

/// The JSON-RPC invalid-request error for a value that is no JSON-RPC 2.0 message: its id when
/// it has a readable one, and why (rmcp answers these with neither).
fn invalid_request(message: &Value) -> Option<String> {
    let why = match message {
        Value::Array(_) => {
            "a batch (a JSON array) is not supported: send one message per line".to_string()
        }
        Value::Object(m) => {
            let id_ok = m
                .get("id")
                .is_none_or(|id| id.is_string() || id.is_i64() || id.is_u64());
            if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
                "`jsonrpc` must be \"2.0\"".to_string()
            } else if !id_ok {
                "`id` must be a string or an integer".to_string()
            } else if let Some(method) = m.get("method") {
                if !method.is_string() {
                    "`method` must be a string".to_string()
                } else if m
                    .get("params")
                    .is_some_and(|p| !p.is_object() && !p.is_null())
                {
                    "`params` must be an object".to_string()
                } else {
                    return None;
                }
            } else if m.contains_key("result") || m.contains_key("error") {
                return None;
            } else {
                "a message needs a `method` (a request or notification), or `result` or `error` (a response)".to_string()
            }
        }
        _ => "a JSON-RPC message is a JSON object".to_string(),
    };
    let id = message
        .get("id")
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
        .cloned()
        .unwrap_or(Value::Null);
    Some(
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {"code": -32600, "message": format!("Invalid request: {why}.")},
        })
        .to_string(),
    )
}

/// rmcp's end of stdio: a reader of checked lines, a writer whose lines reach stdout, and
/// the task writing stdout (await it after rmcp ends, so the last answers are written).
pub fn guarded(
    input: impl AsyncRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> (
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    tokio::task::JoinHandle<()>,
) {
    let (to_rmcp, rmcp_in) = tokio::io::duplex(PIPE_BYTES);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(PIPE_BYTES);
    let (errors, answers) = mpsc::channel::<String>(64);
    tokio::spawn(check_lines(input, to_rmcp, errors));
    let writer = tokio::spawn(write_lines(from_rmcp, answers, output));
    (rmcp_in, rmcp_out, writer)
}

async fn check_lines(
    input: impl AsyncRead + Unpin,
    mut to_rmcp: tokio::io::DuplexStream,
    errors: mpsc::Sender<String>,
) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut too_long = false;
        // Read one line, keeping at most MAX_LINE_BYTES of it.
        loop {
            let buf = match input.fill_buf().await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "reading stdin failed");
                    return;
                }
            };
            if buf.is_empty() {
                // EOF: a cut-off last line is answered too.
                if !line.is_empty()
                    && !too_long
                    && let Err(why) = read(&line)
                {
                    let _ = errors.send(parse_error(&why)).await;
                }
                return;
            }
            let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..=i], true),
                None => (buf, false),
            };
            let n = chunk.len();
            if line.len() + n > MAX_LINE_BYTES + 1 {
                too_long = true;
            } else {
                line.extend_from_slice(chunk);
            }
            input.consume(n);
            if done {
                break;
            }
        }
        if too_long {
            let why = format!("the line is longer than {MAX_LINE_BYTES} bytes");
            let _ = errors.send(parse_error(&why)).await;
            continue;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let message = match read(body) {
            Ok(m) => m,
            Err(why) => {
                tracing::debug!(error = %why, "answered a stdin line that is not JSON");
                let _ = errors.send(parse_error(&why)).await;
                continue;
            }
        };
        if let Some(answer) = invalid_request(&message) {
            tracing::debug!("answered a stdin line that is no JSON-RPC 2.0 message");
            let _ = errors.send(answer).await;
            continue;
        }
        if to_rmcp.write_all(&line).await.is_err() {
            return;
        }
        if !line.ends_with(b"\n") && to_rmcp.write_all(b"\n").await.is_err() {
            return;
        }
    }
}

async fn write_lines(
    from_rmcp: tokio::io::DuplexStream,
    mut answers: mpsc::Receiver<String>,
    mut output: impl AsyncWrite + Unpin,
) {
    let mut from_rmcp = BufReader::new(from_rmcp);
    // rmcp's line so far: a read cut short by an answer keeps its bytes here.
    let mut pending = Vec::new();
    let mut answers_open = true;
    loop {
        let line = tokio::select! {
            read = from_rmcp.read_until(b'\n', &mut pending) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => std::mem::take(&mut pending),
            },
            answer = answers.recv(), if answers_open => match answer {
                Some(a) => format!("{a}\n").into_bytes(),
                None => {
                    answers_open = false;
                    continue;
                }
            },
        };
        if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
    // rmcp is done: answers to the last lines read are still owed.
    while let Ok(a) = answers.try_recv() {
        if output.write_all(format!("{a}\n").as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = output.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_that_are_not_json_are_named() {
        assert!(read(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
        assert!(
            read(b"42").is_ok(),
            "JSON, if no JSON-RPC: `invalid_request` answers it"
        );
        assert!(read(b"hello").is_err());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(
            read(deep.as_bytes())
                .unwrap_err()
                .contains("recursion limit")
        );
        let v: serde_json::Value = serde_json::from_str(&parse_error("x")).unwrap();
        assert_eq!(v["error"]["code"], -32700);
        assert!(v["id"].is_null());
    }

    #[test]
    fn messages_that_are_no_json_rpc_get_their_id_and_the_reason() {
        let answer = |line: &str| -> Option<Value> {
            invalid_request(&serde_json::from_str(line).unwrap())
                .map(|a| serde_json::from_str(&a).unwrap())
        };
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":"a","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":null}"#,
        ] {
            assert!(answer(ok).is_none(), "{ok}");
        }
        for (line, id, why) in [
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":[1]}"#,
                json!(4),
                "`params` must be an object",
            ),
            (
                r#"{"jsonrpc":"1.0","id":30,"method":"ping"}"#,
                json!(30),
                "`jsonrpc` must be",
            ),
            (
                r#"{"jsonrpc":"2.0","id":32}"#,
                json!(32),
                "needs a `method`",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                Value::Null,
                "`id` must be",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                Value::Null,
                "batch",
            ),
            ("42", Value::Null, "is a JSON object"),
        ] {
            let a = answer(line).unwrap_or_else(|| panic!("{line} passed"));
            assert_eq!(a["error"]["code"], -32600, "{line}");
            assert_eq!(a["id"], id, "{line}");
            assert!(
                a["error"]["message"].as_str().unwrap().contains(why),
                "{line}: {a}"
            );
        }
    }
}
