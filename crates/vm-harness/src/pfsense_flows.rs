//! The pfSense serial-console flows, as tables (facts from `docs/golden-image.md`).
//!
//! Dialog keys are letters, Tab and `\r` only: ncurses reads a lone escape byte (the start of an
//! arrow key) as Cancel. Flows that start at the console menu wait for `Enter an option:` and end
//! without consuming the next menu, so they can be chained on one boot or run after a fresh boot.

use crate::flow::{AbortString, Action, Branch, Fallback, Flow, Next, OnEof, Step};

use Action::{Keys, PauseMs};

const KERNEL_CRASH: [AbortString; 2] = [
    AbortString {
        pattern: r"panic: ",
        meaning: "the guest kernel panicked",
    },
    AbortString {
        pattern: r"Fatal trap \d+",
        meaning: "the guest kernel crashed",
    },
];

const MENU: &str = r"Enter an option:";
const SHELL_PROMPT: &str = r"home\.arpa";
const REBOOTING: &str = r"Rebooting|syncing disks|Uptime";

const PKG_ABI_OVERRIDE: &str =
    r"printf 'ABI=FreeBSD:15:amd64\nALTABI=freebsd:15:x86:64\n' > /usr/local/etc/pkg.conf";
const PKG_REPO_OVERRIDE: &str = "ln -sf /usr/local/etc/pfSense/pkg/repos/pfSense-repo-2_8_1.conf /usr/local/etc/pkg/repos/pfSense.conf";

const fn wait(label: &'static str, timeout_secs: u64, branches: &'static [Branch]) -> Step {
    Step::Wait {
        label,
        timeout_secs,
        branches,
        on_timeout: None,
        on_eof: OnEof::Fail,
    }
}

const fn shell(label: &'static str, command: &'static str, timeout_secs: u64) -> Step {
    Step::Shell {
        label,
        command,
        timeout_secs,
        allow_failure: false,
    }
}

const fn answer(when: &'static str, actions: &'static [Action]) -> Branch {
    Branch {
        when,
        actions,
        then: Next::Continue,
    }
}

/// Installer on the serial memstick: Auto ZFS, stripe on the one virtio disk. QEMU runs with
/// `-no-reboot`, so the console closing at the final reboot is a normal end.
pub static INSTALL: Flow = Flow {
    name: "install",
    abort_on: &[
        AbortString {
            pattern: r"(?i)installation (was )?(aborted|failed)|installer error",
            meaning: "the installer gave up (see the console output above)",
        },
        KERNEL_CRASH[0],
        KERNEL_CRASH[1],
    ],
    steps: &[
        wait(
            "console type",
            600,
            &[answer("Console type", &[PauseMs(1000), Keys("xterm\r")])],
        ),
        wait(
            "licence",
            120,
            &[answer(
                "Copyright|Trademark|Redistribution",
                &[PauseMs(2000), Keys("\r")],
            )],
        ),
        wait(
            "install menu",
            120,
            &[answer(
                "Install.*Rescue|Install.*pfSense",
                &[PauseMs(1000), Keys("\r")],
            )],
        ),
        // The keymap dialog does not always appear; when the partitioning dialog comes first it is
        // answered here. When neither matches, Enter is what the dialog wants.
        Step::Wait {
            label: "keymap",
            timeout_secs: 60,
            branches: &[
                answer("Keymap|keymap|Continue with", &[PauseMs(1000), Keys("\r")]),
                Branch {
                    when: "Partitioning|How would you like|Auto.*ZFS",
                    actions: &[PauseMs(1000), Keys("\r")],
                    then: Next::Goto("zfs configuration"),
                },
            ],
            on_timeout: Some(Fallback {
                actions: &[Keys("\r")],
                then: Next::Continue,
            }),
            on_eof: OnEof::Fail,
        },
        wait(
            "partitioning",
            120,
            &[answer(
                "Partitioning|How would you like|Auto.*ZFS",
                &[PauseMs(1000), Keys("\r")],
            )],
        ),
        wait(
            "zfs configuration",
            120,
            &[answer(
                "ZFS Configuration|Configure Options|Pool Type",
                &[PauseMs(1000), Keys("T"), PauseMs(500), Keys("\r")],
            )],
        ),
        wait(
            "vdev type",
            60,
            &[answer(
                "stripe|Virtual Device",
                &[PauseMs(1000), Keys("\r")],
            )],
        ),
        wait(
            "disk",
            60,
            &[answer(
                "vtbd0|VirtIO|ZFS.*Disks",
                &[PauseMs(1000), Keys(" "), PauseMs(500), Keys("\r")],
            )],
        ),
        // The dialog title renders before the pool summary; only the summary says the disk stuck.
        wait(
            "zfs ready",
            60,
            &[answer(
                r"stripe:\s*1\s*disk",
                &[PauseMs(1000), Keys(">"), PauseMs(1000), Keys("\r")],
            )],
        ),
        // NO is focused: Tab moves to YES.
        wait(
            "last chance",
            60,
            &[answer(
                "Last Chance|Are you sure",
                &[PauseMs(1000), Keys("\t"), PauseMs(500), Keys("\r")],
            )],
        ),
        Step::Wait {
            label: "installing",
            timeout_secs: 1800,
            branches: &[
                Branch {
                    when: REBOOTING,
                    actions: &[],
                    then: Next::Finish,
                },
                Branch {
                    when: "Complete|Manual Configuration",
                    actions: &[PauseMs(1000), Keys("\r")],
                    then: Next::Goto("installing"),
                },
            ],
            on_timeout: None,
            on_eof: OnEof::Finish,
        },
    ],
};

/// First boot of the installed disk: interface assignment (only asked on the very first boot) and
/// SSH enabled whichever state it is in. Ends right after the SSH answer.
pub static FIRST_BOOT: Flow = Flow {
    name: "first-boot",
    abort_on: &KERNEL_CRASH,
    steps: &[
        wait(
            "boot",
            1200,
            &[
                answer("Should VLANs be set up now", &[PauseMs(500), Keys("n\r")]),
                Branch {
                    when: MENU,
                    actions: &[PauseMs(500), Keys("14\r")],
                    then: Next::Goto("ssh toggle"),
                },
            ],
        ),
        wait(
            "wan",
            120,
            &[answer("WAN interface name", &[PauseMs(500), Keys("em0\r")])],
        ),
        wait(
            "lan",
            120,
            &[answer("LAN interface name", &[PauseMs(500), Keys("em1\r")])],
        ),
        wait(
            "optional 1",
            120,
            &[
                answer("Optional 1 interface name", &[PauseMs(500), Keys("\r")]),
                Branch {
                    when: "Do you want to proceed",
                    actions: &[PauseMs(500), Keys("y\r")],
                    then: Next::Goto("menu"),
                },
            ],
        ),
        wait(
            "proceed",
            120,
            &[answer(
                "Do you want to proceed",
                &[PauseMs(500), Keys("y\r")],
            )],
        ),
        wait("menu", 900, &[answer(MENU, &[PauseMs(500), Keys("14\r")])]),
        wait(
            "ssh toggle",
            120,
            &[
                answer("Would you like to enable", &[PauseMs(500), Keys("y\r")]),
                answer("Would you like to disable", &[PauseMs(500), Keys("n\r")]),
            ],
        ),
    ],
};

/// From the console menu: install the REST API package given as `{{restapi_pkg_url}}`, open the
/// WAN (QEMU user networking is a private range pfSense would block), back to the menu.
pub static INSTALL_RESTAPI: Flow = Flow {
    name: "install-restapi",
    abort_on: &[
        AbortString {
            pattern: r"pkg-static: .*(No such file|not found|Unable to|failed)",
            meaning: "pkg could not fetch or install the REST API package",
        },
        KERNEL_CRASH[0],
        KERNEL_CRASH[1],
    ],
    steps: &[
        wait("menu", 1800, &[answer(MENU, &[PauseMs(500), Keys("8\r")])]),
        wait("shell prompt", 120, &[answer(SHELL_PROMPT, &[])]),
        shell(
            "add package",
            "pkg-static -C /dev/null add {{restapi_pkg_url}}",
            600,
        ),
        // Prints a harmless complaint about php_fpm_enable.
        Step::Shell {
            label: "restart php-fpm",
            command: "service php-fpm restart",
            timeout_secs: 120,
            allow_failure: true,
        },
        shell(
            "allow all on wan",
            "pfSsh.php playback enableallowallwan",
            300,
        ),
        Step::Type {
            label: "leave shell",
            keys: "exit\r",
        },
    ],
};

const UPGRADE_ABORTS: [AbortString; 4] = [
    AbortString {
        pattern: r"Your packages are up to date",
        meaning: "pfSense-upgrade found nothing to do: the 2.8.1 repository override did not take; restore the pre-upgrade disk and retry",
    },
    AbortString {
        pattern: r"Ignore the mismatch",
        meaning: "pkg stopped at an ABI mismatch question: IGNORE_OSVERSION was not set; restore the pre-upgrade disk and retry",
    },
    KERNEL_CRASH[0],
    KERNEL_CRASH[1],
];

/// Upgrade 2.7.2 → 2.8.1, part one: point pkg at the 2.8.1 repository and start the upgrade.
/// Ends at the reboot; QEMU may exit there (`ConsoleClosed`) and must then be started again.
pub static UPGRADE_START: Flow = Flow {
    name: "upgrade-start",
    abort_on: &UPGRADE_ABORTS,
    steps: &[
        wait("menu", 1800, &[answer(MENU, &[PauseMs(500), Keys("8\r")])]),
        wait("shell prompt", 120, &[answer(SHELL_PROMPT, &[])]),
        shell("ignore osversion", "setenv IGNORE_OSVERSION yes", 60),
        shell("pkg abi", PKG_ABI_OVERRIDE, 60),
        shell("repo link", PKG_REPO_OVERRIDE, 60),
        shell(
            "repo default marker",
            "rm -f /usr/local/etc/pfSense/pkg/repos/pfSense-repo-2.7.2.default && touch /usr/local/etc/pfSense/pkg/repos/pfSense-repo-2_8_1.default",
            60,
        ),
        Step::Shell {
            label: "pkg clean",
            command: "pkg-static clean -ay",
            timeout_secs: 300,
            allow_failure: true,
        },
        shell("pkg update", "pkg-static update -f", 600),
        shell(
            "upgrade toolchain",
            "pkg-static install -fy pkg pfSense-repo pfSense-upgrade",
            900,
        ),
        // The toolchain install resets both overrides.
        shell("pkg abi again", PKG_ABI_OVERRIDE, 60),
        shell("repo link again", PKG_REPO_OVERRIDE, 60),
        Step::Type {
            label: "start upgrade",
            keys: "pfSense-upgrade -U -y\r",
        },
        Step::Wait {
            label: "upgrade reboot",
            timeout_secs: 2400,
            branches: &[Branch {
                when: REBOOTING,
                actions: &[],
                then: Next::Finish,
            }],
            on_timeout: None,
            on_eof: OnEof::Finish,
        },
    ],
};

/// Upgrade part two, after the kernel reboot: the dynamically linked pkg is broken (missing
/// libmd.so.7), so re-apply the overrides, upgrade everything with pkg-static, reboot again.
pub static UPGRADE_FINISH: Flow = Flow {
    name: "upgrade-finish",
    abort_on: &UPGRADE_ABORTS,
    steps: &[
        wait("menu", 2400, &[answer(MENU, &[PauseMs(500), Keys("8\r")])]),
        wait("shell prompt", 120, &[answer(SHELL_PROMPT, &[])]),
        shell("ignore osversion", "setenv IGNORE_OSVERSION yes", 60),
        shell("pkg abi", PKG_ABI_OVERRIDE, 60),
        shell("repo link", PKG_REPO_OVERRIDE, 60),
        shell("pkg update", "pkg-static update -f", 600),
        shell("pkg upgrade", "pkg-static upgrade -fy", 2400),
        Step::Type {
            label: "reboot",
            keys: "reboot\r",
        },
        Step::Wait {
            label: "second reboot",
            timeout_secs: 600,
            branches: &[Branch {
                when: REBOOTING,
                actions: &[],
                then: Next::Finish,
            }],
            on_timeout: None,
            on_eof: OnEof::Finish,
        },
    ],
};

/// From the console menu: option 6 powers the firewall off; QEMU exits when it is done.
pub static HALT: Flow = Flow {
    name: "halt",
    abort_on: &[],
    steps: &[
        wait("menu", 1800, &[answer(MENU, &[PauseMs(500), Keys("6\r")])]),
        wait(
            "confirm",
            60,
            &[answer(
                "Do you want to proceed",
                &[PauseMs(500), Keys("y\r")],
            )],
        ),
        Step::Wait {
            label: "power off",
            timeout_secs: 300,
            branches: &[],
            on_timeout: None,
            on_eof: OnEof::Finish,
        },
    ],
};

/// Every flow, for validation and `--help`.
pub static ALL_FLOWS: [&Flow; 6] = [
    &INSTALL,
    &FIRST_BOOT,
    &INSTALL_RESTAPI,
    &UPGRADE_START,
    &UPGRADE_FINISH,
    &HALT,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowVars, validate};

    #[test]
    fn every_flow_table_is_valid() {
        let vars = FlowVars::new().set("restapi_pkg_url", "https://example.invalid/x.pkg");
        for flow in ALL_FLOWS {
            validate(flow, &vars).unwrap_or_else(|e| panic!("{}: {e}", flow.name));
        }
    }

    #[test]
    fn no_flow_sends_escape_bytes_or_newlines() {
        for flow in ALL_FLOWS {
            for step in flow.steps {
                let mut keys: Vec<&str> = Vec::new();
                match step {
                    Step::Wait {
                        branches,
                        on_timeout,
                        ..
                    } => {
                        for branch in *branches {
                            for action in branch.actions {
                                if let Keys(k) = action {
                                    keys.push(k);
                                }
                            }
                        }
                        if let Some(fallback) = on_timeout {
                            for action in fallback.actions {
                                if let Keys(k) = action {
                                    keys.push(k);
                                }
                            }
                        }
                    }
                    Step::Type { keys: k, .. } => keys.push(k),
                    Step::Shell { command, .. } => keys.push(command),
                }
                for k in keys {
                    assert!(!k.contains('\x1b'), "{}: escape byte in {k:?}", flow.name);
                    assert!(!k.contains('\n'), "{}: newline in {k:?}", flow.name);
                }
            }
        }
    }
}
