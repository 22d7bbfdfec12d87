//! The compiled-in initial state: what a fresh pfSense CE 2.8.1 with the REST API package looks
//! like. Written from our own reading of a default config; objects only name the fields that
//! matter, every other model field is filled from its spec default when the store is built.

use serde_json::{Value, json};

/// Password of the seeded `admin` user (the pfSense install default).
pub const DEFAULT_PASSWORD: &str = "pfsense";

/// Hidden key holding a string id (`wan`, `lan`, `bogons`) for models addressed by name.
pub const STRING_ID_KEY: &str = "__id";

/// Seed data: `{"collections": {Model: [objects]}, "singletons": {Model: object}}`.
pub fn default_state(with_opt1: bool) -> Value {
    let mut interfaces = vec![
        // As pfSense's default config.xml stores them: a DHCP interface's `ipaddr` is `dhcp`,
        // its `ipaddrv6` `dhcp6`; a tracking interface's `ipaddrv6` is `track6`.
        json!({"__id": "wan", "if": "em0", "enable": true, "descr": "WAN", "typev4": "dhcp",
               "ipaddr": "dhcp", "typev6": "dhcp6", "ipaddrv6": "dhcp6", "blockpriv": true,
               "blockbogons": true}),
        json!({"__id": "lan", "if": "em1", "enable": true, "descr": "LAN", "typev4": "static",
               "ipaddr": "192.168.1.1", "subnet": 24, "typev6": "track6", "ipaddrv6": "track6",
               "track6_interface": "wan", "track6_prefix_id_hex": "0"}),
    ];
    let mut available = vec![
        json!({"if": "em0", "mac": "00:0c:29:00:00:01", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": "wan"}),
        json!({"if": "em1", "mac": "00:0c:29:00:00:02", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": "lan"}),
        json!({"if": "em2", "mac": "00:0c:29:00:00:03", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": null}),
    ];
    if with_opt1 {
        interfaces.push(json!({"__id": "opt1", "if": "em2", "enable": false, "descr": "OPT1", "typev4": "none", "typev6": "none"}));
        available[2]["in_use_by"] = json!("opt1");
        available.push(json!({"if": "em3", "mac": "00:0c:29:00:00:04", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": null}));
    }
    json!({
        "collections": {
            "User": [
                {"name": "admin", "password": DEFAULT_PASSWORD, "uid": 0, "scope": "system",
                 "descr": "System Administrator", "priv": ["user-shell-access"], "disabled": false}
            ],
            "UserGroup": [
                {"name": "all", "gid": 1998, "scope": "system", "description": "All Users", "member": ["admin"], "priv": []},
                {"name": "admins", "gid": 1999, "scope": "system", "description": "System Administrators", "member": ["admin"], "priv": ["page-all"]}
            ],
            "NetworkInterface": interfaces,
            "AvailableInterface": available,
            "FirewallRule": [
                {"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "source": "lan", "destination": "any",
                 "descr": "Default allow LAN to any rule", "tracker": 100000101},
                {"type": "pass", "interface": ["lan"], "ipprotocol": "inet6", "source": "lan", "destination": "any",
                 "descr": "Default allow LAN IPv6 to any rule", "tracker": 100000102}
            ],
            "DHCPServer": [
                {"__id": "lan", "interface": "lan", "enable": true, "range_from": "192.168.1.100", "range_to": "192.168.1.199"}
            ],
            "NTPTimeServer": [
                {"timeserver": "2.pfsense.pool.ntp.org", "type": "pool", "prefer": false, "noselect": false}
            ],
            "RESTAPIAccessListEntry": [
                {"type": "allow", "weight": 1, "network": "0.0.0.0/0", "users": [], "descr": "Allow all IPv4 (default)"},
                {"type": "allow", "weight": 1, "network": "::/0", "users": [], "descr": "Allow all IPv6 (default)"}
            ],
            "CronJob": [
                {"minute": "*/1", "hour": "*", "mday": "*", "month": "*", "wday": "*", "who": "root", "command": "/usr/sbin/newsyslog"},
                {"minute": "1", "hour": "3", "mday": "*", "month": "*", "wday": "*", "who": "root", "command": "/etc/rc.periodic daily"},
                {"minute": "15", "hour": "4", "mday": "*", "month": "*", "wday": "6", "who": "root", "command": "/etc/rc.periodic weekly"},
                {"minute": "30", "hour": "5", "mday": "1", "month": "*", "wday": "*", "who": "root", "command": "/etc/rc.periodic monthly"}
            ],
            "Table": [
                {"__id": "bogons", "entries": ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10"]},
                {"__id": "bogonsv6", "entries": ["::/8", "100::/64"]},
                {"__id": "snort2c", "entries": []},
                {"__id": "virusprot", "entries": []}
            ],
            "ARPTable": [
                {"hostname": "client.home.arpa", "ip_address": "192.168.1.100", "mac_address": "00:0c:29:aa:bb:01",
                 "interface": "em1", "type": "ethernet", "permanent": false, "dnsresolve": "client.home.arpa", "expires": "1187 seconds"},
                {"hostname": "printer.home.arpa", "ip_address": "192.168.1.101", "mac_address": "00:0c:29:aa:bb:02",
                 "interface": "em1", "type": "ethernet", "permanent": false, "dnsresolve": "printer.home.arpa", "expires": "905 seconds"}
            ],
            "FirewallState": [
                {"interface": "lan", "protocol": "tcp", "direction": "in", "source": "192.168.1.100:53512",
                 "destination": "192.168.1.1:443", "state": "ESTABLISHED:ESTABLISHED", "age": "00:01:10",
                 "expires_in": "23:59:58", "packets_total": 42, "packets_in": 21, "packets_out": 21,
                 "bytes_total": 8400, "bytes_in": 3100, "bytes_out": 5300},
                {"interface": "wan", "protocol": "udp", "direction": "out", "source": "10.0.2.15:12345",
                 "destination": "9.9.9.9:53", "state": "MULTIPLE:SINGLE", "age": "00:00:05",
                 "expires_in": "00:00:55", "packets_total": 2, "packets_in": 1, "packets_out": 1,
                 "bytes_total": 180, "bytes_in": 110, "bytes_out": 70}
            ],
            "DHCPServerLease": [
                {"ip": "192.168.1.100", "mac": "00:0c:29:aa:bb:01", "hostname": "client", "if": "lan",
                 "starts": "2026/01/01 00:00:00", "ends": "2026/01/01 02:00:00", "active_status": "active",
                 "online_status": "active/online", "descr": ""}
            ],
            "RoutingGatewayStatus": [
                {"name": "WAN_DHCP", "srcip": "10.0.2.15", "monitorip": "10.0.2.2", "delay": 0.5, "stddev": 0.1, "loss": 0.0, "status": "online", "substatus": "none"}
            ],
            "InterfaceStats": [
                {"name": "wan", "descr": "WAN", "hwif": "em0", "macaddr": "00:0c:29:00:00:01", "mtu": "1500", "enable": true,
                 "status": "up", "ipaddr": "10.0.2.15", "subnet": "24", "inerrs": 0, "outerrs": 0, "collisions": 0,
                 "inbytes": 1048576, "outbytes": 524288, "inpkts": 1024, "outpkts": 512, "media": "1000baseT <full-duplex>", "gateway": "10.0.2.2"},
                {"name": "lan", "descr": "LAN", "hwif": "em1", "macaddr": "00:0c:29:00:00:02", "mtu": "1500", "enable": true,
                 "status": "up", "ipaddr": "192.168.1.1", "subnet": "24", "inerrs": 0, "outerrs": 0, "collisions": 0,
                 "inbytes": 524288, "outbytes": 1048576, "inpkts": 512, "outpkts": 1024, "media": "1000baseT <full-duplex>"}
            ],
            "IPsecSAStatus": [
                {"con_id": "con1", "uniqueid": 1, "version": 2, "state": "ESTABLISHED", "local_host": "10.0.2.15",
                 "local_port": "500", "remote_host": "198.51.100.1", "remote_port": "500", "encr_alg": "AES_GCM_16",
                 "encr_keysize": 256, "prf_alg": "PRF_HMAC_SHA2_256", "dh_group": "MODP_2048", "established": 120, "rekey_time": 25000,
                 "child_sas": [{"name": "con1_1", "uniqueid": 1, "reqid": 1, "state": "INSTALLED", "mode": "TUNNEL",
                                "protocol": "ESP", "encap": false, "spi_in": "c1a2b3c4", "spi_out": "d1e2f3a4",
                                "encr_alg": "AES_GCM_16", "encr_keysize": 256, "bytes_in": 0, "bytes_out": 0,
                                "packets_in": 0, "packets_out": 0, "rekey_time": 3000, "life_time": 3600, "install_time": 120,
                                "local_ts": ["192.168.1.0/24"], "remote_ts": ["10.10.0.0/24"]}]}
            ],
            "OpenVPNServerStatus": [
                {"name": "Example server", "mode": "server_tls", "port": "1194", "vpnid": 1, "mgmt": "server1",
                 "conns": [{"common_name": "client1", "remote_host": "198.51.100.7:51000", "virtual_addr": "10.8.0.2",
                            "bytes_recv": 1000, "bytes_sent": 2000, "connect_time": "2026-01-01 00:00:00",
                            "connect_time_unix": 1767225600, "user_name": "client1", "client_id": 0, "peer_id": 0, "cipher": "AES-256-GCM"},
                           {"common_name": "client2", "remote_host": "203.0.113.40:51001", "virtual_addr": "10.8.0.3",
                            "bytes_recv": 500, "bytes_sent": 700, "connect_time": "2026-01-01 00:05:00",
                            "connect_time_unix": 1767225900, "user_name": "client2", "client_id": 1, "peer_id": 1, "cipher": "AES-256-GCM"}],
                 "routes": [{"common_name": "client1", "remote_host": "198.51.100.7:51000", "virtual_addr": "10.8.0.2", "last_time": "2026-01-01 00:00:00"}]}
            ],
            "OpenVPNClientStatus": [],
            "SystemLog": [
                {"text": "Jan  1 00:00:00 pfSense syslogd: kernel boot file is /boot/kernel/kernel"},
                {"text": "Jan  1 00:00:05 pfSense php-fpm[400]: /index.php: Successful login for user 'admin' from: 192.168.1.100"}
            ],
            "FirewallLog": [
                {"text": "Jan  1 00:01:00 pfSense filterlog[1000]: 5,,,1000000103,em0,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,198.51.100.9,10.0.2.15,40000,22,0,S,1,,,,"}
            ],
            "DHCPLog": [
                {"text": "Jan  1 00:02:00 pfSense dhcpd[600]: DHCPACK on 192.168.1.100 to 00:0c:29:aa:bb:01 via em1"}
            ],
            "AuthLog": [
                {"text": "Jan  1 00:00:10 pfSense sshd[700]: Accepted keyboard-interactive/pam for admin from 192.168.1.100"}
            ],
            "OpenVPNLog": [],
            "RESTAPILog": [],
            "Service": [
                {"name": "unbound", "description": "DNS Resolver", "enabled": true, "status": true},
                {"name": "dhcpd", "description": "DHCP Service", "enabled": true, "status": true},
                {"name": "ntpd", "description": "NTP clock sync", "enabled": true, "status": true},
                {"name": "sshd", "description": "Secure Shell Daemon", "enabled": true, "status": true},
                {"name": "syslogd", "description": "System Logger Daemon", "enabled": true, "status": true},
                {"name": "dpinger", "description": "Gateway Monitoring Daemon", "enabled": true, "status": true}
            ],
            "AvailablePackage": [],
            "Package": [],
            "ConfigHistoryRevision": []
        },
        "singletons": {
            "SystemHostname": {"hostname": "pfSense", "domain": "home.arpa"},
            "SystemTimezone": {"timezone": "Etc/UTC"},
            "SystemDNS": {"dnsallowoverride": true, "dnslocalhost": null, "dnsserver": []},
            "SystemConsole": {"passwd_protect_console": false},
            "DNSResolverSettings": {"enable": true, "dnssec": true, "active_interface": ["all"], "outgoing_interface": ["all"]},
            "SSH": {"enable": true, "port": "22"},
            "WebGUISettings": {"protocol": "https", "port": "443", "sslcertref": "65a1b2c3d4e5f"},
            "OutboundNATMode": {"mode": "automatic"},
            "FirewallStatesSize": {"maximumstates": 398000, "defaultmaximumstates": 398000, "currentstates": 2},
            "DefaultGateway": {"defaultgw4": "", "defaultgw6": ""},
            "DHCPServerBackend": {"dhcpbackend": "isc"},
            "CARP": {"enable": true, "maintenance_mode": false},
            "RESTAPISettings": {"enabled": true, "read_only": false, "keep_backup": true, "login_protection": true,
                                "log_successful_auth": false, "hateoas": false, "expose_sensitive_fields": false,
                                "override_sensitive_fields": [], "allowed_interfaces": [], "represent_interfaces_as": "id",
                                "auth_methods": ["BasicAuth"], "jwt_exp": 3600, "ha_sync": false, "ha_sync_hosts": []},
            "RESTAPIVersion": {"current_version": "v2.7.1", "latest_version": "v2.7.1",
                               "latest_version_release_date": "2025-10-01T00:00:00Z", "update_available": false,
                               "available_versions": ["v2.7.1", "v2.7.0", "v2.6.0"]},
            "SystemVersion": {"version": "2.8.1-RELEASE", "base": "15.0", "patch": "0",
                              "buildtime": "Mon Oct 06 12:00:00 UTC 2025"},
            "SystemStatus": {"platform": "pfSense", "serial": "0123456789", "netgate_id": "0123456789abcdef0123",
                             "uptime": "0 Days 01 Hour 00 Minutes 00 Seconds", "bios_vendor": "SeaBIOS",
                             "bios_version": "1.16.3", "bios_date": "04/01/2014", "kernel_pti": false,
                             "mds_mitigation": "inactive", "temp_c": 40.0, "temp_f": 104.0,
                             "cpu_model": "QEMU Virtual CPU version 2.5+", "cpu_load_avg": [0.1, 0.05, 0.01],
                             "cpu_count": 2, "cpu_usage": 3.5, "mbuf_usage": 1.2, "mem_usage": 22.0,
                             "swap_usage": 0.0, "disk_usage": 8.0}
        }
    })
}

/// Add-on packages the spec knows, with the version the emulator reports when installed.
pub const KNOWN_PACKAGES: &[(&str, &str, &str)] = &[
    (
        "pfSense-pkg-acme",
        "0.9_1",
        "ACME package: automated certificate management",
    ),
    ("pfSense-pkg-bind", "9.20_1", "BIND domain name service"),
    ("pfSense-pkg-Cron", "0.3.8_4", "Cron jobs management"),
    (
        "pfSense-pkg-freeradius3",
        "0.15.12",
        "FreeRADIUS 3.x server",
    ),
    (
        "pfSense-pkg-haproxy",
        "0.63_2",
        "HAProxy load balancer and proxy",
    ),
    (
        "pfSense-pkg-openvpn-client-export",
        "1.9.5",
        "OpenVPN client configuration export",
    ),
    (
        "pfSense-pkg-Service_Watchdog",
        "1.8.7_1",
        "Monitors and restarts services",
    ),
    ("pfSense-pkg-WireGuard", "0.2.9", "WireGuard VPN"),
    ("pfSense-pkg-nmap", "1.4.4_7", "Network scanner"),
    ("pfSense-pkg-iperf", "3.0.3", "Network performance testing"),
];
