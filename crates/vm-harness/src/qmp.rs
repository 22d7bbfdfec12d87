//! A small QMP client (QEMU Machine Protocol: JSON lines over the monitor's unix socket).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects (retrying until QEMU has created the socket) and leaves capabilities negotiation.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("cannot connect to QMP at {}: {e}", path.display()));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_message(Duration::from_secs(10))?;
        if greeting.get("QMP").is_none() {
            return Err(format!("unexpected QMP greeting: {greeting}"));
        }
        qmp.execute("qmp_capabilities", None, Duration::from_secs(10))?;
        Ok(qmp)
    }

    fn read_message(&mut self, timeout: Duration) -> Result<Value, String> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err("QMP connection closed (QEMU exited)".into()),
            Ok(_) => {
                serde_json::from_str(&line).map_err(|e| format!("bad QMP message {line:?}: {e}"))
            }
            Err(e) => Err(format!("reading QMP: {e}")),
        }
    }

    /// Runs a command and returns its `return` value. Asynchronous events are skipped.
    pub fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, String> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| format!("sending QMP {command}: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(format!("QMP {command} did not answer within {timeout:?}"));
            }
            let message = self.read_message(remaining)?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                return Err(format!(
                    "QMP {command} failed: {}",
                    error
                        .get("desc")
                        .and_then(Value::as_str)
                        .unwrap_or("no description")
                ));
            }
        }
    }

    /// Runs a human-monitor command (`savevm`, `loadvm`). HMP reports errors as output text.
    pub fn human(&mut self, command_line: &str, timeout: Duration) -> Result<String, String> {
        let output = self.execute(
            "human-monitor-command",
            Some(json!({ "command-line": command_line })),
            timeout,
        )?;
        let text = output.as_str().unwrap_or_default().trim().to_owned();
        if text.to_ascii_lowercase().contains("error") {
            return Err(format!("`{command_line}` failed: {text}"));
        }
        Ok(text)
    }
}
