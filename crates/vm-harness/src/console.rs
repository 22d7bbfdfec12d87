//! Serial-console automation engine.
//!
//! A pump thread reads the console, appends every raw byte to the transcript file, strips ANSI
//! escape sequences and feeds a rolling buffer. `expect` searches the not-yet-consumed part of
//! that buffer for the earliest match of several regexes; abort patterns are checked by the pump
//! on every chunk, so a known failure string ends the wait at once instead of at the timeout.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use regex::bytes::Regex;

/// Bytes of stripped text kept for matching; older text is dropped (the transcript keeps it all).
const MAX_BUFFER: usize = 512 * 1024;
/// Overlap rescanned for abort patterns so a failure string split across two reads is still seen.
const ABORT_OVERLAP: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console output contained {matched:?}: {meaning}")]
    Aborted { meaning: String, matched: String },
    #[error("writing to the console failed: {0}")]
    Write(std::io::Error),
    #[error("reading the console failed: {0}")]
    Read(String),
}

/// How an `expect` call ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `index` is the position of the matching regex in the list passed to `expect`.
    Matched {
        index: usize,
        text: String,
    },
    Timeout,
    /// The other side closed the console (QEMU exited, the fake console ended).
    Eof,
}

#[derive(Debug, Clone)]
pub struct AbortPattern {
    pub pattern: Regex,
    /// What seeing this string means, for the error message.
    pub meaning: String,
}

struct State {
    text: Vec<u8>,
    consumed: usize,
    eof: bool,
    read_error: Option<String>,
    abort_patterns: Vec<AbortPattern>,
    aborted: Option<(String, String)>,
    /// Text before this offset predates the current abort patterns and is not scanned.
    abort_floor: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another holder cannot leave the buffer half-written in a harmful way.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The engine: one per console connection.
pub struct Console {
    shared: Arc<Shared>,
    writer: Box<dyn Write + Send>,
}

impl Console {
    /// Starts pumping `reader`. Every byte read is appended to `transcript` (if given) before
    /// anything else looks at it.
    pub fn new(
        reader: impl Read + Send + 'static,
        writer: impl Write + Send + 'static,
        transcript: Option<&Path>,
    ) -> std::io::Result<Console> {
        let transcript = match transcript {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => None,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                text: Vec::new(),
                consumed: 0,
                eof: false,
                read_error: None,
                abort_patterns: Vec::new(),
                aborted: None,
                abort_floor: 0,
            }),
            changed: Condvar::new(),
        });
        let pump_shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("console-pump".into())
            .spawn(move || pump(reader, transcript, &pump_shared))?;
        Ok(Console {
            shared,
            writer: Box::new(writer),
        })
    }

    /// Replaces the failure strings. Output seen before this call is not checked again.
    pub fn set_abort_patterns(&mut self, patterns: Vec<AbortPattern>) {
        let mut state = self.shared.lock();
        state.abort_patterns = patterns;
        state.aborted = None;
        state.abort_floor = state.text.len();
    }

    /// Waits until one of `patterns` matches output not yet consumed, the console closes, or
    /// `timeout` passes. On a match, output up to the end of the match is consumed.
    pub fn expect(
        &mut self,
        patterns: &[Regex],
        timeout: Duration,
    ) -> Result<Expected, ConsoleError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some((meaning, matched)) = state.aborted.clone() {
                return Err(ConsoleError::Aborted { meaning, matched });
            }
            let pending = &state.text[state.consumed..];
            let earliest = patterns
                .iter()
                .enumerate()
                .filter_map(|(index, re)| re.find(pending).map(|m| (m.start(), m.end(), index)))
                .min_by_key(|&(start, _, index)| (start, index));
            if let Some((start, end, index)) = earliest {
                let text = String::from_utf8_lossy(&pending[start..end]).into_owned();
                state.consumed += end;
                return Ok(Expected::Matched { index, text });
            }
            if state.eof {
                if let Some(error) = state.read_error.clone() {
                    return Err(ConsoleError::Read(error));
                }
                return Ok(Expected::Eof);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Expected::Timeout);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
        }
    }

    /// Forgets output not yet matched, so the next `expect` only sees what comes after it.
    /// Used before answering a prompt: the screen that asked is old news after the answer.
    pub fn discard_pending(&mut self) {
        let mut state = self.shared.lock();
        state.consumed = state.text.len();
    }

    /// Sends raw bytes (keys). Nothing is translated: send `\r` for Enter.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
            .map_err(ConsoleError::Write)
    }

    /// The last `max_chars` characters of the stripped output, for error messages.
    pub fn tail(&self, max_chars: usize) -> String {
        let state = self.shared.lock();
        let text = String::from_utf8_lossy(&state.text);
        let chars: Vec<char> = text.chars().collect();
        let start = chars.len().saturating_sub(max_chars);
        chars[start..].iter().collect()
    }

    /// Whether the other side has closed the console.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().eof
    }
}

fn pump(mut reader: impl Read, mut transcript: Option<File>, shared: &Shared) {
    let mut stripper = AnsiStripper::default();
    let mut chunk = [0u8; 4096];
    loop {
        let read = reader.read(&mut chunk);
        let count = match read {
            Ok(0) => None,
            Ok(count) => Some(count),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            // A pty master reads EIO once the last slave fd is closed: that is end of file.
            Err(error) if error.raw_os_error() == Some(nix::libc::EIO) => None,
            Err(error) => {
                let mut state = shared.lock();
                state.read_error = Some(error.to_string());
                state.eof = true;
                shared.changed.notify_all();
                return;
            }
        };
        let Some(count) = count else {
            shared.lock().eof = true;
            shared.changed.notify_all();
            return;
        };
        let raw = &chunk[..count];
        if let Some(file) = transcript.as_mut()
            && let Err(error) = file.write_all(raw).and_then(|()| file.flush())
        {
            tracing::warn!(%error, "console transcript write failed; transcript is incomplete");
            transcript = None;
        }
        let mut stripped = Vec::with_capacity(count);
        stripper.feed(raw, &mut stripped);
        let mut state = shared.lock();
        let scan_from = state
            .text
            .len()
            .saturating_sub(ABORT_OVERLAP)
            .max(state.abort_floor);
        state.text.extend_from_slice(&stripped);
        if state.aborted.is_none() {
            let window = &state.text[scan_from..];
            let hit = state.abort_patterns.iter().find_map(|abort| {
                abort.pattern.find(window).map(|m| {
                    (
                        abort.meaning.clone(),
                        String::from_utf8_lossy(m.as_bytes()).into_owned(),
                    )
                })
            });
            state.aborted = hit;
        }
        if state.text.len() > MAX_BUFFER {
            let drop = state.text.len() - MAX_BUFFER / 2;
            state.text.drain(..drop);
            state.consumed = state.consumed.saturating_sub(drop);
            state.abort_floor = state.abort_floor.saturating_sub(drop);
        }
        shared.changed.notify_all();
    }
}

/// Removes terminal escape sequences and control characters, keeping text, newlines and tabs.
/// Cursor moves become one space so words on an ncurses screen do not run together.
#[derive(Default)]
pub struct AnsiStripper {
    state: StripState,
}

#[derive(Default, Clone, Copy)]
enum StripState {
    #[default]
    Text,
    Escape,
    Csi,
    Osc,
    OscEscape,
    /// ESC followed by a charset designator (`(`, `)`, …) takes one more byte.
    Designator,
}

impl AnsiStripper {
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            self.state = match (self.state, byte) {
                (StripState::Text, 0x1b) => StripState::Escape,
                (StripState::Text, b'\n' | b'\t') => {
                    out.push(byte);
                    StripState::Text
                }
                (StripState::Text, byte) if byte < 0x20 || byte == 0x7f => StripState::Text,
                (StripState::Text, byte) => {
                    out.push(byte);
                    StripState::Text
                }
                (StripState::Escape, b'[') => StripState::Csi,
                (StripState::Escape, b']') => StripState::Osc,
                (StripState::Escape, b'(' | b')' | b'*' | b'+' | b'#' | b'%') => {
                    StripState::Designator
                }
                (StripState::Escape, _) => StripState::Text,
                (StripState::Csi, 0x40..=0x7e) => {
                    if matches!(byte, b'H' | b'f' | b'C' | b'G' | b'd' | b'B') {
                        out.push(b' ');
                    }
                    StripState::Text
                }
                (StripState::Csi, _) => StripState::Csi,
                (StripState::Osc, 0x07) => StripState::Text,
                (StripState::Osc, 0x1b) => StripState::OscEscape,
                (StripState::Osc, _) => StripState::Osc,
                (StripState::OscEscape, b'\\') => StripState::Text,
                (StripState::OscEscape, _) => StripState::Osc,
                (StripState::Designator, _) => StripState::Text,
            };
        }
    }
}

/// Strips a complete byte string (convenience for tests and one-off use).
pub fn strip_ansi(input: &[u8]) -> String {
    let mut out = Vec::new();
    AnsiStripper::default().feed(input, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn strips_colours_cursor_moves_and_carriage_returns() {
        let raw = b"\x1b[1;37mConsole\x1b[0m type\r\n\x1b[5;10Hstripe:\x1b[2C1 disk\x1b(B\x1b]0;title\x07!";
        assert_eq!(strip_ansi(raw), "Console type\n stripe: 1 disk!");
    }

    #[test]
    fn stripping_survives_sequences_split_across_reads() {
        let mut stripper = AnsiStripper::default();
        let mut out = Vec::new();
        stripper.feed(b"ab\x1b[3", &mut out);
        stripper.feed(b"1mcd", &mut out);
        assert_eq!(out, b"abcd");
    }

    fn pair() -> (Console, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let reader = ours.try_clone().expect("clone");
        (Console::new(reader, ours, None).expect("console"), theirs)
    }

    #[test]
    fn expect_returns_earliest_match_then_timeout_then_eof() {
        let (mut console, mut other) = pair();
        other.write_all(b"zzz second first").unwrap();
        let patterns = [Regex::new("first").unwrap(), Regex::new("second").unwrap()];
        let got = console.expect(&patterns, Duration::from_secs(5)).unwrap();
        assert_eq!(
            got,
            Expected::Matched {
                index: 1,
                text: "second".into()
            }
        );
        let got = console.expect(&patterns, Duration::from_secs(5)).unwrap();
        assert!(matches!(got, Expected::Matched { index: 0, .. }));
        let started = Instant::now();
        let got = console
            .expect(&patterns, Duration::from_millis(200))
            .unwrap();
        assert_eq!(got, Expected::Timeout);
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(other);
        let got = console.expect(&patterns, Duration::from_secs(5)).unwrap();
        assert_eq!(got, Expected::Eof);
    }

    #[test]
    fn abort_pattern_ends_the_wait_early() {
        let (mut console, mut other) = pair();
        console.set_abort_patterns(vec![AbortPattern {
            pattern: Regex::new("up to date").unwrap(),
            meaning: "nothing to upgrade".into(),
        }]);
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            other.write_all(b"Your packages are up ").unwrap();
            thread::sleep(Duration::from_millis(50));
            other.write_all(b"to date\n").unwrap();
            other
        });
        let started = Instant::now();
        let error = console
            .expect(&[Regex::new("never").unwrap()], Duration::from_secs(30))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(error.to_string().contains("nothing to upgrade"), "{error}");
        drop(writer.join());
    }

    #[test]
    fn send_writes_bytes_unchanged_and_transcript_keeps_raw_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let transcript = dir.path().join("console.log");
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut console = Console::new(ours.try_clone().unwrap(), ours, Some(&transcript)).unwrap();
        console.send(b"xterm\r\t").unwrap();
        let mut got = [0u8; 7];
        theirs.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"xterm\r\t");
        theirs.write_all(b"\x1b[1mbold\x1b[0m\n").unwrap();
        console
            .expect(&[Regex::new("bold").unwrap()], Duration::from_secs(5))
            .unwrap();
        drop(theirs);
        console.expect(&[], Duration::from_secs(5)).unwrap();
        assert_eq!(std::fs::read(&transcript).unwrap(), b"\x1b[1mbold\x1b[0m\n");
    }
}
