//! Human confirmation through MCP elicitation: the server asks the person at the client
//! directly, so a model cannot confirm a destructive change on its own.

use rmcp::RoleServer;
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::ElicitationMode;
use std::time::Duration;

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

/// How long the human has to answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

/// What the human said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Approved,
    /// Declined, cancelled, unticked, timed out or failed: the reason.
    Refused(String),
    /// The client did not declare elicitation.
    CannotAsk,
}

pub fn can_ask(peer: Option<&rmcp::Peer<RoleServer>>) -> bool {
    peer.is_some_and(|p| {
        p.supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
    })
}

/// Characters that reorder text as it is displayed (bidirectional overrides, isolates and
/// marks): in a prompt they can make `deny` read as `allow`.
const BIDI_CONTROLS: &[char] = &[
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// `text` as it may be shown to a person: control characters (NUL included, line breaks and
/// tabs excepted) and bidirectional controls written as `\u{…}` escapes.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\n' && c != '\t') || BIDI_CONTROLS.contains(&c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Ask the human to approve `message`. Only an accept with `approve: true` approves. The
/// message is shown with control characters escaped and secret values scrubbed.
pub async fn ask(peer: Option<&rmcp::Peer<RoleServer>>, message: String) -> Answer {
    let message = printable(&crate::secret::scrub(&message));
    let Some(peer) = peer.filter(|p| can_ask(Some(p))) else {
        return Answer::CannotAsk;
    };
    let schema = match ElicitationSchema::builder()
        .required_bool(APPROVE)
        .description("Tick to run this change on the firewall.")
        .build()
    {
        Ok(s) => s,
        Err(e) => return Answer::Refused(format!("the confirmation form could not be built: {e}")),
    };
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    };
    match peer
        .create_elicitation_with_timeout(params, Some(ANSWER_TIMEOUT))
        .await
    {
        Ok(result) => match result.action {
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
        },
        Err(e) => Answer::Refused(format!("asking the human failed: {e}")),
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
    }
}
