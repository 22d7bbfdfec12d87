//! Stopping on SIGINT or SIGTERM, the same over stdio and `--http`: the first signal stops
//! taking new calls and waits up to [`DRAIN_TIMEOUT`] for the calls in flight to be answered;
//! a second signal meanwhile exits at once, and a drain that times out ends with status 1 too.
//! Both say on stderr how many calls went unanswered and where to look.

use std::sync::LazyLock;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a shutdown waits for the calls in flight before giving up on them: closing the
/// HTTP sessions anyway, or ending stdin.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Cancelled at the first signal, on either transport, and when a stdio client closes stdin
/// (`cli::StdinUntil`): what a call waits for that would only hold up the drain (a human's
/// approval, which can take minutes) stops waiting.
static BEGUN: LazyLock<CancellationToken> = LazyLock::new(CancellationToken::new);

/// Say that the shutdown began: waits that watch [`begun`] end now.
pub fn begin() {
    BEGUN.cancel();
}

/// The shutdown's start, to wait for or look at.
pub fn begun() -> &'static CancellationToken {
    &BEGUN
}

/// SIGINT and SIGTERM, listened to from the start of serving to its end: a second signal that
/// comes while the first is being handled waits in the listener instead of being lost (or
/// killing the process) between two listeners.
pub struct Signals {
    #[cfg(unix)]
    listeners: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Start listening (inside the runtime).
    pub fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                listeners: signal(SignalKind::terminate())
                    .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// The next SIGINT or SIGTERM. Cancel-safe: a signal is not lost when another branch of
    /// a `select!` wins.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((term, interrupt)) = &mut self.listeners {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Say on stderr that the process exits with `unanswered` calls (`noun`: what they are)
/// left without their answer, and why.
pub fn note_unanswered(why: &str, unanswered: usize, noun: &str) {
    crate::note!(
        "pfsense-mcp: {why}: exiting with {unanswered} {noun}(s) unanswered; a change among them may have been made (pfsense_list_changes shows it; the journal settles it at the next start)"
    );
}

/// A signal during the drain: exit now, with status 1, saying so (`why`: the signal as it
/// came, "a second signal" after a first one, or after stdin closed). Nothing more is waited
/// for: the calls in flight lose their answers, and what each change did is in the journal (an
/// `intent` row the next start settles).
pub fn exit_on_signal_during_drain(why: &str, unanswered: usize, noun: &str) -> ! {
    note_unanswered(why, unanswered, noun);
    std::process::exit(crate::config::Failure::Runtime as i32)
}
