//! Console flows as data: a flow is a table of steps that the runner plays against a [`Console`].
//! The pfSense install, first-boot and upgrade flows live in [`crate::pfsense_flows`].

use std::collections::BTreeMap;
use std::time::Duration;

use regex::bytes::Regex;

use crate::console::{AbortPattern, Console, ConsoleError, Expected};

/// A named table of steps plus the strings that mean the flow has failed.
#[derive(Debug)]
pub struct Flow {
    pub name: &'static str,
    pub abort_on: &'static [AbortString],
    pub steps: &'static [Step],
}

#[derive(Debug, Clone, Copy)]
pub struct AbortString {
    pub pattern: &'static str,
    pub meaning: &'static str,
}

#[derive(Debug)]
pub enum Step {
    /// Waits for one of several screens and answers the one that shows up first.
    Wait {
        label: &'static str,
        timeout_secs: u64,
        branches: &'static [Branch],
        /// What to do when nothing matched in time; `None` fails the flow.
        on_timeout: Option<Fallback>,
        on_eof: OnEof,
    },
    /// Types keys without waiting for anything first.
    Type {
        label: &'static str,
        keys: &'static str,
    },
    /// Runs a command at the tcsh prompt of console option 8 and checks its exit status.
    Shell {
        label: &'static str,
        command: &'static str,
        timeout_secs: u64,
        allow_failure: bool,
    },
}

impl Step {
    pub fn label(&self) -> &'static str {
        match self {
            Step::Wait { label, .. } | Step::Type { label, .. } | Step::Shell { label, .. } => {
                label
            }
        }
    }
}

#[derive(Debug)]
pub struct Branch {
    /// Regex over the ANSI-stripped console output.
    pub when: &'static str,
    pub actions: &'static [Action],
    pub then: Next,
}

#[derive(Debug)]
pub struct Fallback {
    pub actions: &'static [Action],
    pub then: Next,
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    PauseMs(u64),
    /// Keys sent as they are (`\r` for Enter, `\t` for Tab); `{{name}}` is replaced by a variable.
    Keys(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Goto(&'static str),
    Finish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEof {
    Fail,
    /// The console closing here is expected (QEMU exits on reboot); the flow ends.
    Finish,
}

/// How a flow that did not fail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowEnd {
    Finished {
        at_step: &'static str,
    },
    /// The console closed where that was allowed: the caller restarts QEMU if it needs more.
    ConsoleClosed {
        at_step: &'static str,
    },
}

/// Values substituted into `{{name}}` placeholders. Secret values are never logged.
#[derive(Debug, Default, Clone)]
pub struct FlowVars {
    values: BTreeMap<String, (String, bool)>,
}

impl FlowVars {
    pub fn new() -> FlowVars {
        FlowVars::default()
    }
    pub fn set(mut self, name: &str, value: impl Into<String>) -> FlowVars {
        self.values.insert(name.to_owned(), (value.into(), false));
        self
    }
    pub fn set_secret(mut self, name: &str, value: impl Into<String>) -> FlowVars {
        self.values.insert(name.to_owned(), (value.into(), true));
        self
    }

    /// Returns the expanded text and a version that is safe to log.
    fn expand(&self, template: &str) -> Result<(String, String), String> {
        let mut real = String::new();
        let mut shown = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            real.push_str(&rest[..start]);
            shown.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed placeholder in {template:?}"))?;
            let name = &after[..end];
            let (value, secret) = self
                .values
                .get(name)
                .ok_or_else(|| format!("no value for placeholder {{{{{name}}}}}"))?;
            real.push_str(value);
            shown.push_str(if *secret { "<redacted>" } else { value });
            rest = &after[end + 2..];
        }
        real.push_str(rest);
        shown.push_str(rest);
        Ok((real, shown))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Multiplies every timeout (TCG is several times slower than KVM).
    pub time_scale: f64,
    /// Multiplies the pauses before keys (they give a real dialog time to draw; a fake needs none).
    pub pause_scale: f64,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            time_scale: 1.0,
            pause_scale: 1.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FlowFailure {
    #[error("timed out after {seconds} s waiting for {waiting_for}")]
    Timeout { seconds: u64, waiting_for: String },
    #[error("{0}")]
    Aborted(String),
    #[error("the console closed unexpectedly (QEMU or the console program exited)")]
    UnexpectedEof,
    #[error("command {command:?} exited with status {status}")]
    CommandFailed { command: String, status: String },
    #[error("console I/O: {0}")]
    Console(String),
    #[error("the flow table is invalid: {0}")]
    InvalidFlow(String),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "console flow `{flow}` failed at step `{step}`: {failure}\n--- last console output ---\n{console_tail}\n--- end of console output ---"
)]
pub struct FlowError {
    pub flow: &'static str,
    pub step: &'static str,
    pub failure: FlowFailure,
    pub console_tail: String,
}

/// Marker echoed after every shell command; the regex below does not match the echoed command
/// line itself because there `$status` is not yet a number.
const STATUS_MARKER: &str = " ; echo VMH-RC-$status\r";
const STATUS_PATTERN: &str = r"VMH-RC-(\d+)";
/// Safety net against a `Goto` loop that never ends.
const MAX_STEPS_RUN: usize = 10_000;

/// Checks that every regex compiles, every `Goto` has a target and every placeholder has a value.
pub fn validate(flow: &Flow, vars: &FlowVars) -> Result<(), String> {
    let labels: Vec<&str> = flow.steps.iter().map(Step::label).collect();
    for abort in flow.abort_on {
        Regex::new(abort.pattern).map_err(|e| format!("abort pattern {:?}: {e}", abort.pattern))?;
    }
    let check_next = |next: &Next| match next {
        Next::Goto(target) if !labels.contains(target) => {
            Err(format!("goto {target:?}: no step has that label"))
        }
        _ => Ok(()),
    };
    let check_actions = |actions: &[Action]| -> Result<(), String> {
        for action in actions {
            if let Action::Keys(keys) = action {
                vars.expand(keys)?;
            }
        }
        Ok(())
    };
    for step in flow.steps {
        match step {
            Step::Wait {
                branches,
                on_timeout,
                ..
            } => {
                for branch in *branches {
                    Regex::new(branch.when).map_err(|e| format!("{:?}: {e}", branch.when))?;
                    check_actions(branch.actions)?;
                    check_next(&branch.then)?;
                }
                if let Some(fallback) = on_timeout {
                    check_actions(fallback.actions)?;
                    check_next(&fallback.then)?;
                }
            }
            Step::Type { keys, .. } => {
                vars.expand(keys)?;
            }
            Step::Shell { command, .. } => {
                vars.expand(command)?;
            }
        }
    }
    Ok(())
}

/// Plays `flow` against `console` until a branch says `Finish`, the steps run out, or it fails.
pub fn run_flow(
    console: &mut Console,
    flow: &Flow,
    vars: &FlowVars,
    options: RunOptions,
) -> Result<FlowEnd, FlowError> {
    let fail = |console: &Console, step: &'static str, failure: FlowFailure| FlowError {
        flow: flow.name,
        step,
        failure,
        console_tail: console.tail(1500),
    };
    validate(flow, vars).map_err(|msg| fail(console, "-", FlowFailure::InvalidFlow(msg)))?;
    let abort_patterns = flow
        .abort_on
        .iter()
        .map(|abort| AbortPattern {
            pattern: Regex::new(abort.pattern).expect("validated above"),
            meaning: abort.meaning.to_owned(),
        })
        .collect();
    console.set_abort_patterns(abort_patterns);
    let status_re = Regex::new(STATUS_PATTERN).expect("constant regex");
    let scale = |secs: u64| Duration::from_secs_f64(secs as f64 * options.time_scale.max(0.01));

    let mut index = 0;
    let mut steps_run = 0;
    tracing::info!(flow = flow.name, "console flow started");
    while index < flow.steps.len() {
        steps_run += 1;
        let step = &flow.steps[index];
        let label = step.label();
        if steps_run > MAX_STEPS_RUN {
            return Err(fail(
                console,
                label,
                FlowFailure::InvalidFlow("too many steps run: a goto loops".into()),
            ));
        }
        tracing::debug!(flow = flow.name, step = label, "step");
        let next = match step {
            Step::Type { keys, .. } => {
                send_keys(console, keys, vars).map_err(|failure| fail(console, label, failure))?;
                Next::Continue
            }
            Step::Shell {
                command,
                timeout_secs,
                allow_failure,
                ..
            } => {
                let (real, shown) = vars
                    .expand(command)
                    .map_err(|msg| fail(console, label, FlowFailure::InvalidFlow(msg)))?;
                tracing::info!(flow = flow.name, step = label, command = %shown, "shell command");
                console.discard_pending();
                let line = format!("{real}{STATUS_MARKER}");
                console
                    .send(line.as_bytes())
                    .map_err(|e| fail(console, label, console_failure(e)))?;
                let seconds = (*timeout_secs as f64 * options.time_scale) as u64;
                match console.expect(std::slice::from_ref(&status_re), scale(*timeout_secs)) {
                    Ok(Expected::Matched { text, .. }) => {
                        let status = text.trim_start_matches("VMH-RC-").to_owned();
                        if status != "0" && !allow_failure {
                            return Err(fail(
                                console,
                                label,
                                FlowFailure::CommandFailed {
                                    command: shown,
                                    status,
                                },
                            ));
                        }
                        Next::Continue
                    }
                    Ok(Expected::Timeout) => {
                        return Err(fail(
                            console,
                            label,
                            FlowFailure::Timeout {
                                seconds,
                                waiting_for: format!("the end of {shown:?}"),
                            },
                        ));
                    }
                    Ok(Expected::Eof) => {
                        return Err(fail(console, label, FlowFailure::UnexpectedEof));
                    }
                    Err(e) => return Err(fail(console, label, console_failure(e))),
                }
            }
            Step::Wait {
                timeout_secs,
                branches,
                on_timeout,
                on_eof,
                ..
            } => {
                let patterns: Vec<Regex> = branches
                    .iter()
                    .map(|b| Regex::new(b.when).expect("validated above"))
                    .collect();
                match console.expect(&patterns, scale(*timeout_secs)) {
                    Ok(Expected::Matched { index: which, text }) => {
                        let branch = &branches[which];
                        tracing::info!(flow = flow.name, step = label, saw = %text.trim(), "matched");
                        run_actions(console, branch.actions, vars, options.pause_scale)
                            .map_err(|failure| fail(console, label, failure))?;
                        branch.then
                    }
                    Ok(Expected::Timeout) => match on_timeout {
                        Some(fallback) => {
                            tracing::info!(
                                flow = flow.name,
                                step = label,
                                "nothing matched in time; taking the documented fallback"
                            );
                            run_actions(console, fallback.actions, vars, options.pause_scale)
                                .map_err(|failure| fail(console, label, failure))?;
                            fallback.then
                        }
                        None => {
                            let waiting_for = branches
                                .iter()
                                .map(|b| format!("/{}/", b.when))
                                .collect::<Vec<_>>()
                                .join(" or ");
                            return Err(fail(
                                console,
                                label,
                                FlowFailure::Timeout {
                                    seconds: (*timeout_secs as f64 * options.time_scale) as u64,
                                    waiting_for,
                                },
                            ));
                        }
                    },
                    Ok(Expected::Eof) => match on_eof {
                        OnEof::Finish => {
                            tracing::info!(flow = flow.name, step = label, "console closed");
                            return Ok(FlowEnd::ConsoleClosed { at_step: label });
                        }
                        OnEof::Fail => {
                            return Err(fail(console, label, FlowFailure::UnexpectedEof));
                        }
                    },
                    Err(e) => return Err(fail(console, label, console_failure(e))),
                }
            }
        };
        match next {
            Next::Continue => index += 1,
            Next::Finish => {
                tracing::info!(flow = flow.name, step = label, "console flow finished");
                return Ok(FlowEnd::Finished { at_step: label });
            }
            Next::Goto(target) => {
                index = flow
                    .steps
                    .iter()
                    .position(|s| s.label() == target)
                    .expect("validated above");
            }
        }
    }
    let last = flow.steps.last().map_or("-", Step::label);
    tracing::info!(flow = flow.name, "console flow finished");
    Ok(FlowEnd::Finished { at_step: last })
}

fn console_failure(error: ConsoleError) -> FlowFailure {
    match error {
        ConsoleError::Aborted { meaning, matched } => {
            FlowFailure::Aborted(format!("the console printed {matched:?}: {meaning}"))
        }
        other => FlowFailure::Console(other.to_string()),
    }
}

fn send_keys(console: &mut Console, keys: &str, vars: &FlowVars) -> Result<(), FlowFailure> {
    let (real, _shown) = vars.expand(keys).map_err(FlowFailure::InvalidFlow)?;
    console.discard_pending();
    console.send(real.as_bytes()).map_err(console_failure)
}

fn run_actions(
    console: &mut Console,
    actions: &[Action],
    vars: &FlowVars,
    pause_scale: f64,
) -> Result<(), FlowFailure> {
    for action in actions {
        match action {
            Action::PauseMs(ms) => std::thread::sleep(Duration::from_secs_f64(
                *ms as f64 / 1000.0 * pause_scale.max(0.0),
            )),
            Action::Keys(keys) => send_keys(console, keys, vars)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_and_secrets_are_redacted_in_the_shown_text() {
        let vars = FlowVars::new()
            .set("url", "https://x/pkg")
            .set_secret("pw", "hunter2");
        let (real, shown) = vars.expand("add {{url}} --pw {{pw}}").unwrap();
        assert_eq!(real, "add https://x/pkg --pw hunter2");
        assert_eq!(shown, "add https://x/pkg --pw <redacted>");
        assert!(vars.expand("{{missing}}").unwrap_err().contains("missing"));
    }

    #[test]
    fn validate_rejects_dangling_goto_and_bad_regex() {
        static BAD_GOTO: Flow = Flow {
            name: "bad",
            abort_on: &[],
            steps: &[Step::Wait {
                label: "a",
                timeout_secs: 1,
                branches: &[Branch {
                    when: "x",
                    actions: &[],
                    then: Next::Goto("nowhere"),
                }],
                on_timeout: None,
                on_eof: OnEof::Fail,
            }],
        };
        assert!(
            validate(&BAD_GOTO, &FlowVars::new())
                .unwrap_err()
                .contains("nowhere")
        );
        static BAD_RE: Flow = Flow {
            name: "bad",
            abort_on: &[AbortString {
                pattern: "(",
                meaning: "",
            }],
            steps: &[],
        };
        assert!(validate(&BAD_RE, &FlowVars::new()).is_err());
    }
}
