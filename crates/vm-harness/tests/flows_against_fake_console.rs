//! The real pfSense console flows, run by the real engine against the scripted fake console
//! (`fake-pfsense-console`) on a real pty. The fake checks every key it receives.

use std::fs::File;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use vm_harness::console::Console;
use vm_harness::flow::{
    Action, Branch, Flow, FlowEnd, FlowError, FlowVars, Next, OnEof, RunOptions, Step, run_flow,
};
use vm_harness::pfsense_flows::{
    FIRST_BOOT, HALT, INSTALL, INSTALL_RESTAPI, UPGRADE_FINISH, UPGRADE_START,
};

struct FakeConsole {
    console: Console,
    child: Child,
    _transcript_dir: tempfile::TempDir,
}

impl FakeConsole {
    fn start(args: &[&str]) -> FakeConsole {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave = File::from(pty.slave);
        let child = Command::new(env!("CARGO_BIN_EXE_fake-pfsense-console"))
            .args(args)
            .stdin(slave.try_clone().expect("dup slave"))
            .stdout(slave)
            .spawn()
            .expect("start fake-pfsense-console");
        // The Command's copies of the slave are gone now, so the master reads EOF when it exits.
        let master = File::from(pty.master);
        let dir = tempfile::tempdir().expect("tempdir");
        let console = Console::new(
            master.try_clone().expect("dup master"),
            master,
            Some(&dir.path().join("console.log")),
        )
        .expect("console");
        FakeConsole {
            console,
            child,
            _transcript_dir: dir,
        }
    }

    fn run(&mut self, flow: &Flow, vars: &FlowVars) -> Result<FlowEnd, FlowError> {
        // The fake draws at once; the documented pauses are for real dialogs.
        let options = RunOptions {
            pause_scale: 0.1,
            ..RunOptions::default()
        };
        run_flow(&mut self.console, flow, vars, options)
    }

    /// The fake exits 0 only when every key it expected arrived.
    fn assert_exits_cleanly(mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "fake console exited with {status}; output:\n{}",
                    self.console.tail(2000)
                );
                return;
            }
            assert!(Instant::now() < deadline, "fake console did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FakeConsole {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn restapi_vars(version: &str) -> FlowVars {
    FlowVars::new().set(
        "restapi_pkg_url",
        format!("https://github.com/pfrest/pfSense-pkg-RESTAPI/releases/download/v0/pfSense-{version}-pkg-RESTAPI.pkg"),
    )
}

fn ok(result: Result<FlowEnd, FlowError>) -> FlowEnd {
    result.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn install_flow_completes_with_the_keymap_dialog() {
    let mut fake = FakeConsole::start(&["install"]);
    let end = ok(fake.run(&INSTALL, &FlowVars::new()));
    assert_eq!(
        end,
        FlowEnd::Finished {
            at_step: "installing"
        }
    );
    fake.assert_exits_cleanly();
}

#[test]
fn install_flow_completes_without_the_keymap_dialog() {
    let mut fake = FakeConsole::start(&["install", "--no-keymap"]);
    ok(fake.run(&INSTALL, &FlowVars::new()));
    fake.assert_exits_cleanly();
}

#[test]
fn first_boot_with_vlan_prompt_and_ssh_off_then_rest_api_install() {
    let mut fake = FakeConsole::start(&["first-boot"]);
    ok(fake.run(&FIRST_BOOT, &FlowVars::new()));
    ok(fake.run(&INSTALL_RESTAPI, &restapi_vars("2.7.2")));
    fake.assert_exits_cleanly();
}

#[test]
fn first_boot_without_vlan_prompt_and_ssh_already_on() {
    let mut fake = FakeConsole::start(&["first-boot", "--no-vlan-prompt", "--ssh-enabled"]);
    ok(fake.run(&FIRST_BOOT, &FlowVars::new()));
    ok(fake.run(&INSTALL_RESTAPI, &restapi_vars("2.7.2")));
    fake.assert_exits_cleanly();
}

#[test]
fn upgrade_with_reboots_inside_one_qemu_process() {
    let mut fake = FakeConsole::start(&["upgrade-start"]);
    assert!(matches!(
        ok(fake.run(&UPGRADE_START, &FlowVars::new())),
        FlowEnd::Finished { .. }
    ));
    assert!(matches!(
        ok(fake.run(&UPGRADE_FINISH, &FlowVars::new())),
        FlowEnd::Finished { .. }
    ));
    ok(fake.run(&INSTALL_RESTAPI, &restapi_vars("2.8.1")));
    assert_eq!(
        ok(fake.run(&HALT, &FlowVars::new())),
        FlowEnd::ConsoleClosed {
            at_step: "power off"
        }
    );
    fake.assert_exits_cleanly();
}

#[test]
fn upgrade_when_qemu_exits_at_each_reboot() {
    let mut fake = FakeConsole::start(&["upgrade-start", "--reboot-exits"]);
    assert_eq!(
        ok(fake.run(&UPGRADE_START, &FlowVars::new())),
        FlowEnd::ConsoleClosed {
            at_step: "upgrade reboot"
        }
    );
    fake.assert_exits_cleanly();

    // QEMU is started again: a new console.
    let mut fake = FakeConsole::start(&["upgrade-finish", "--reboot-exits"]);
    ok(fake.run(&UPGRADE_FINISH, &FlowVars::new()));
    fake.assert_exits_cleanly();

    let mut fake = FakeConsole::start(&["restapi-281"]);
    ok(fake.run(&INSTALL_RESTAPI, &restapi_vars("2.8.1")));
    ok(fake.run(&HALT, &FlowVars::new()));
    fake.assert_exits_cleanly();
}

#[test]
fn upgrade_stops_at_once_on_packages_up_to_date() {
    let mut fake = FakeConsole::start(&[
        "upgrade-start",
        "--abort-with",
        "Your packages are up to date",
    ]);
    let started = Instant::now();
    let error = fake.run(&UPGRADE_START, &FlowVars::new()).unwrap_err();
    let message = error.to_string();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(error.step, "upgrade reboot");
    assert!(
        message.contains("\"Your packages are up to date\""),
        "{message}"
    );
    assert!(
        message.contains("restore the pre-upgrade disk"),
        "{message}"
    );
}

#[test]
fn upgrade_stops_at_once_on_abi_mismatch_question() {
    let mut fake = FakeConsole::start(&[
        "upgrade-start",
        "--abort-with",
        "Ignore the mismatch and continue? [y/N]:",
    ]);
    let error = fake.run(&UPGRADE_START, &FlowVars::new()).unwrap_err();
    assert!(error.to_string().contains("IGNORE_OSVERSION"), "{error}");
}

#[test]
fn install_stops_at_once_on_installer_failure() {
    let mut fake = FakeConsole::start(&[
        "install",
        "--abort-with",
        "Installation failed: gpart: vtbd0: no space",
    ]);
    let started = Instant::now();
    let error = fake.run(&INSTALL, &FlowVars::new()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(error.step, "installing");
    assert!(
        error.to_string().contains("the installer gave up"),
        "{error}"
    );
}

/// The fake console really checks keys: Enter at Last Chance without Tab picks the default NO,
/// and the flow fails with a message that says so (not with a timeout).
#[test]
fn last_chance_answered_with_enter_alone_fails_clearly() {
    let mut steps: Vec<Step> = Vec::new();
    for step in INSTALL.steps {
        if step.label() == "last chance" {
            steps.push(Step::Wait {
                label: "last chance",
                timeout_secs: 60,
                branches: &[Branch {
                    when: "Last Chance",
                    actions: &[Action::PauseMs(200), Action::Keys("\r")],
                    then: Next::Continue,
                }],
                on_timeout: None,
                on_eof: OnEof::Fail,
            });
        } else {
            steps.push(clone_step(step));
        }
    }
    let wrong: &'static Flow = Box::leak(Box::new(Flow {
        name: "install-without-tab",
        abort_on: INSTALL.abort_on,
        steps: Box::leak(steps.into_boxed_slice()),
    }));
    let mut fake = FakeConsole::start(&["install", "--no-keymap"]);
    let error = fake.run(wrong, &FlowVars::new()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("Last Chance answered NO"), "{message}");
    assert!(message.contains("installer gave up"), "{message}");
}

fn clone_step(step: &'static Step) -> Step {
    match step {
        Step::Wait {
            label,
            timeout_secs,
            branches,
            on_timeout,
            on_eof,
        } => Step::Wait {
            label,
            timeout_secs: *timeout_secs,
            branches,
            on_timeout: on_timeout.as_ref().map(|f| vm_harness::flow::Fallback {
                actions: f.actions,
                then: f.then,
            }),
            on_eof: *on_eof,
        },
        Step::Type { label, keys } => Step::Type { label, keys },
        Step::Shell {
            label,
            command,
            timeout_secs,
            allow_failure,
        } => Step::Shell {
            label,
            command,
            timeout_secs: *timeout_secs,
            allow_failure: *allow_failure,
        },
    }
}

/// A flow that sends the wrong answer gets the fake's complaint in its error, not a timeout.
#[test]
fn wrong_answer_is_reported_with_the_fake_consoles_message() {
    static WRONG_WAN: Flow = Flow {
        name: "wrong-wan",
        abort_on: &[],
        steps: &[
            Step::Wait {
                label: "vlans",
                timeout_secs: 30,
                branches: &[Branch {
                    when: "Should VLANs be set up now",
                    actions: &[Action::Keys("n\r")],
                    then: Next::Continue,
                }],
                on_timeout: None,
                on_eof: OnEof::Fail,
            },
            Step::Wait {
                label: "wan",
                timeout_secs: 30,
                branches: &[Branch {
                    when: "WAN interface name",
                    actions: &[Action::Keys("em1\n")],
                    then: Next::Continue,
                }],
                on_timeout: None,
                on_eof: OnEof::Fail,
            },
            Step::Wait {
                label: "lan",
                timeout_secs: 30,
                branches: &[Branch {
                    when: "LAN interface name",
                    actions: &[],
                    then: Next::Continue,
                }],
                on_timeout: None,
                on_eof: OnEof::Fail,
            },
        ],
    };
    let mut fake = FakeConsole::start(&["first-boot"]);
    let error = fake.run(&WRONG_WAN, &FlowVars::new()).unwrap_err();
    let message = error.to_string();
    assert_eq!(error.step, "lan");
    assert!(message.contains("closed unexpectedly"), "{message}");
    assert!(message.contains("FAKE CONSOLE ERROR: at wan"), "{message}");
}
