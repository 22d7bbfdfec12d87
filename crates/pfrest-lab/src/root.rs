//! Assembling the fake root: the host's `/etc` copy, pfSense's and pfrest's PHP from the sources
//! directory, the composer libraries, our shims, and the config. Everything lands under the lab's
//! own work directory; nothing outside it is written.

use crate::{LabError, Release};
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Our own shims, compiled in so the binary works from any directory.
mod shim {
    pub const PFSENSE_EXT: &str = include_str!("../shims/pfsense_ext.php");
    pub const ROUTER: &str = include_str!("../shims/router.php");
    pub const AUTOLOAD: &str = include_str!("../shims/autoload.php");
    pub const TOOL_STANDIN: &str = include_str!("../shims/tool-standin.sh");
    pub const PHP_WRAPPER: &str = include_str!("../shims/php-wrapper.sh");
    pub const PHP_INI: &str = include_str!("../shims/php.ini");
    pub const ENTER: &str = include_str!("../shims/enter.sh");
    pub const CONFINE: &str = include_str!("../shims/confine.sh");
    pub const PACKAGES: &str = include_str!("../shims/packages/packages.php");
    /// Our stand-in for pfSense's `/etc/rc.filter_configure_sync` (the sources leave `etc/rc.*` out).
    pub const RC_FILTER_CONFIGURE_SYNC: &str = include_str!("../shims/rc.filter_configure_sync");
    /// The firewall log's seed (see [`super::FILTER_LOG_SEED`]).
    pub const FILTER_LOG: &str = include_str!("../shims/filter.log");
    /// Our stand-in for FreeBSD's arp(8) (see [`super::TOOL_PATH_REDIRECTS`]) and its cache's seed.
    pub const ARP: &str = include_str!("../shims/arp.sh");
    /// Our stand-in for FreeBSD's netstat(1): the shell entry and the PHP that prints.
    pub const NETSTAT: &str = include_str!("../shims/netstat.sh");
    pub const NETSTAT_PHP: &str = include_str!("../shims/netstat.php");
    pub const ARP_CACHE: &str = include_str!("../shims/arp-cache");
    /// What ISC dhcpd would have written to its leases file.
    pub const DHCPD_LEASES: &str = include_str!("../shims/dhcpd.leases");
    /// Certificate sections of pfSense's openssl.cnf, appended to the copy of Debian's.
    pub const OPENSSL_SECTIONS: &str = include_str!("../shims/openssl-sections.cnf");
    /// Empty PEAR classes pfSense loads but only uses at run time (RADIUS, SMTP, HA sync).
    pub const PEAR: &[(&str, &str)] = &[
        (
            "Auth/RADIUS.php",
            include_str!("../shims/pear/Auth/RADIUS.php"),
        ),
        (
            "Crypt/CHAP.php",
            include_str!("../shims/pear/Crypt/CHAP.php"),
        ),
        ("Mail.php", include_str!("../shims/pear/Mail.php")),
        // pfSense's ASN.1 library: certs.inc requires it to check certificate serials.
        ("ASN1.php", include_str!("../shims/pear/ASN1.php")),
        ("ASN1_INT.php", include_str!("../shims/pear/ASN1_INT.php")),
        (
            "XML/RPC2/Client.php",
            include_str!("../shims/pear/XML/RPC2/Client.php"),
        ),
    ];
}

/// FreeBSD tools pfSense calls by absolute path under `/sbin` or `/usr/local/sbin`: on the lab they
/// log the call, print nothing and succeed (`sysctl` prints plausible values).
const STANDIN_TOOLS: &[&str] = &[
    "sysctl",
    "ifconfig",
    "pfctl",
    "route",
    "route6",
    "mount",
    "umount",
    "kldload",
    "kldstat",
    "kldunload",
    "devfs",
    "dmesg",
    "ipfw",
    "sysrc",
    "shutdown",
    "reboot",
    "dhclient",
    "ping",
    "ping6",
    "pflogd",
    "pkg",
    "pkg-static",
    "unbound-control",
    "filterdns",
    "dpinger",
];

/// FreeBSD tools pfSense and pfrest run under `/usr/sbin` or `/usr/bin`, paths the lab cannot
/// add to (the host's are bound there read-only), with the stand-in each call is pointed to in
/// the root's copies of the files that name it: (tool's path, stand-in's path, files under the
/// root, or under pfrest's files, that call it).
pub const TOOL_PATH_REDIRECTS: &[(&str, &str, &[&str])] = &[
    (
        "/usr/sbin/arp",
        "/usr/local/sbin/arp",
        &[
            "etc/inc/system.inc",
            "etc/inc/util.inc",
            "etc/inc/interfaces.inc",
            "usr/local/pkg/RESTAPI/Models/ARPTable.inc",
        ],
    ),
    // The interfaces pfrest offers to assign come from `get_interface_list()`'s netstat.
    (
        "/usr/bin/netstat",
        "/usr/local/sbin/netstat",
        &["etc/inc/util.inc"],
    ),
];

/// State the lab's stand-ins read, written when the root is built and on every reset: the
/// firewall log ([`FILTER_LOG_SEED`]), the ARP cache (the emulator's seed's two LAN hosts, on the
/// lab's LAN NIC `vtnet1`) and ISC dhcpd's leases of those hosts (`/var/dhcpd` is pfSense's
/// `dhcpd_chroot_path`; its `system_get_dhcpleases()` reads the file, and the ARP table's
/// hostnames come from it).
const STATE_SEEDS: &[(&str, &str)] = &[
    FILTER_LOG_SEED,
    ("var/db/pfrest-lab/arp-cache", shim::ARP_CACHE),
    ("var/dhcpd/var/db/dhcpd.leases", shim::DHCPD_LEASES),
];

/// The firewall log's seed, a stand-in for what pfSense's `filterlog` writes to
/// `/var/log/filter.log` (the lab runs no pf, so nothing is ever logged): lines in Netgate's raw
/// filter log format (BSD syslog header, then the CSV), the same entries as the emulator's
/// `FirewallLog` seed with the lab's WAN NIC (`vtnet0`, DHCP address 10.0.2.15 from the
/// pfSense.so stand-in). Tracker 1000000103 is the `Default deny rule IPv4` of the lab's own
/// `tmp/rules.debug`. Written when the root is built and on every reset.
pub const FILTER_LOG_SEED: (&str, &str) = ("var/log/filter.log", shim::FILTER_LOG);

/// Log files pfrest's status/log endpoints read (`LOG_FILE_TRAITS_FILE_NOT_FOUND` without them).
const SYSLOG_FILES: &[&str] = &[
    "auth.log",
    "dhcpd.log",
    "filter.log",
    "openvpn.log",
    "restapi.log",
    "system.log",
];

/// Includes of add-on packages that pfrest's package models load (`package_includes`): each
/// loads our stand-in `packages.php` (under `/usr/local/pkg`, on pfSense's include path).
const PACKAGE_INCLUDES: &[&str] = &[
    "haproxy/haproxy.inc",
    "haproxy/haproxy_utils.inc",
    "bind.inc",
    "acme/acme.inc",
    "acme/acme_utils.inc",
    "acme/acme_htmllist.inc",
    "acme/pkg_acme_tabs.inc",
    "freeradius.inc",
    "servicewatchdog.inc",
    "openvpn-client-export.inc",
    "wireguard/includes/wg.inc",
    "wireguard/includes/wg_service.inc",
];

/// The pfSense release the lab's `etc/version` claims (pfrest v2.7.1 was served by CE 2.8.1).
const PFSENSE_VERSION: &str = "2.8.1-RELEASE";

/// Interfaces added to the reference config (which assigns only WAN) so the lab has the golden
/// VM's three NICs: LAN rules, DHCP on LAN and `interface: ["lan"]` then validate as on a box.
const LAN_AND_OPT1: &str = "\t\t<lan>
\t\t\t<enable></enable>
\t\t\t<if>vtnet1</if>
\t\t\t<descr><![CDATA[LAN]]></descr>
\t\t\t<ipaddr>192.168.1.1</ipaddr>
\t\t\t<subnet>24</subnet>
\t\t\t<ipaddrv6></ipaddrv6>
\t\t\t<subnetv6></subnetv6>
\t\t\t<media></media>
\t\t\t<mediaopt></mediaopt>
\t\t\t<gateway></gateway>
\t\t\t<gatewayv6></gatewayv6>
\t\t</lan>
\t\t<opt1>
\t\t\t<if>vtnet2</if>
\t\t\t<descr><![CDATA[OPT1]]></descr>
\t\t\t<spoofmac></spoofmac>
\t\t</opt1>
";

const LAN_DHCP: &str = "<dhcpd>
\t\t<lan>
\t\t\t<enable></enable>
\t\t\t<range>
\t\t\t\t<from>192.168.1.100</from>
\t\t\t\t<to>192.168.1.199</to>
\t\t\t</range>
\t\t</lan>
\t</dhcpd>";

/// Paths of one assembled lab.
#[derive(Debug, Clone)]
pub struct Layout {
    pub work: PathBuf,
    pub root: PathBuf,
    pub enter_script: PathBuf,
    /// `confine.sh`: chroot, clean environment, capabilities bounded (enter.sh and nsenter use it).
    pub confine_script: PathBuf,
    pub pristine_config: PathBuf,
}

impl Layout {
    pub fn new(work: &Path) -> Self {
        Self {
            work: work.to_path_buf(),
            root: work.join("root"),
            enter_script: work.join("enter.sh"),
            confine_script: work.join("confine.sh"),
            pristine_config: work.join("pristine-config.xml"),
        }
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("cf/conf/config.xml")
    }
    pub fn backup_dir(&self) -> PathBuf {
        self.root.join("cf/conf/backup")
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> LabError {
    let what = what.into();
    move |source| LabError::Io { what, source }
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(format!("create {}", parent.display())))?;
    }
    fs::write(path, text).map_err(io_error(format!("write {}", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_error(format!("chmod {}", path.display())))
}

fn mkdir(path: &Path) -> Result<(), LabError> {
    fs::create_dir_all(path).map_err(io_error(format!("create {}", path.display())))
}

/// Copy a tree (directories, regular files, symlinks; sockets and devices are skipped), making
/// the copies writable by their owner: the sources are read-only and pfrest writes beside them.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), LabError> {
    let meta = fs::symlink_metadata(from).map_err(io_error(format!("read {}", from.display())))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(from).map_err(io_error(format!("read {}", from.display())))?;
        let _ = fs::remove_file(to);
        symlink(&target, to).map_err(io_error(format!("link {}", to.display())))?;
    } else if kind.is_dir() {
        mkdir(to)?;
        fs::set_permissions(
            to,
            fs::Permissions::from_mode(meta.permissions().mode() | 0o700),
        )
        .map_err(io_error(format!("chmod {}", to.display())))?;
        let entries = fs::read_dir(from).map_err(io_error(format!("list {}", from.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_error(format!("list {}", from.display())))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if kind.is_file() {
        let _ = fs::remove_file(to);
        fs::copy(from, to).map_err(io_error(format!("copy {}", from.display())))?;
        fs::set_permissions(
            to,
            fs::Permissions::from_mode(meta.permissions().mode() | 0o200),
        )
        .map_err(io_error(format!("chmod {}", to.display())))?;
    }
    Ok(())
}

fn require_dir(path: PathBuf) -> Result<PathBuf, LabError> {
    if path.is_dir() {
        Ok(path)
    } else {
        Err(LabError::MissingSource(path))
    }
}

/// Where each piece of one release lives in the sources directory.
pub struct Sources {
    /// The pfrest release (`v2.10.0`): what the lab's `pkg-static info` reports.
    pub pfrest_version: String,
    pub pfrest_files: PathBuf,
    pub pfsense_src: PathBuf,
    pub php_jwt_src: PathBuf,
    pub graphql_src: PathBuf,
    pub net_ipv6: PathBuf,
}

impl Sources {
    pub fn locate(dir: &Path, release: &Release) -> Result<Self, LabError> {
        Ok(Self {
            pfrest_version: release.version.to_string(),
            pfrest_files: require_dir(
                dir.join(format!("pfSense-pkg-RESTAPI-{}", release.version))
                    .join("pfSense-pkg-RESTAPI/files"),
            )?,
            pfsense_src: require_dir(dir.join(crate::PFSENSE_TREE).join("src"))?,
            php_jwt_src: require_dir(dir.join(format!("php-jwt-{}", release.php_jwt)).join("src"))?,
            graphql_src: require_dir(
                dir.join(format!("graphql-php-{}", release.graphql_php))
                    .join("src"),
            )?,
            net_ipv6: {
                let file = dir.join(crate::NET_IPV6_TREE).join("Net/IPv6.php");
                if !file.is_file() {
                    return Err(LabError::MissingSource(file));
                }
                file
            },
        })
    }
}

/// Lay out the whole root under `layout.root`.
pub fn assemble(layout: &Layout, sources: &Sources, config_xml: &str) -> Result<(), LabError> {
    let root = &layout.root;
    // Mount points for the host's /usr directories (bound read-only inside the namespace) and
    // the merged-/usr links Debian has at the top.
    for dir in [
        "bin", "lib", "lib32", "lib64", "libx32", "sbin", "share", "libexec", "include",
    ] {
        if Path::new("/usr").join(dir).is_dir() {
            mkdir(&root.join("usr").join(dir))?;
        }
    }
    for top in ["bin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(top);
        if let Ok(target) = fs::read_link(&host) {
            symlink(&target, root.join(top)).map_err(io_error(format!("link /{top}")))?;
        } else if host.is_dir() {
            return Err(LabError::Unsupported(format!(
                "/{top} is a directory, not a link into /usr: the lab needs a merged-/usr system \
                 such as Debian 12"
            )));
        }
    }
    for dir in [
        "dev",
        "proc",
        "tmp",
        "root",
        "var/run",
        "var/db",
        "var/log",
        "var/etc",
        "var/tmp",
        "cf/conf/backup",
        "sbin",
        "usr/local/sbin",
        "usr/local/bin",
        "usr/local/etc",
    ] {
        mkdir(&root.join(dir))?;
    }
    for sticky in ["tmp", "var/tmp"] {
        fs::set_permissions(root.join(sticky), fs::Permissions::from_mode(0o1777))
            .map_err(io_error(format!("chmod {sticky}")))?;
    }
    symlink("cf/conf", root.join("conf")).map_err(io_error("link /conf"))?;
    // The logs pfrest's log endpoints read (syslogd writes them on a box): empty, not missing.
    for log in SYSLOG_FILES {
        write(&root.join("var/log").join(log), "", 0o644)?;
    }
    seed_state(root)?;

    // /etc: the host's (users, PHP's conf.d, alternatives), then pfSense's includes over it.
    copy_tree(Path::new("/etc"), &root.join("etc"))?;
    copy_tree(&sources.pfsense_src.join("etc"), &root.join("etc"))?;
    copy_tree(&sources.pfsense_src.join("usr"), &root.join("usr"))?;
    patch_for_php82(&root.join("etc/inc/syslog.inc"))?;
    append_openssl_sections(&root.join("etc/ssl/openssl.cnf"))?;
    write(
        &root.join("etc/version"),
        &format!("{PFSENSE_VERSION}\n"),
        0o644,
    )?;
    write(&root.join("etc/version.patch"), "0\n", 0o644)?;
    write(
        &root.join("etc/version.buildtime"),
        "Thu Jun 26 2025\n",
        0o644,
    )?;
    let _ = fs::remove_file(root.join("etc/hostname"));

    // pfrest laid over the root as the package does on a box.
    copy_tree(&sources.pfrest_files.join("etc"), &root.join("etc"))?;
    copy_tree(&sources.pfrest_files.join("usr"), &root.join("usr"))?;
    let vendor = root.join("usr/local/pkg/RESTAPI/.resources/vendor");
    copy_tree(&sources.php_jwt_src, &vendor.join("firebase/php-jwt/src"))?;
    copy_tree(
        &sources.graphql_src,
        &vendor.join("webonyx/graphql-php/src"),
    )?;
    write(&vendor.join("autoload.php"), shim::AUTOLOAD, 0o644)?;

    // PEAR: Net_IPv6 (FreeBSD ships static methods), empty classes for run-time-only features.
    let pear = root.join("usr/local/share/pear");
    let net_ipv6 = fs::read_to_string(&sources.net_ipv6)
        .map_err(io_error(format!("read {}", sources.net_ipv6.display())))?;
    write(
        &pear.join("Net/IPv6.php"),
        &static_methods(&net_ipv6),
        0o644,
    )?;
    for (path, text) in shim::PEAR {
        write(&pear.join(path), text, 0o644)?;
    }

    // Our shims.
    let share = root.join("usr/local/share/pfrest-lab");
    write(&share.join("pfsense_ext.php"), shim::PFSENSE_EXT, 0o644)?;
    write(&share.join("router.php"), shim::ROUTER, 0o644)?;
    write(&share.join("tool-standin"), shim::TOOL_STANDIN, 0o755)?;
    write(&root.join("usr/local/sbin/arp"), shim::ARP, 0o755)?;
    write(&root.join("usr/local/sbin/netstat"), shim::NETSTAT, 0o755)?;
    write(&share.join("netstat.php"), shim::NETSTAT_PHP, 0o644)?;
    redirect_tool_paths(root)?;
    // The package version `pkg-static info pfSense-pkg-RESTAPI` prints (the stand-in reads it).
    write(
        &share.join("pfrest-version"),
        sources.pfrest_version.trim_start_matches('v'),
        0o644,
    )?;
    write(&share.join("packages.php"), shim::PACKAGES, 0o644)?;
    for include in PACKAGE_INCLUDES {
        let loader = "<?php\n/* pfrest lab: an add-on package's include; see packages.php. */\nrequire_once '/usr/local/share/pfrest-lab/packages.php';\n";
        write(&root.join("usr/local/pkg").join(include), loader, 0o644)?;
    }
    write(&root.join("usr/local/etc/php.ini"), shim::PHP_INI, 0o644)?;
    write(&root.join("usr/local/bin/php"), shim::PHP_WRAPPER, 0o755)?;
    write(
        &root.join("etc/rc.filter_configure_sync"),
        shim::RC_FILTER_CONFIGURE_SYNC,
        0o755,
    )?;
    for tool in STANDIN_TOOLS {
        for dir in ["sbin", "usr/local/sbin"] {
            symlink(
                "/usr/local/share/pfrest-lab/tool-standin",
                root.join(dir).join(tool),
            )
            .map_err(io_error(format!("link {dir}/{tool}")))?;
        }
    }
    write(&layout.enter_script, shim::ENTER, 0o755)?;
    write(&layout.confine_script, shim::CONFINE, 0o755)?;

    write(&layout.pristine_config, config_xml, 0o644)?;
    write(&layout.config(), config_xml, 0o644)?;
    Ok(())
}

/// Write the stand-ins' state ([`STATE_SEEDS`]) over whatever it holds.
pub fn seed_state(root: &Path) -> Result<(), LabError> {
    for (path, text) in STATE_SEEDS {
        write(&root.join(path), text, 0o644)?;
    }
    Ok(())
}

/// Point the root's calls of FreeBSD tools under `/usr/sbin` at our stand-ins
/// ([`TOOL_PATH_REDIRECTS`]). A listed file that is missing, or no longer names the tool, is an
/// error: the lab would silently lose the stand-in.
fn redirect_tool_paths(root: &Path) -> Result<(), LabError> {
    for (tool, standin, files) in TOOL_PATH_REDIRECTS {
        for file in *files {
            let path = root.join(file);
            let text =
                fs::read_to_string(&path).map_err(io_error(format!("read {}", path.display())))?;
            if !text.contains(tool) {
                return Err(LabError::Unsupported(format!(
                    "{} no longer calls {tool}: update TOOL_PATH_REDIRECTS",
                    path.display()
                )));
            }
            write(&path, &text.replace(tool, standin), 0o644)?;
        }
    }
    Ok(())
}

/// Certificate and request generation name sections of pfSense's openssl.cnf (`server`,
/// `req_server`, `req_usr_cert`) that Debian's copy lacks: add ours when the file exists.
fn append_openssl_sections(path: &Path) -> Result<(), LabError> {
    let Ok(mut text) = fs::read_to_string(path) else {
        return Ok(());
    };
    text.push_str(shim::OPENSSL_SECTIONS);
    fs::write(path, text).map_err(io_error(format!("write {}", path.display())))
}

/// pfSense 2.8 targets PHP 8.3; `syslog.inc` initialises `static` variables with a call, which
/// PHP 8.2 rejects: initialise them to null and assign on first use instead.
fn patch_for_php82(file: &Path) -> Result<(), LabError> {
    let text = fs::read_to_string(file).map_err(io_error(format!("read {}", file.display())))?;
    let pattern = regex::Regex::new(r"(?m)^([ \t]*)static (\$\w+) = (exec_command\(.*\));[ \t]*$")
        .expect("static regex");
    let patched = pattern.replace_all(&text, "${1}static ${2} = null;\n${1}${2} ??= ${3};");
    write(file, &patched, 0o644)
}

/// FreeBSD's PEAR Net_IPv6 declares its methods static; the upstream source does not.
fn static_methods(source: &str) -> String {
    let pattern = regex::Regex::new(r"(?m)^    function ").expect("static regex");
    pattern
        .replace_all(source, "    public static function ")
        .into_owned()
}

/// The reference config with LAN and OPT1 assigned and a DHCP server on LAN.
pub fn lab_config(reference: &str) -> Result<String, LabError> {
    let missing = |what: &str| {
        LabError::Config(format!(
            "the reference config has no {what}; expected a pfSense config.xml with the REST API package"
        ))
    };
    if !reference.contains("<installedpackages>") || !reference.contains("restapi") {
        return Err(missing("REST API package"));
    }
    let with_interfaces = if reference.contains("<lan>") && reference.contains("<opt1>") {
        reference.to_string()
    } else {
        let at = reference
            .find("</interfaces>")
            .ok_or_else(|| missing("<interfaces> section"))?;
        format!("{}{LAN_AND_OPT1}\t{}", &reference[..at], &reference[at..])
    };
    let dhcp = regex::Regex::new(r"<dhcpd>\s*</dhcpd>|<dhcpd\s*/>").expect("static regex");
    if dhcp.is_match(&with_interfaces) {
        Ok(dhcp.replace(&with_interfaces, LAN_DHCP).into_owned())
    } else {
        Ok(with_interfaces)
    }
}

/// The `<revision>` of a config and its `<version>`, for seeding the config history.
pub struct Revision {
    pub time: u64,
    pub description: String,
    pub version: String,
}

impl Revision {
    pub fn of(config: &str) -> Self {
        let capture = |pattern: &str| {
            regex::Regex::new(pattern)
                .expect("static regex")
                .captures(config)
                .map(|c| c[1].to_string())
        };
        Self {
            time: capture(r"<revision>\s*<time>(\d+)</time>")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            description: capture(
                r"(?s)<revision>.*?<description>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</description>",
            )
            .unwrap_or_else(|| "Unknown".into()),
            version: capture(r"<version>([^<]*)</version>").unwrap_or_else(|| "?".into()),
        }
    }

    /// pfSense's `backup.cache`: a PHP-serialised `[time => [description, version, filesize]]`.
    pub fn backup_cache(&self, filesize: usize) -> String {
        let string = |s: &str| format!("s:{}:\"{s}\";", s.len());
        format!(
            "a:1:{{i:{};a:3:{{{}{}{}{}{}i:{filesize};}}}}",
            self.time,
            string("description"),
            string(&self.description),
            string("version"),
            string(&self.version),
            string("filesize"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_statics_become_null_coalescing_assignments() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("syslog.inc");
        fs::write(
            &file,
            "\t\tstatic $out = exec_command('/sbin/pfctl -vvPsr');\n\t\tstatic $x = 1;\n",
        )
        .unwrap();
        patch_for_php82(&file).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "\t\tstatic $out = null;\n\t\t$out ??= exec_command('/sbin/pfctl -vvPsr');\n\t\tstatic $x = 1;\n"
        );
    }

    #[test]
    fn net_ipv6_methods_become_public_static() {
        assert_eq!(
            static_methods("class A {\n    function b($x)\n    {\n        function_exists('x');\n"),
            "class A {\n    public static function b($x)\n    {\n        function_exists('x');\n"
        );
    }

    #[test]
    fn lab_config_adds_lan_opt1_and_lan_dhcp() {
        let reference = "<pfsense><interfaces>\n\t\t<wan><if>vtnet0</if></wan>\n\t</interfaces>\n\t<dhcpd></dhcpd><installedpackages>restapi</installedpackages></pfsense>";
        let config = lab_config(reference).unwrap();
        assert!(config.contains("<if>vtnet1</if>"));
        assert!(config.contains("<if>vtnet2</if>"));
        assert!(config.contains("<from>192.168.1.100</from>"));
        assert!(config.find("<lan>").unwrap() < config.find("</interfaces>").unwrap());
    }

    #[test]
    fn backup_cache_is_php_serialised_like_backup_config_writes_it() {
        let config = "<pfsense><version>23.3</version><revision><time>1770387596</time><description><![CDATA[admin@10.0.2.2: Added key]]></description></revision></pfsense>";
        let revision = Revision::of(config);
        assert_eq!(revision.time, 1770387596);
        assert_eq!(
            revision.backup_cache(1234),
            "a:1:{i:1770387596;a:3:{s:11:\"description\";s:25:\"admin@10.0.2.2: Added key\";s:7:\"version\";s:4:\"23.3\";s:8:\"filesize\";i:1234;}}"
        );
    }

    #[test]
    fn lab_config_refuses_a_config_without_the_package() {
        let err = lab_config("<pfsense><interfaces></interfaces></pfsense>").unwrap_err();
        assert!(err.to_string().contains("REST API package"), "{err}");
    }
}
