//! The pfrest lab against pfrest's own PHP from `../shared/third-party`: it starts, answers the
//! REST API with BasicAuth, keeps pfrest's ids, resets to pristine, cannot touch the host, and
//! leaves nothing behind. Needs root and PHP 8.2: in CI (`CI` set) a missing requirement fails
//! the test with the reason; elsewhere the test prints the reason and returns.

use pfrest_lab::{Lab, LabOptions};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::PathBuf;

/// A plain-HTTP client; reqwest has no crypto provider of its own, so ring (the workspace's one,
/// see the workspace Cargo.toml) is installed first.
fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

fn sources() -> PathBuf {
    pfrest_lab::test_sources()
}

/// Start a lab, or say why not: a failure in CI, a printed skip elsewhere.
fn start(version: &str) -> Option<Lab> {
    if !pfrest_lab::test_may_start(&sources()) {
        return None;
    }
    let mut options = LabOptions::new(sources()).version(version);
    // Each test has its own labs; the test harness's own signal handling stays as it is.
    options.install_signal_handler = false;
    Some(Lab::start(options).unwrap_or_else(|e| panic!("lab {version} did not start: {e}")))
}

struct Api<'a> {
    lab: &'a Lab,
    client: Client,
}

impl<'a> Api<'a> {
    fn new(lab: &'a Lab) -> Self {
        Self {
            lab,
            client: client(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v2/{path}", self.lab.url());
        let mut request = self
            .client
            .request(method.parse().unwrap(), url)
            .basic_auth(self.lab.username(), Some(self.lab.password()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("the lab answers");
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON ({status}): {text}"));
        (status, value)
    }

    fn alias_names(&self) -> Vec<(u64, String)> {
        let (status, body) = self.call("GET", "firewall/aliases", None);
        assert_eq!(status, 200, "{body}");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["id"].as_u64().unwrap(),
                    a["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

fn alias(name: &str, address: &str) -> Value {
    json!({"name": name, "type": "host", "address": [address], "descr": "lab test"})
}

#[test]
fn v2_7_1_answers_with_pfrest_envelopes_ids_and_rules() {
    let Some(lab) = start("v2.7.1") else { return };
    let api = Api::new(&lab);

    // The singular endpoint without an id is pfrest's own 400, with its envelope.
    let (status, body) = api.call("GET", "firewall/alias", None);
    assert_eq!(status, 400);
    assert_eq!(body["response_id"], "MODEL_REQUIRES_ID");
    assert_eq!(api.alias_names(), vec![]);

    // Create three, read one, update one.
    for (i, name) in ["lab_a", "lab_b", "lab_c"].iter().enumerate() {
        let (status, body) = api.call("POST", "firewall/alias", Some(alias(name, "10.9.9.1")));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["id"], i);
    }
    let (status, body) = api.call("GET", "firewall/alias?id=1", None);
    assert_eq!(
        (status, body["data"]["name"].clone()),
        (200, json!("lab_b"))
    );
    let (status, body) = api.call(
        "PATCH",
        "firewall/alias",
        Some(json!({"id": 2, "address": ["10.9.9.3"]})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["address"], json!(["10.9.9.3"]));

    // A rule of the real API the emulator did not know: a hyphen is not allowed in alias names.
    let (status, body) = api.call("POST", "firewall/alias", Some(alias("lab-bad", "10.9.9.9")));
    assert_eq!(status, 400, "{body}");

    // Deleting id 0 shifts the later ids down, as on a box.
    let (status, _) = api.call("DELETE", "firewall/alias?id=0", None);
    assert_eq!(status, 200);
    assert_eq!(
        api.alias_names(),
        vec![(0, "lab_b".to_string()), (1, "lab_c".to_string())]
    );

    // Unauthenticated requests get pfrest's 401; a path with no endpoint gets nginx's HTML 404.
    let response = client()
        .get(format!("{}/api/v2/firewall/aliases", lab.url()))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = client()
        .get(format!("{}/api/v2/no/such/endpoint", lab.url()))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert!(response.text().unwrap().contains("<html"));

    // LAN exists (three NICs like the golden VM), with DHCP on it.
    let (status, body) = api.call("GET", "interface?id=lan", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["ipaddr"], "192.168.1.1");
    let (status, body) = api.call("GET", "services/dhcp_server?id=lan", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["range_from"], "192.168.1.100");
}

#[test]
fn reset_restores_the_pristine_config() {
    let Some(lab) = start("v2.7.1") else { return };
    let api = Api::new(&lab);
    let pristine_history = api.call("GET", "diagnostics/config_history/revisions", None);
    assert_eq!(pristine_history.0, 200, "{}", pristine_history.1);
    let (status, _) = api.call(
        "POST",
        "firewall/alias",
        Some(alias("lab_reset", "10.8.8.8")),
    );
    assert_eq!(status, 200);
    let (status, _) = api.call(
        "PATCH",
        "system/hostname",
        Some(json!({"hostname": "changed", "domain": "lab.example"})),
    );
    assert_eq!(status, 200);
    assert!(lab.root().join("tmp/aliases.dirty").exists() || !api.alias_names().is_empty());

    let started = std::time::Instant::now();
    lab.reset().unwrap();
    eprintln!("reset took {:?}", started.elapsed());

    assert_eq!(api.alias_names(), vec![]);
    let (_, body) = api.call("GET", "system/hostname", None);
    assert_eq!(body["data"]["hostname"], "pfSense");
    assert!(!lab.root().join("tmp/aliases.dirty").exists());
    let (status, body) = api.call("GET", "diagnostics/config_history/revisions", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");

    // KeyAuth on: the key works, and survives a reset (the config with it becomes pristine).
    let key = lab.enable_key_auth().unwrap();
    let with_key = |key: &str| {
        client()
            .get(format!("{}/api/v2/firewall/aliases", lab.url()))
            .header("X-API-Key", key)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(with_key(&key), 200);
    assert_eq!(with_key("not-a-key"), 401);
    lab.reset().unwrap();
    assert_eq!(with_key(&key), 200);
}

/// The lines of the firewall log as pfrest's own log model reads them (`/var/log/filter.log*`).
fn firewall_log(api: &Api) -> Vec<String> {
    let (status, body) = api.call("GET", "status/logs/firewall", None);
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn filter_reload_events_run_filter_configure_sync_and_the_firewall_log_is_seeded() {
    let Some(lab) = start("v2.7.1") else { return };
    let api = Api::new(&lab);

    // The seed, in the raw filter log format, blocked by the lab's own default deny rule.
    let seed = pfrest_lab::FILTER_LOG_SEED.1.trim_end();
    assert_eq!(firewall_log(&api), vec![seed.to_string()]);
    assert!(
        seed.starts_with(
            "Jan  1 00:01:00 pfSense filterlog[1000]: 5,,,1000000103,vtnet0,match,block,in,4,"
        ),
        "{seed}"
    );
    let rules = std::fs::read_to_string(lab.root().join("tmp/rules.debug")).unwrap();
    assert!(
        rules.contains(
            "block in log inet all ridentifier 1000000103 label \"Default deny rule IPv4\""
        ),
        "{rules}"
    );

    // A pending alias change. The routing apply's filter_configure() sends `filter reload`; pfrest's
    // RoutingApplyDispatcher clears only the routing markers itself, so the `aliases` marker goes
    // only when the check_reload_status stand-in runs filter_configure_sync().
    let marker = lab.root().join("var/run/aliases.dirty");
    let (status, body) = api.call(
        "POST",
        "firewall/alias",
        Some(alias("lab_event", "10.9.9.9")),
    );
    assert_eq!(status, 200, "{body}");
    assert!(marker.exists());
    let (status, body) = api.call("POST", "routing/apply", Some(json!({})));
    assert_eq!(status, 200, "{body}");
    // The script clears the marker part way through; its "ran" line follows once it exits (on
    // a loaded machine, seconds later): wait for both.
    let ran = "ran /usr/local/bin/php /etc/rc.filter_configure_sync: exit status: 0";
    let events_log = lab.root().join(pfrest_lab::RELOAD_EVENTS_LOG);
    let read_events = || std::fs::read_to_string(&events_log).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while (marker.exists() || !read_events().contains(ran)) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let events = read_events();
    assert!(!marker.exists(), "aliases still pending; events: {events}");
    assert!(events.contains("event `filter reload`: queued"), "{events}");
    assert!(events.contains(ran), "{events}");

    // Reset restores the seeded log.
    let log = lab.root().join("var/log/filter.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("Jan  1 00:02:00 pfSense filterlog[1000]: 5,,,1000000103,vtnet0,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,203.0.113.5,10.0.2.15,40001,443,0,S,1,,,,\n");
    std::fs::write(&log, text).unwrap();
    assert_eq!(firewall_log(&api).len(), 2);
    lab.reset().unwrap();
    assert_eq!(firewall_log(&api), vec![seed.to_string()]);
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Names of daemons pfSense stops and restarts by name (`killbyname`, `killall`, pid files).
const DAEMON_NAMES: &[&str] = &[
    "sshd",
    "ntpd",
    "syslogd",
    "dhcpd",
    "unbound",
    "dpinger",
    "openvpn",
    "radvd",
    "dnsmasq",
    "filterlog",
    "php-fpm",
    "nginx",
    "cron",
    "sleep",
];

#[test]
fn the_host_is_untouched_by_hostname_changes_and_service_restarts() {
    // Host processes named like the daemons the lab's PHP restarts: on a host without the
    // namespaces, `killall sshd` and friends would end them.
    let dir = tempfile_dir();
    let bystanders: Vec<Bystander> = DAEMON_NAMES
        .iter()
        .map(|name| {
            let exe = dir.join(name);
            std::os::unix::fs::symlink("/usr/bin/sleep", &exe).unwrap();
            Bystander(
                std::process::Command::new(&exe)
                    .arg("300")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let Some(lab) = start("v2.7.1") else { return };
    let api = Api::new(&lab);
    let hostname_before = host_name();
    let hosts_before = std::fs::read("/etc/hosts").unwrap();
    let resolv_before = std::fs::read("/etc/resolv.conf").ok();

    let (status, body) = api.call(
        "PATCH",
        "system/hostname",
        Some(json!({"hostname": "labhost", "domain": "lab.example"})),
    );
    assert_eq!(status, 200, "{body}");
    let (_, services) = api.call("GET", "status/services", None);
    let services = services["data"].as_array().unwrap().clone();
    assert!(services.len() >= 5, "{services:?}");
    for service in &services {
        for action in ["restart", "stop", "start"] {
            let (status, body) = api.call(
                "POST",
                "status/service",
                Some(json!({"id": service["id"], "action": action})),
            );
            assert_eq!(status, 200, "{action} {service}: {body}");
        }
    }
    // The lab's own hostname did change (its UTS namespace and config), the host's did not.
    let (_, body) = api.call("GET", "system/hostname", None);
    assert_eq!(body["data"]["hostname"], "labhost");
    // Background dispatchers get a moment to run what they would run.
    std::thread::sleep(std::time::Duration::from_secs(3));

    assert_eq!(host_name(), hostname_before);
    assert_eq!(std::fs::read("/etc/hosts").unwrap(), hosts_before);
    assert_eq!(std::fs::read("/etc/resolv.conf").ok(), resolv_before);
    let mut bystanders = bystanders;
    for (bystander, name) in bystanders.iter_mut().zip(DAEMON_NAMES) {
        assert!(
            bystander.0.try_wait().unwrap().is_none(),
            "the host's `{name}` was killed"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pfrest-lab-bystanders-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A host process killed when the test ends, even on failure.
struct Bystander(std::process::Child);

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn nothing_is_left_behind_after_drop() {
    let Some(lab) = start("v2.7.1") else { return };
    let work = lab.work_dir().to_path_buf();
    let root = lab.root().to_path_buf();
    assert!(!pfrest_lab::processes_rooted_in(&root).is_empty());
    drop(lab);
    assert!(!work.exists(), "{} is left", work.display());
    assert_eq!(pfrest_lab::processes_rooted_in(&root), Vec::<i32>::new());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(work.to_str().unwrap()),
        "a mount under {} is left",
        work.display()
    );
}

#[test]
fn v2_10_0_answers_too() {
    let Some(lab) = start("v2.10.0") else { return };
    let api = Api::new(&lab);
    let (status, body) = api.call(
        "POST",
        "firewall/alias",
        Some(alias("lab_v210", "10.7.7.7")),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.alias_names(), vec![(0, "lab_v210".to_string())]);
}

#[test]
fn a_missing_sources_directory_is_a_clear_error() {
    let err = Lab::start(LabOptions::new("/nonexistent/third-party"))
        .err()
        .expect("no lab without sources")
        .to_string();
    // Without root the requirement is named first; with it, the missing source is.
    assert!(
        err.contains("/nonexistent/third-party") || err.contains("needs root"),
        "{err}"
    );
}

#[test]
fn an_unknown_version_is_a_clear_error() {
    let err = Lab::start(LabOptions::new(sources()).version("v9.9.9"))
        .err()
        .expect("no lab for an unknown version")
        .to_string();
    assert!(err.contains("v9.9.9") && err.contains("v2.7.1"), "{err}");
}

/// The rows of a list endpoint, each reduced to `fields`.
fn rows(api: &Api, path: &str, fields: &[&str]) -> Vec<Vec<Value>> {
    let (status, body) = api.call("GET", path, None);
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| fields.iter().map(|f| row[*f].clone()).collect())
        .collect()
}

/// The ARP cache and DHCP leases the lab seeds (the emulator's two LAN hosts) as pfSense's own
/// readers make them: `arp --libxo json -an` through our arp stand-in (pfSense's calls of
/// /usr/sbin/arp pointed at it), the leases file through `system_get_dhcpleases()`, which also
/// names the ARP entries' hosts and marks a lease online while its address is in the cache.
/// Deleting an entry runs `arp -d`; a reset brings the seed back.
#[test]
fn arp_cache_and_dhcp_leases_are_seeded_and_read_by_pfsense() {
    let Some(lab) = start("v2.7.1") else { return };
    let api = Api::new(&lab);
    let arp_fields = [
        "ip_address",
        "mac_address",
        "interface",
        "dnsresolve",
        "expires",
    ];
    let seeded = vec![
        vec![
            json!("192.168.1.100"),
            json!("00:0c:29:aa:bb:01"),
            json!("LAN"),
            json!("client"),
            json!("Expires in 1187 seconds"),
        ],
        vec![
            json!("192.168.1.101"),
            json!("00:0c:29:aa:bb:02"),
            json!("LAN"),
            json!("printer"),
            json!("Expires in 905 seconds"),
        ],
    ];
    assert_eq!(rows(&api, "diagnostics/arp_table", &arp_fields), seeded);
    let lease_fields = ["ip", "mac", "hostname", "active_status", "online_status"];
    let online = |ip: &str| {
        rows(&api, "status/dhcp_server/leases", &lease_fields)
            .into_iter()
            .find(|l| l[0] == ip)
            .unwrap_or_else(|| panic!("no lease of {ip}"))
    };
    assert_eq!(
        online("192.168.1.100"),
        [
            json!("192.168.1.100"),
            json!("00:0c:29:aa:bb:01"),
            json!("client"),
            json!("active"),
            json!("active/online")
        ]
    );

    let (status, body) = api.call("DELETE", "diagnostics/arp_table/entry?id=0", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["ip_address"], "192.168.1.100", "{body}");
    assert_eq!(
        rows(&api, "diagnostics/arp_table", &arp_fields),
        seeded[1..].to_vec()
    );
    assert_eq!(online("192.168.1.100")[4], "idle/offline");
    let tools = std::fs::read_to_string(lab.root().join("var/log/tools.log")).unwrap();
    assert!(
        tools.contains("/usr/local/sbin/arp -d 192.168.1.100"),
        "{tools}"
    );

    lab.reset().expect("reset");
    assert_eq!(rows(&api, "diagnostics/arp_table", &arp_fields), seeded);
}

/// The gateway status pfSense reads from its dpinger monitors (`return_gateways_status()`: the
/// pid files name the monitored gateways, each status socket gives latency, deviation and loss)
/// comes from the lab's dpinger stand-in; a reset writes back a pid file pfSense removed.
#[test]
fn gateway_status_is_read_from_the_dpinger_stand_in() {
    let Some(lab) = start("v2.7.1") else { return };
    let api = Api::new(&lab);
    let fields = [
        "name",
        "srcip",
        "monitorip",
        "delay",
        "stddev",
        "loss",
        "status",
        "substatus",
    ];
    let online = vec![vec![
        json!("WAN_DHCP"),
        json!("10.0.2.15"),
        json!("10.0.2.2"),
        json!(0.5),
        json!(0.1),
        json!(0),
        json!("online"),
        json!("none"),
    ]];
    assert_eq!(rows(&api, "status/gateways", &fields), online);
    let gateway = &pfrest_lab::MONITORED_GATEWAYS[0];
    let pid_file = lab.root().join(format!(
        "var/run/dpinger_{}~{}~{}.pid",
        gateway.name, gateway.source, gateway.monitor
    ));
    std::fs::remove_file(&pid_file).unwrap();
    assert_eq!(
        rows(&api, "status/gateways", &fields),
        Vec::<Vec<Value>>::new()
    );
    lab.reset().expect("reset");
    assert_eq!(rows(&api, "status/gateways", &fields), online);
}
