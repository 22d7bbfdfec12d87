//! The HTML report in a real browser: Debian's headless Chromium renders the fresh-install
//! report; the DOM it builds and a screenshot of the page are checked. Needs the `chromium`
//! package (`.ci/run` installs it).

use pfsense_audit::render::{Format, render};
use pfsense_audit::{Report, Severity, Snapshot, State, run};
use std::path::Path;
use std::process::Command;

fn report() -> Report {
    let s: Snapshot =
        serde_json::from_str(include_str!("fixtures/fresh-install.json")).expect("fixture");
    run(&s, "https://192.168.1.1")
}

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let bin = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {bin}: {e}; install Debian's chromium (apt-get install chromium) or set CHROMIUM")
        })
}

#[test]
fn chromium_builds_the_dom_we_expect() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let r = report();
    std::fs::write(&page, render(&r, Format::Html)).unwrap();
    let out = chromium(
        &["--dump-dom", &format!("file://{}", page.display())],
        &dir.path().join("profile"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    // The parsed page keeps every finding card, with its state.
    assert_eq!(
        dom.matches("class=\"finding\" style=\"--c:").count(),
        r.findings.len()
    );
    for state in [State::NonCompliant, State::Compliant, State::Unknown] {
        let want = r.findings.iter().filter(|f| f.state == state).count();
        let cards = format!("data-state=\"{}\" data-severity", state.as_str());
        assert_eq!(dom.matches(&cards).count(), want, "{state:?} cards");
    }
    // The chart: one labelled row per area, one rect per non-empty segment.
    assert!(dom.contains("<svg id=\"area-chart\""));
    let svg = &dom[dom.find("<svg id=\"area-chart\"").unwrap()..dom.find("</svg>").unwrap()];
    assert!(svg.contains(">Firewall rules</text>"));
    assert!(svg.contains("Management access: 1 critical non-compliant"));
    // The tiles show the non-compliant counts per severity.
    for s in Severity::ALL {
        let tile = format!(
            "data-severity=\"{}\"><div class=\"n\">{}</div>",
            s.as_str(),
            r.failed(s)
        );
        assert!(dom.contains(&tile), "tile {tile}");
    }
    // Non-compliant cards are open, so evidence and fixes show without a click.
    assert!(dom.contains("data-check-id=\"PFS-AUTH-001\" data-state=\"non-compliant\" data-severity=\"critical\" open=\"\""));
}

#[test]
fn chromium_screenshot_shows_the_summary_in_colour() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let shot = std::env::var("PFSENSE_AUDIT_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("report.png"));
    std::fs::write(&page, render(&report(), Format::Html)).unwrap();
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
            &format!("file://{}", page.display()),
        ],
        &dir.path().join("profile"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 900));
    let channels = info.line_size / info.width as usize;
    assert!(channels >= 3);
    // Count pixels of the colours the first screen must show: the critical and high tiles and
    // chart segments, compliant green, and the page background.
    let count = |rgb: [u8; 3]| {
        buf[..info.buffer_size()]
            .chunks(channels)
            .filter(|p| {
                p[0].abs_diff(rgb[0]) < 8 && p[1].abs_diff(rgb[1]) < 8 && p[2].abs_diff(rgb[2]) < 8
            })
            .count()
    };
    let critical = count([0x99, 0x1b, 0x1b]);
    let high = count([0xdc, 0x26, 0x26]);
    let compliant = count([0x16, 0xa3, 0x4a]);
    let background = count([0xf8, 0xfa, 0xfc]);
    assert!(critical > 500, "critical red pixels: {critical}");
    assert!(high > 500, "high red pixels: {high}");
    assert!(compliant > 2000, "compliant green pixels: {compliant}");
    assert!(background > 100_000, "background pixels: {background}");
}
