//! Human confirmation through MCP elicitation: the server asks the person at the client
//! directly, so a model cannot confirm a destructive change on its own.
//!
//! Two channels, by protocol revision:
//! - a session opened with `initialize` (up to 2025-11-25) gets an `elicitation/create`
//!   request from the server while the call waits;
//! - 2026-07-28 has no server-to-client requests: the call ends with an input-required result
//!   (SEP-2322) carrying the form, and the client retries it with the person's answer. The
//!   answer counts only for the question it answers: the `requestState` handle names a question
//!   kept here, bound to the caller and to the exact message shown, used once, for
//!   [`ANSWER_TIMEOUT`]. A retry whose change now reads differently is asked again.

use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CancelledNotificationParam, ClientCapabilities, ClientResult,
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequiredResult, InputResponses, ProtocolVersion, ServerRequest,
};
use rmcp::service::{ElicitationMode, PeerRequestOptions, RequestContext};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How destructive and dangerous calls are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ConfirmMode {
    /// Ask the human through MCP elicitation; when the client cannot ask, `confirm: true`
    /// from the model is enough (the fallback is said in the result and the audit log).
    #[default]
    Elicit,
    /// Ask the human through MCP elicitation; refuse when the client cannot ask.
    ElicitRequired,
    /// `confirm: true` from the model is enough; nobody is asked.
    Flag,
}

/// The property the human ticks to approve.
pub const APPROVE: &str = "approve";

/// The key of the confirmation form in an input-required result's `inputRequests`.
pub const INPUT_KEY: &str = "confirmation";

/// How long the human has to answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

/// Questions waiting for their answer at once (every caller together). When full, the oldest
/// question of the caller with the most goes first, so one caller asking in a loop cannot
/// push out another's question while its human reads it.
const MAX_OPEN_QUESTIONS: usize = 256;
/// Questions of one caller waiting at once; its oldest goes first.
const MAX_OPEN_QUESTIONS_PER_CALLER: usize = 32;

/// What the human said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Approved,
    /// Declined, cancelled, unticked, timed out or failed: the reason.
    Refused(String),
    /// The client did not declare elicitation.
    CannotAsk,
    /// The question goes back to the client as an input-required result (2026-07-28); the
    /// call ends without running and comes back with the answer.
    Asked,
}

/// How a call can reach the person at the client.
#[derive(Clone, Default)]
pub enum Human {
    /// The client declared no form elicitation (or this is not an MCP call).
    #[default]
    Unreachable,
    /// A session opened with `initialize` whose client declared form elicitation, and the
    /// call's cancellation (the client's `notifications/cancelled` for it).
    Session(rmcp::Peer<RoleServer>, CancellationToken),
    /// A 2026-07-28 request that declared form elicitation in its `_meta`.
    Rounds(Arc<Rounds>),
}

/// One 2026-07-28 call's side of the exchange: what the retried call brought back, and the
/// question this call leaves for the client.
pub struct Rounds {
    responses: InputResponses,
    state: Option<String>,
    asked: Mutex<Option<(String, ElicitRequestParams)>>,
}

impl Human {
    /// The channel of one `tools/call`: the revision the request speaks and the capabilities
    /// its client declared (in `initialize`, or in each request's `_meta` on 2026-07-28).
    pub fn of(context: &RequestContext<RoleServer>, request: &CallToolRequestParams) -> Human {
        let rounds = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if rounds {
            if !context
                .client_capabilities()
                .as_ref()
                .is_some_and(declares_form)
            {
                return Human::Unreachable;
            }
            return Human::Rounds(Arc::new(Rounds {
                responses: request.input_responses.clone().unwrap_or_default(),
                state: request.request_state.clone(),
                asked: Mutex::new(None),
            }));
        }
        if context
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
        {
            Human::Session(context.peer.clone(), context.ct.clone())
        } else {
            Human::Unreachable
        }
    }

    pub fn can_ask(&self) -> bool {
        !matches!(self, Human::Unreachable)
    }

    /// The input-required result this call ends with, when it asked the human.
    pub fn input_required(&self) -> Option<InputRequiredResult> {
        let Human::Rounds(rounds) = self else {
            return None;
        };
        let (handle, params) = rounds.asked.lock().ok()?.take()?;
        let requests = BTreeMap::from([(
            INPUT_KEY.to_string(),
            InputRequest::Elicitation(ElicitRequest::new(params)),
        )]);
        Some(InputRequiredResult::new(Some(requests), Some(handle)))
    }
}

/// Form elicitation declared: `elicitation: {}` (form by default, as before modes existed) or
/// with `form`.
fn declares_form(caps: &ClientCapabilities) -> bool {
    caps.elicitation
        .as_ref()
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// A question sent in an input-required result, waiting for its answer.
struct OpenQuestion {
    handle: String,
    /// Who asked (the token's name over HTTP).
    caller: String,
    /// SHA-256 of the caller and the message shown: the answer is for this change only.
    asked_about: [u8; 32],
    until: Instant,
}

static OPEN_QUESTIONS: Mutex<Vec<OpenQuestion>> = Mutex::new(Vec::new());

fn digest(caller: &str, message: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(caller.as_bytes());
    h.update([0]);
    h.update(message.as_bytes());
    h.finalize().into()
}

/// Keep a new question; its handle, or None when no random handle could be made.
fn open_question(caller: &str, asked_about: [u8; 32]) -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    let handle = format!("confirm-{}", hex::encode(bytes));
    let mut open = OPEN_QUESTIONS.lock().ok()?;
    let now = Instant::now();
    open.retain(|q| q.until > now);
    let of = |open: &[OpenQuestion], who: &str| open.iter().filter(|q| q.caller == who).count();
    let evicted = if of(&open, caller) >= MAX_OPEN_QUESTIONS_PER_CALLER {
        Some(caller.to_string())
    } else if open.len() >= MAX_OPEN_QUESTIONS {
        open.iter()
            .max_by_key(|q| of(&open, &q.caller))
            .map(|q| q.caller.clone())
    } else {
        None
    };
    // Oldest first: questions are kept in the order they were asked.
    if let Some(who) = evicted
        && let Some(i) = open.iter().position(|q| q.caller == who)
    {
        open.remove(i);
    }
    open.push(OpenQuestion {
        handle: handle.clone(),
        caller: caller.to_string(),
        asked_about,
        until: now + ANSWER_TIMEOUT,
    });
    Some(handle)
}

/// Whether `handle` names an open question about `asked_about`; it is closed either way, so
/// an answer is used once.
fn close_question(handle: &str, asked_about: &[u8; 32]) -> bool {
    let Ok(mut open) = OPEN_QUESTIONS.lock() else {
        return false;
    };
    let Some(i) = open.iter().position(|q| q.handle == handle) else {
        return false;
    };
    let q = open.remove(i);
    q.until > Instant::now() && &q.asked_about == asked_about
}

/// Characters that reorder text as it is displayed (bidirectional overrides, isolates and
/// marks): in a prompt they can make `deny` read as `allow`.
const BIDI_CONTROLS: &[char] = &[
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// `text` as it may be shown to a person: control characters (NUL included, line breaks and
/// tabs excepted) and bidirectional controls written as `\u{…}` escapes.
/// Borrowed as it is when nothing needs escaping: every tool result's text passes through here.
pub fn printable(text: &str) -> Cow<'_, str> {
    if plain_ascii(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let Some(first) = text.find(needs_escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether every byte is printable ASCII, a line break or a tab: nothing to escape.
///
/// Eight bytes at a time (decoding each character was 2% of a read's instructions under
/// callgrind, a byte scan 1.2%, which LLVM keeps scalar at this crate's `opt-level = "s"`:
/// BENCHMARKS.md, "Ninth session"). A word with a byte at or above 0x7f or below a space
/// (line breaks and tabs included) is checked byte by byte: the word tests may flag a clean
/// word (a borrow or carry from a flagged byte), never pass a byte that needs looking at.
fn plain_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let plain = |b: &u8| (b' '..0x7f).contains(b) || *b == b'\n' || *b == b'\t';
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // High bit set: 0x80 and above. Below a space: adding 0x60 leaves the high bit clear.
        let below_space = !x.wrapping_add(0x60 * ONES);
        // 0x7f: a zero byte of x ^ 0x7f… (the classic has-zero-byte test).
        let del = {
            let y = x ^ (0x7f * ONES);
            y.wrapping_sub(ONES) & !y
        };
        if (x | below_space | del) & HIGH != 0 && !chunk.iter().all(plain) {
            return false;
        }
    }
    words.remainder().iter().all(plain)
}

fn needs_escape(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_control() && c != '\n' && c != '\t'
    } else {
        // The bidirectional controls are all outside ASCII.
        c.is_control() || BIDI_CONTROLS.contains(&c)
    }
}

/// The confirmation form: `message` and one box to tick.
fn form(message: String) -> Result<ElicitRequestParams, String> {
    let schema = ElicitationSchema::builder()
        .required_bool(APPROVE)
        .description("Tick to run this change on the firewall.")
        .build()
        .map_err(|e| format!("the confirmation form could not be built: {e}"))?;
    Ok(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    })
}

/// Only an accept with `approve: true` approves.
fn answer_of(result: &ElicitResult) -> Answer {
    match result.action {
        ElicitationAction::Accept => {
            let ticked = result
                .content
                .as_ref()
                .and_then(|c| c.get(APPROVE))
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if ticked {
                Answer::Approved
            } else {
                Answer::Refused("the human accepted the form without ticking approve".into())
            }
        }
        ElicitationAction::Decline => Answer::Refused("the human declined".into()),
        ElicitationAction::Cancel => Answer::Refused("the human cancelled".into()),
        _ => Answer::Refused("the client answered with an unknown action".into()),
    }
}

/// Why a question to the human ends unanswered when the server stops.
pub const SHUTTING_DOWN: &str = "the server is shutting down and stopped waiting for the human's answer; call again once it runs";

/// Why a question to the human ends unanswered when the client cancels the call.
pub const CALL_CANCELLED: &str = "the client cancelled the call while the human was being asked";

/// How long withdrawing a question may take: a shutdown's drain must not wait on a client
/// that reads nothing.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(2);

/// Ask over the session (`elicitation/create`) and wait for the answer, for [`ANSWER_TIMEOUT`]
/// at most, and not past the start of a shutdown (the drain would otherwise wait its whole
/// time for a person) or the client cancelling the call (a change it gave up on must not run
/// when the human approves later). A question withdrawn so is cancelled at the client
/// (`notifications/cancelled` with its id), so that it can take the form down; rmcp sends the
/// same at [`ANSWER_TIMEOUT`]. Over HTTP rmcp routes that notification by the id as if it
/// were one of the client's requests: to the stream of a request of the client's with that
/// id, else to the session's standalone stream (GET).
async fn ask_in_session(
    peer: &rmcp::Peer<RoleServer>,
    call: &CancellationToken,
    params: ElicitRequestParams,
) -> Answer {
    let shutdown = crate::shutdown::begun();
    if shutdown.is_cancelled() {
        return Answer::Refused(SHUTTING_DOWN.into());
    }
    if call.is_cancelled() {
        return Answer::Refused(CALL_CANCELLED.into());
    }
    let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
    let asked = peer
        .send_cancellable_request(request, PeerRequestOptions::with_timeout(ANSWER_TIMEOUT))
        .await;
    let handle = match asked {
        Ok(handle) => handle,
        Err(e) => return Answer::Refused(format!("asking the human failed: {e}")),
    };
    let question = handle.id.clone();
    let (why, reason) = tokio::select! {
        biased;
        () = shutdown.cancelled() => (SHUTTING_DOWN, "the server is shutting down"),
        () = call.cancelled() => (CALL_CANCELLED, "the tool call was cancelled"),
        answered = handle.await_response() => return match answered {
            Ok(ClientResult::ElicitResult(result)) => answer_of(&result),
            Ok(_) => Answer::Refused("the client answered the confirmation form with something else".into()),
            Err(e) => Answer::Refused(format!("asking the human failed: {e}")),
        },
    };
    let withdraw = peer.notify_cancelled(CancelledNotificationParam::new(
        Some(question),
        Some(reason.into()),
    ));
    match tokio::time::timeout(WITHDRAW_TIMEOUT, withdraw).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "withdrawing the question failed"),
        Err(_) => tracing::debug!("withdrawing the question timed out"),
    }
    Answer::Refused(why.into())
}

/// Ask the human at the client to approve `message` on behalf of `caller`. The message is
/// shown with control characters escaped and secret values scrubbed.
pub async fn ask(human: &Human, caller: &str, message: String) -> Answer {
    let message = printable(&crate::secret::scrub(&message)).into_owned();
    match human {
        Human::Unreachable => Answer::CannotAsk,
        Human::Session(peer, call) => {
            let params = match form(message) {
                Ok(p) => p,
                Err(e) => return Answer::Refused(e),
            };
            ask_in_session(peer, call, params).await
        }
        Human::Rounds(rounds) => {
            let asked_about = digest(caller, &message);
            if let (Some(handle), Some(response)) =
                (rounds.state.as_deref(), rounds.responses.get(INPUT_KEY))
                && close_question(handle, &asked_about)
            {
                return match serde_json::from_value::<ElicitResult>(response.clone()) {
                    Ok(result) => answer_of(&result),
                    Err(e) => Answer::Refused(format!(
                        "the client's answer to the confirmation form is not an elicitation result: {e}"
                    )),
                };
            }
            // No answer yet, or one to another question (expired, used, another change or
            // caller): ask, about this change.
            let params = match form(message) {
                Ok(p) => p,
                Err(e) => return Answer::Refused(e),
            };
            let Some(handle) = open_question(caller, asked_about) else {
                return Answer::Refused(
                    "the confirmation could not be asked: no random handle could be made".into(),
                );
            };
            match rounds.asked.lock() {
                Ok(mut asked) => {
                    *asked = Some((handle, params));
                    Answer::Asked
                }
                Err(_) => Answer::Refused("the confirmation could not be asked".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_shown_escaped() {
        assert_eq!(
            printable("allow\u{202e}yned\0 x\u{1b}[2J\nnext\tline"),
            "allow\\u{202e}yned\\u{0000} x\\u{001b}[2J\nnext\tline"
        );
        assert_eq!(printable("plain text, ünïcode"), "plain text, ünïcode");
        // DEL is a control character too, at the edge of the ASCII fast path.
        assert_eq!(printable("a\u{7f}b\r"), "a\\u{007f}b\\u{000d}");
        assert!(matches!(
            printable("{\"plain\": \"ASCII ~\"}\n\tnext"),
            Cow::Borrowed(_)
        ));
    }

    /// The word-at-a-time scan agrees with the byte rule for every byte at every place in a
    /// word, alone and beside every other byte (where a carry or borrow could cross).
    #[test]
    fn the_word_scan_agrees_with_the_byte_rule() {
        let plain = |b: u8| (b' '..0x7f).contains(&b) || b == b'\n' || b == b'\t';
        for len in [7, 8, 9, 16, 17] {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(plain_ascii(&bytes), plain(b), "{b:#x} at {at} of {len}");
                }
            }
        }
        for at in [0, 3, 6, 7] {
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    let mut bytes = [b'~'; 16];
                    bytes[at] = a;
                    bytes[at + 1] = b;
                    assert_eq!(
                        plain_ascii(&bytes),
                        plain(a) && plain(b),
                        "{a:#x} {b:#x} at {at}"
                    );
                }
            }
        }
    }

    /// One caller asking in a loop pushes out its own oldest questions, never another
    /// caller's question while its human reads it.
    #[test]
    fn a_caller_asking_in_a_loop_does_not_push_out_another_callers_question() {
        let alice = digest("alice-0074", "delete alias x");
        let handle = open_question("alice-0074", alice).unwrap();
        let mut mallory = Vec::new();
        for i in 0..MAX_OPEN_QUESTIONS + 10 {
            let about = digest("mallory-0074", &format!("question {i}"));
            mallory.push((open_question("mallory-0074", about).unwrap(), about));
        }
        assert!(
            close_question(&handle, &alice),
            "alice's question is still open"
        );
        // Mallory's newest are kept, its oldest went.
        let (newest, about) = mallory.last().unwrap();
        assert!(close_question(newest, about));
        let (oldest, about) = &mallory[0];
        assert!(!close_question(oldest, about));
    }
}
