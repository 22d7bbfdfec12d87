//! The stdio transport's front door: each line from stdin is checked before rmcp sees it
//! ([`crate::jsonrpc`], as HTTP bodies are), so input that is not JSON (garbage, a cut-off
//! line, nesting deeper than 128 levels, a line over 16 MiB) gets a JSON-RPC parse error
//! (-32700, id null) on stdout instead of silence, and JSON that is no JSON-RPC 2.0 message gets
//! invalid request (-32600) with its id and why (rmcp's own answer has neither). Our answers
//! and rmcp's share stdout a whole line at a time.
//!
//! It also keeps the client's requests rmcp was given and has not answered on stdout yet
//! ([`Owed`]): a shutdown (the client closing stdin, or a signal) ends rmcp's input only once
//! they are answered, as rmcp itself gives the calls in flight only 5 s once its input ends,
//! then drops their answers.

use crate::jsonrpc::{self, Framing, Written};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

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

/// rmcp's end of stdio: a reader of checked lines, a writer whose lines reach stdout, the task
/// writing stdout (await it after rmcp ends, so the last answers are written), and the
/// requests rmcp owes an answer.
pub fn guarded(
    input: impl AsyncRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> (
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    tokio::task::JoinHandle<()>,
    Owed,
) {
    let (to_rmcp, rmcp_in) = tokio::io::duplex(PIPE_BYTES);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(PIPE_BYTES);
    let (errors, answers) = mpsc::channel::<String>(64);
    let owed = Owed::new();
    tokio::spawn(check_lines(input, to_rmcp, errors, owed.clone()));
    let writer = tokio::spawn(write_lines(from_rmcp, answers, output, owed.clone()));
    (rmcp_in, rmcp_out, writer, owed)
}

/// The client's requests (a line with an id and a method) given to rmcp whose answers (a line
/// with that id and no method) are not on stdout yet. The server's own requests to the client
/// (`elicitation/create`) and the client's answers to them are not kept, nor notifications.
#[derive(Clone)]
pub struct Owed {
    state: Arc<watch::Sender<Unanswered>>,
}

#[derive(Default)]
struct Unanswered {
    /// By the id's JSON text (`1` and `"1"` are two ids), each with its line, to tell at the
    /// drain whether rmcp could read it: rmcp answers a line it cannot read (an id beyond
    /// i64, a key given twice) without an id.
    requests: HashMap<String, Vec<u8>>,
    /// A drain began: from then on a request rmcp cannot read is not kept.
    draining: bool,
    /// Writing stdout failed: nothing more will be answered.
    stdout_gone: bool,
}

impl Owed {
    fn new() -> Owed {
        Owed {
            state: Arc::new(watch::Sender::new(Unanswered::default())),
        }
    }

    /// How many requests are unanswered.
    pub fn len(&self) -> usize {
        self.state.borrow().requests.len()
    }

    /// Whether every request was answered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Begin a drain: the requests rmcp will never answer by id are let go, so that
    /// [`Owed::answered`] waits only for answers that come.
    pub fn drain(&self) {
        self.state.send_if_modified(|u| {
            u.draining = true;
            let before = u.requests.len();
            u.requests
                .retain(|_, line| pfsense_mcp_transport::rmcp_reads(line));
            u.requests.len() != before
        });
    }

    /// Until every request is answered, or stdout is gone.
    pub async fn answered(&self) {
        let mut watch = self.state.subscribe();
        let _ = watch
            .wait_for(|u| u.requests.is_empty() || u.stdout_gone)
            .await;
    }

    /// rmcp was given the request `line` with this `id`.
    fn owe(&self, id: &Value, line: &[u8]) {
        self.state.send_if_modified(|u| {
            if u.draining && !pfsense_mcp_transport::rmcp_reads(line) {
                return false;
            }
            u.requests.insert(id.to_string(), line.to_vec());
            true
        });
    }

    /// The request with this id needs no answer any more (answered, or cancelled).
    fn settle(&self, id: &Value) {
        let key = id.to_string();
        self.state
            .send_if_modified(|u| u.requests.remove(&key).is_some());
    }

    /// The line rmcp wrote to stdout: an answer settles its request.
    fn written(&self, line: &[u8]) {
        if let Written::Answer(id) = jsonrpc::answer_to(line) {
            self.settle(&id);
        }
    }

    /// The client cancelled a request (`notifications/cancelled`): rmcp then drops its answer.
    fn cancelled(&self, line: &[u8]) {
        if let Ok(message) = serde_json::from_slice::<Value>(line)
            && let Some(id) = message.pointer("/params/requestId")
        {
            self.settle(id);
        }
    }

    fn stdout_gone(&self) {
        self.state.send_modify(|u| u.stdout_gone = true);
    }
}

async fn check_lines(
    input: impl AsyncRead + Unpin,
    mut to_rmcp: tokio::io::DuplexStream,
    errors: mpsc::Sender<String>,
    owed: Owed,
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
        let message = match jsonrpc::check(body, Framing::Line) {
            Ok(message) => message,
            Err(refusal) => {
                tracing::debug!(
                    code = refusal.code,
                    "answered a stdin line that is no JSON-RPC 2.0 message"
                );
                let _ = errors.send(refusal.to_json().to_string()).await;
                continue;
            }
        };
        // Kept before rmcp can answer it.
        match (&message.id, message.method.as_deref()) {
            (Some(id), Some(_)) => owed.owe(id, body),
            (None, Some("notifications/cancelled")) => owed.cancelled(body),
            _ => {}
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
    owed: Owed,
) {
    let mut from_rmcp = BufReader::new(from_rmcp);
    // rmcp's line so far: a read cut short by an answer keeps its bytes here.
    let mut pending = Vec::new();
    let mut answers_open = true;
    loop {
        let (line, rmcps) = tokio::select! {
            read = from_rmcp.read_until(b'\n', &mut pending) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => (std::mem::take(&mut pending), true),
            },
            answer = answers.recv(), if answers_open => match answer {
                Some(a) => (format!("{a}\n").into_bytes(), false),
                None => {
                    answers_open = false;
                    continue;
                }
            },
        };
        if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
            owed.stdout_gone();
            return;
        }
        if rmcps {
            owed.written(&line);
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

    fn owing(owed: &Owed, line: &str) {
        let m = jsonrpc::check(line.as_bytes(), Framing::Line).unwrap();
        owed.owe(m.id.as_ref().unwrap(), line.as_bytes());
    }

    #[test]
    fn a_request_is_owed_until_an_answer_with_its_id_is_written() {
        let owed = Owed::new();
        owing(
            &owed,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
        );
        owing(&owed, r#"{"jsonrpc":"2.0","id":"1","method":"ping"}"#);
        owing(&owed, r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
        assert_eq!(owed.len(), 3);
        // The server's own request (with an id) and a notification answer nothing.
        owed.written(br#"{"jsonrpc":"2.0","id":1,"method":"elicitation/create","params":{}}"#);
        owed.written(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"id":1}}"#);
        // An answer to an id nobody asked for changes nothing.
        owed.written(br#"{"jsonrpc":"2.0","id":9,"result":{}}"#);
        assert_eq!(owed.len(), 3);
        // `1` and `"1"` are two ids; an error answers as a result does.
        owed.written(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"no"}}"#);
        owed.written(b"{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":{}}\n");
        assert_eq!(owed.len(), 1);
        // A cancelled request is answered by nobody (rmcp drops its answer).
        owed.cancelled(
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#,
        );
        assert!(owed.is_empty());
    }

    #[test]
    fn a_drain_lets_go_of_requests_rmcp_cannot_read() {
        let owed = Owed::new();
        // An id beyond i64 and a key given twice: rmcp answers them without an id.
        let unread = [
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"ping","method":"ping"}"#,
        ];
        for line in unread {
            owing(&owed, line);
        }
        owing(&owed, r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#);
        assert_eq!(owed.len(), 3);
        owed.drain();
        assert_eq!(owed.len(), 1);
        // Once draining, they are not kept at all (stdin may stay open after a signal).
        owing(&owed, unread[0]);
        assert_eq!(owed.len(), 1);
    }

    #[tokio::test]
    async fn answered_waits_for_the_last_answer_or_for_stdout_to_go() {
        let owed = Owed::new();
        owing(&owed, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        let waiting = tokio::spawn({
            let owed = owed.clone();
            async move { owed.answered().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        owed.written(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();

        owing(&owed, r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
        owed.stdout_gone();
        tokio::time::timeout(std::time::Duration::from_secs(5), owed.answered())
            .await
            .unwrap();
        assert_eq!(owed.len(), 1, "still unanswered");
    }
}
