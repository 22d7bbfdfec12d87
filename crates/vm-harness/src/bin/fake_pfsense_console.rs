//! A scripted stand-in for the pfSense serial console, for testing the console flows without
//! pfSense. It prints the prompts documented in `docs/golden-image.md` (with ANSI colours and
//! cursor moves, as ncurses does), checks every key it receives, and on a wrong key prints
//! `FAKE CONSOLE ERROR: …` and exits with status 2. Run it on a pty: it puts its terminal in raw
//! mode like the real dialogs do.
//!
//! Usage: fake-pfsense-console SCENARIO [OPTIONS]
//!   install        [--no-keymap]
//!   first-boot     [--no-vlan-prompt] [--ssh-enabled]   (then the REST API install from the menu)
//!   upgrade-start  [--reboot-exits]                     (upgrade part one)
//!   upgrade-finish [--reboot-exits]                     (after the kernel reboot)
//!   restapi-281                                         (REST API 2.8.1 package, then halt)
//! `upgrade-start` without `--reboot-exits` goes on with the later phases in the same process, as
//! when the reboot happens inside one QEMU process.
//! `--abort-with TEXT` prints TEXT during the long-running part and then hangs, so a test can show
//! that the flow stops at once on a failure string instead of waiting for its timeout.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const KEY_TIMEOUT: Duration = Duration::from_secs(30);

struct Fake {
    /// Unbuffered on purpose: `poll` must see every byte not yet read (std's Stdin buffers).
    stdin: std::fs::File,
    stdout: std::io::Stdout,
    abort_with: Option<String>,
}

/// Why the fake stopped early.
struct Stop(String);

type Result<T> = std::result::Result<T, Stop>;

fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

impl Fake {
    fn print(&mut self, text: &str) {
        // Output errors mean the other side went away; the next read notices.
        let _ = self.stdout.write_all(text.as_bytes());
        let _ = self.stdout.flush();
    }

    fn dialog(&mut self, title: &str, body: &str) {
        self.print(&format!(
            "\x1b[H\x1b[2J\x1b[1;44m\x1b[3;10H\x1b[1;37m{title}\x1b[0m\x1b[5;10H{body}\x1b[0m\r\n"
        ));
    }

    fn read_byte(&mut self, deadline: Instant, step: &str) -> Result<u8> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let mut fds = [nix::poll::PollFd::new(
            self.stdin.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(millis)) {
            Ok(0) => return Err(Stop(format!("at {step}: no key within {KEY_TIMEOUT:?}"))),
            Ok(_) => {}
            Err(e) => return Err(Stop(format!("at {step}: poll failed: {e}"))),
        }
        let mut byte = [0u8; 1];
        match self.stdin.read(&mut byte) {
            Ok(1) => Ok(byte[0]),
            _ => Err(Stop(format!("at {step}: the console was closed"))),
        }
    }

    /// Dialog keys: exactly these bytes, in this order.
    fn keys(&mut self, step: &str, expected: &[u8]) -> Result<()> {
        let deadline = Instant::now() + KEY_TIMEOUT;
        let mut got = Vec::new();
        for &want in expected {
            let byte = self.read_byte(deadline, step)?;
            got.push(byte);
            if byte == 0x1b {
                return Err(Stop(format!(
                    "at {step}: received an escape byte (arrow key?); ncurses would take it as Cancel"
                )));
            }
            if byte != want {
                return Err(Stop(format!(
                    "at {step}: expected keys \"{}\" but received \"{}\"",
                    escape(expected),
                    escape(&got)
                )));
            }
        }
        Ok(())
    }

    /// A line typed at a prompt, echoed like a tty does, ended by `\r`.
    fn line(&mut self, step: &str) -> Result<String> {
        let deadline = Instant::now() + KEY_TIMEOUT;
        let mut line = Vec::new();
        loop {
            let byte = self.read_byte(deadline, step)?;
            match byte {
                b'\r' => break,
                b'\n' => {
                    return Err(Stop(format!(
                        "at {step}: received \\n; a serial console wants \\r for Enter"
                    )));
                }
                0x1b => {
                    return Err(Stop(format!("at {step}: received an escape byte")));
                }
                _ => {
                    line.push(byte);
                    let _ = self.stdout.write_all(&[byte]);
                    let _ = self.stdout.flush();
                }
            }
        }
        self.print("\r\n");
        String::from_utf8(line).map_err(|_| Stop(format!("at {step}: the line is not UTF-8")))
    }

    fn expect_line(&mut self, step: &str, expected: &str) -> Result<()> {
        let got = self.line(step)?;
        if got != expected {
            return Err(Stop(format!(
                "at {step}: expected the answer {expected:?} but received {got:?}"
            )));
        }
        Ok(())
    }

    fn boot_noise(&mut self, version: &str) {
        self.print("\x1b[H\x1b[2JConsoles: serial port\r\nBIOS drive C: is disk0\r\n");
        self.print(&format!(
            "FreeBSD/amd64 bootstrap loader\r\nBooting...\r\npfSense {version} booting\r\n"
        ));
    }

    fn menu(&mut self, version: &str) {
        self.print(&format!(
            "\r\npfSense - Netgate Device ID: fa4e\r\n*** Welcome to pfSense {version}-RELEASE (amd64) on pfSense ***\r\n\
             WAN (wan) -> em0 -> v4/DHCP4: 10.0.2.15/24\r\nLAN (lan) -> em1 -> v4: 192.168.1.1/24\r\n\
             0) Logout (SSH only)   8) Shell\r\n6) Halt system         14) Enable Secure Shell (sshd)\r\n\r\n\
             Enter an option: "
        ));
    }

    fn menu_choice(&mut self, version: &str, step: &str, expected: &str) -> Result<()> {
        self.menu(version);
        self.expect_line(step, expected)
    }

    fn prompt(&mut self, version: &str) {
        // The real prompt has colour codes between its parts.
        self.print(&format!(
            "\x1b[1m[{version}-RELEASE]\x1b[0m\x1b[1m[root@pfSense.home.arpa]\x1b[0m/root: "
        ));
    }

    /// One command at the tcsh prompt. The flows append `; echo VMH-RC-$status`; the fake plays
    /// tcsh and prints the status itself.
    fn shell_command(
        &mut self,
        version: &str,
        step: &str,
        check: impl Fn(&str) -> bool,
        output: &str,
        status: u8,
    ) -> Result<()> {
        self.prompt(version);
        let line = self.line(step)?;
        let Some(command) = line.strip_suffix(" ; echo VMH-RC-$status") else {
            return Err(Stop(format!(
                "at {step}: the command line {line:?} does not end with the exit-status marker"
            )));
        };
        if !check(command) {
            return Err(Stop(format!("at {step}: unexpected command {command:?}")));
        }
        self.print(output);
        self.print(&format!("VMH-RC-{status}\r\n"));
        Ok(())
    }

    fn exact(&mut self, version: &str, step: &str, expected: &str, output: &str) -> Result<()> {
        let expected = expected.to_owned();
        self.shell_command(version, step, move |c| c == expected, output, 0)
    }

    fn long_running(&mut self) {
        if let Some(text) = self.abort_with.clone() {
            self.print(&format!("{text}\r\n"));
            // Hang like a stuck installer would: the flow must stop on the text, not on a timeout.
            std::thread::sleep(Duration::from_secs(120));
        }
    }

    fn install(&mut self, keymap: bool) -> Result<()> {
        self.print("Booting from memstick...\r\n\r\nConsole type [vt100]: ");
        self.keys("console type", b"xterm\r")?;
        self.dialog(
            "Copyright and Trademark Notices",
            "Copyright(c) 2004-2023 Rubicon Communications\r\nRedistribution and use ... <Accept>",
        );
        self.keys("licence", b"\r")?;
        self.dialog(
            "Welcome",
            "Install    Install pfSense\r\n Rescue Shell   Launch a shell for rescue operations",
        );
        self.keys("install menu", b"\r")?;
        if keymap {
            self.dialog(
                "Keymap Selection",
                ">>> Continue with default keymap\r\n->- Test default keymap",
            );
            self.keys("keymap", b"\r")?;
        }
        self.dialog(
            "Partitioning",
            "How would you like to partition your disk?\r\n Auto (ZFS)   Guided Root-on-ZFS",
        );
        self.keys("partitioning", b"\r")?;
        self.dialog("ZFS Configuration", "Configure Options:\r\n>>> Install  Proceed with Installation\r\nT Pool Type/Disks\x1b[8;40Hstripe: 0 disks");
        self.keys("zfs configuration", b"T\r")?;
        self.dialog(
            "ZFS Configuration",
            "Select Virtual Device type:\r\nstripe  Stripe - No Redundancy",
        );
        self.keys("vdev type", b"\r")?;
        self.dialog("ZFS Configuration", "[ ] vtbd0  VirtIO Block Device");
        self.keys("disk", b" \r")?;
        // The title first, the pool summary a moment later, as the real dialog redraws.
        self.print("\x1b[H\x1b[2J\x1b[3;10HZFS Configuration\r\n");
        std::thread::sleep(Duration::from_millis(300));
        self.print("\x1b[6;10HT Pool Type/Disks:\x1b[6;40Hstripe: 1 disk\r\n");
        self.keys("zfs ready", b">\r")?;
        self.dialog("ZFS Configuration", "Last Chance! Are you sure you want to destroy the current contents of the following disks:\r\n vtbd0\r\n   < YES >   \x1b[7m< NO  >\x1b[0m");
        let deadline = Instant::now() + KEY_TIMEOUT;
        match self.read_byte(deadline, "last chance")? {
            b'\t' => self.keys("last chance", b"\r")?,
            b'\r' => {
                self.print("\r\nInstallation aborted: Last Chance answered NO (the default)\r\n");
                return Err(Stop("at last chance: Enter without Tab chose NO".into()));
            }
            other => {
                return Err(Stop(format!(
                    "at last chance: expected Tab then Enter but received \"{}\"",
                    escape(&[other])
                )));
            }
        }
        self.print(
            "\x1b[H\x1b[2JChecksum verification\r\nArchive Extraction\r\n base.txz  [  10%]\r\n",
        );
        self.long_running();
        self.print(" base.txz  [ 100%]\r\n");
        self.dialog(
            "Manual Configuration",
            "The installation is now finished. Would you like to open a shell?  < Yes >  < No >",
        );
        self.keys("manual configuration", b"\r")?;
        self.dialog(
            "Complete",
            "Installation of pfSense complete! Would you like to reboot?  < Reboot >",
        );
        self.keys("complete", b"\r")?;
        self.print("\x1b[H\x1b[2JWaiting (max 60 seconds) for system process `vnlru' to stop... done\r\nsyncing disks... All buffers synced.\r\nUptime: 4m12s\r\nRebooting...\r\n");
        Ok(())
    }

    fn first_boot(&mut self, vlan_prompt: bool, ssh_enabled: bool) -> Result<()> {
        self.boot_noise("2.7.2");
        if vlan_prompt {
            self.print("\r\nValid interfaces are:\r\n\r\nem0 52:54:00:00:00:01 (up) Intel(R) Legacy PRO/1000 MT\r\nem1 52:54:00:00:00:02\r\nem2 52:54:00:00:00:03\r\n\r\nDo VLANs need to be set up first?\r\nShould VLANs be set up now [y|n]? ");
            self.expect_line("vlans", "n")?;
            self.print("\r\nEnter the WAN interface name or 'a' for auto-detection\r\n(em0 em1 em2 or a): ");
            self.expect_line("wan", "em0")?;
            self.print("\r\nEnter the LAN interface name or 'a' for auto-detection\r\nNOTE: this enables full Firewalling/NAT mode.\r\n(em1 em2 a or nothing if finished): ");
            self.expect_line("lan", "em1")?;
            self.print("\r\nEnter the Optional 1 interface name or 'a' for auto-detection\r\n(em2 a or nothing if finished): ");
            self.expect_line("optional 1", "")?;
            self.print("\r\nThe interfaces will be assigned as follows:\r\nWAN  -> em0\r\nLAN  -> em1\r\n\r\nDo you want to proceed [y|n]? ");
            self.expect_line("proceed", "y")?;
        }
        self.menu_choice("2.7.2", "menu (ssh)", "14")?;
        if ssh_enabled {
            self.print("\r\nSSHD is currently enabled.  Would you like to disable? [y/n]? ");
            self.expect_line("ssh toggle", "n")?;
        } else {
            self.print("\r\nSSHD is currently disabled.  Would you like to enable? [y/n]? ");
            self.expect_line("ssh toggle", "y")?;
            self.print("\r\nWriting configuration... done.\r\nEnabling SSHD...\r\n");
        }
        self.restapi("2.7.2", "pfSense-2.7.2-pkg-RESTAPI.pkg")
    }

    fn restapi(&mut self, version: &str, package: &str) -> Result<()> {
        self.menu_choice(version, "menu (shell)", "8")?;
        self.print("\r\n");
        let package = package.to_owned();
        self.shell_command(
            version,
            "add package",
            move |c| c.starts_with("pkg-static -C /dev/null add https://") && c.ends_with(&package),
            "Installing pfSense-pkg-RESTAPI...\r\nExtracting pfSense-pkg-RESTAPI: 100%\r\n",
            0,
        )?;
        self.shell_command(
            version,
            "restart php-fpm",
            |c| c == "service php-fpm restart",
            "Cannot 'restart' php_fpm. Set php_fpm_enable to YES in /etc/rc.conf\r\n",
            1,
        )?;
        self.exact(
            version,
            "allow all on wan",
            "pfSsh.php playback enableallowallwan",
            "Adding allow all rule for WAN\r\n",
        )?;
        self.prompt(version);
        self.expect_line("leave shell", "exit")?;
        Ok(())
    }

    fn overrides(&mut self, version: &str, suffix: &str) -> Result<()> {
        self.exact(
            version,
            &format!("pkg abi{suffix}"),
            r"printf 'ABI=FreeBSD:15:amd64\nALTABI=freebsd:15:x86:64\n' > /usr/local/etc/pkg.conf",
            "",
        )?;
        self.exact(version, &format!("repo link{suffix}"), "ln -sf /usr/local/etc/pfSense/pkg/repos/pfSense-repo-2_8_1.conf /usr/local/etc/pkg/repos/pfSense.conf", "")
    }

    fn reboot(&mut self, reboot_exits: bool) -> Option<()> {
        self.print("\r\nsyncing disks... All buffers synced.\r\nUptime: 31m2s\r\nRebooting...\r\n");
        // When QEMU exits at the reboot the console just ends.
        if reboot_exits { None } else { Some(()) }
    }

    fn upgrade_start(&mut self, reboot_exits: bool) -> Result<()> {
        self.boot_noise("2.7.2");
        self.menu_choice("2.7.2", "menu (shell)", "8")?;
        self.exact(
            "2.7.2",
            "ignore osversion",
            "setenv IGNORE_OSVERSION yes",
            "",
        )?;
        self.overrides("2.7.2", "")?;
        self.exact("2.7.2", "repo default marker", "rm -f /usr/local/etc/pfSense/pkg/repos/pfSense-repo-2.7.2.default && touch /usr/local/etc/pfSense/pkg/repos/pfSense-repo-2_8_1.default", "")?;
        self.exact(
            "2.7.2",
            "pkg clean",
            "pkg-static clean -ay",
            "Nothing to do.\r\n",
        )?;
        self.exact(
            "2.7.2",
            "pkg update",
            "pkg-static update -f",
            "Updating pfSense-core repository catalogue...\r\nAll repositories are up to date.\r\n",
        )?;
        self.exact(
            "2.7.2",
            "upgrade toolchain",
            "pkg-static install -fy pkg pfSense-repo pfSense-upgrade",
            "[1/3] Reinstalling pkg-1.21.3...\r\n",
        )?;
        self.overrides("2.7.2", " again")?;
        self.prompt("2.7.2");
        self.expect_line("start upgrade", "pfSense-upgrade -U -y")?;
        self.print(">>> Updating repositories metadata... done.\r\n>>> Downloading upgrade packages...\r\n");
        self.long_running();
        self.print(">>> Upgrading pfSense kernel... done.\r\n");
        if !reboot_exits {
            self.print("System is going to be upgraded.  Rebooting in 10 seconds.\r\n");
        }
        // Otherwise QEMU ends in the middle of the output, as it can at this reboot.
        Ok(())
    }

    fn upgrade_finish(&mut self) -> Result<()> {
        self.boot_noise("2.8.1");
        self.print("ld-elf.so.1: Shared object \"libmd.so.7\" not found, required by \"pkg\"\r\n");
        self.menu_choice("2.8.1", "menu (shell)", "8")?;
        self.exact(
            "2.8.1",
            "ignore osversion",
            "setenv IGNORE_OSVERSION yes",
            "",
        )?;
        self.overrides("2.8.1", "")?;
        self.exact(
            "2.8.1",
            "pkg update",
            "pkg-static update -f",
            "Updating pfSense repository catalogue...\r\n",
        )?;
        self.exact(
            "2.8.1",
            "pkg upgrade",
            "pkg-static upgrade -fy",
            "[1/212] Upgrading pfSense-base...\r\n",
        )?;
        self.prompt("2.8.1");
        self.expect_line("reboot", "reboot")
    }

    fn restapi_281_and_halt(&mut self) -> Result<()> {
        self.boot_noise("2.8.1");
        self.restapi("2.8.1", "pfSense-2.8.1-pkg-RESTAPI.pkg")?;
        self.menu_choice("2.8.1", "menu (halt)", "6")?;
        self.print("\r\nThe system will halt and power off. Do you want to proceed [y|n]? ");
        self.expect_line("halt confirm", "y")?;
        self.print("\r\nThe system is halting now.\r\nUptime: 40m\r\n");
        Ok(())
    }
}

fn run(fake: &mut Fake, scenario: &str, flags: &[String]) -> Result<()> {
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    match scenario {
        "install" => fake.install(!has("--no-keymap")),
        "first-boot" => fake.first_boot(!has("--no-vlan-prompt"), has("--ssh-enabled")),
        "upgrade-start" => {
            fake.upgrade_start(has("--reboot-exits"))?;
            if has("--reboot-exits") {
                return Ok(());
            }
            fake.reboot(false);
            fake.upgrade_finish()?;
            if fake.reboot(false).is_none() {
                return Ok(());
            }
            fake.restapi_281_and_halt()
        }
        "upgrade-finish" => {
            fake.upgrade_finish()?;
            if fake.reboot(has("--reboot-exits")).is_none() {
                return Ok(());
            }
            fake.restapi_281_and_halt()
        }
        "restapi-281" => fake.restapi_281_and_halt(),
        other => Err(Stop(format!("unknown scenario {other:?}"))),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.first().cloned() else {
        eprintln!(
            "usage: fake-pfsense-console SCENARIO [--abort-with TEXT] [flags] (see the source)"
        );
        return ExitCode::from(64);
    };
    let abort_with = args
        .iter()
        .position(|a| a == "--abort-with")
        .and_then(|i| args.get(i + 1).cloned());
    let stdin = std::io::stdin();
    if let Ok(mut termios) = nix::sys::termios::tcgetattr(stdin.as_fd()) {
        nix::sys::termios::cfmakeraw(&mut termios);
        let _ = nix::sys::termios::tcsetattr(
            stdin.as_fd(),
            nix::sys::termios::SetArg::TCSANOW,
            &termios,
        );
    }
    let stdin = match stdin.as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => {
            eprintln!("fake-pfsense-console: cannot use stdin: {e}");
            return ExitCode::from(2);
        }
    };
    let mut fake = Fake {
        stdin,
        stdout: std::io::stdout(),
        abort_with,
    };
    match run(&mut fake, &scenario, &args[1..]) {
        Ok(()) => {
            // Give the reader a moment to take the last output before the pty closes.
            std::thread::sleep(Duration::from_millis(200));
            ExitCode::SUCCESS
        }
        Err(Stop(why)) => {
            fake.print(&format!("\r\nFAKE CONSOLE ERROR: {why}\r\n"));
            eprintln!("fake-pfsense-console: {why}");
            std::thread::sleep(Duration::from_millis(200));
            ExitCode::from(2)
        }
    }
}
