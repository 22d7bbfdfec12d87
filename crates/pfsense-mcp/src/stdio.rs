//! The stdio transport's front door: each line from stdin is checked before rmcp sees it
//! ([`crate::jsonrpc`], as HTTP bodies are), so input that is not JSON (garbage, a cut-off
//! line, nesting deeper than 128 levels, a line over 16 MiB) gets a JSON-RPC parse error
//! (-32700, id null) on stdout instead of silence, and JSON that is no JSON-RPC 2.0 message gets
//! invalid request (-32600) with its id and why (rmcp's own answer has neither). Our answers
//! and rmcp's share stdout a whole line at a time.

use crate::jsonrpc::{self, Framing};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The longest line accepted (rmcp's own limit).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How big the pipes between this front door and rmcp are.
const PIPE_BYTES: usize = 64 * 1024;

/// The JSON-RPC parse error for a line that is not JSON, saying why.
fn parse_error(why: &str) -> String {
    jsonrpc::parse_error(why, Framing::Line)
        .to_json()
        .to_string()
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
                    && let Err(why) = jsonrpc::read(&line)
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
        if let Err(refusal) = jsonrpc::check(body, Framing::Line) {
            tracing::debug!(
                code = refusal.code,
                "answered a stdin line that is no JSON-RPC 2.0 message"
            );
            let _ = errors.send(refusal.to_json().to_string()).await;
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
