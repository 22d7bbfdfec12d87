<?php
/*
 * pfrest lab: a stand-in for pfSense's FreeBSD-only PHP extension (pfSense.so), loaded before
 * every script (auto_prepend_file, and by the router, which PHP 8.2's built-in server does not
 * prepend). Reads answer from a fixed set of NICs that follows config.xml; calls that would change
 * the kernel succeed doing nothing. Every call is logged to /var/log/pfsense_ext.log: the log is
 * how to find the next gap.
 */

if (defined('PFREST_LAB_EXT')) {
    return;
}
define('PFREST_LAB_EXT', true);

// The certificate sections the lab adds to openssl.cnf read $ENV::SAN (certs.inc sets it before a
// certificate with alternative names); OpenSSL refuses the whole file while SAN is unset.
if (getenv('SAN') === false) {
    putenv('SAN=');
}

// Interface flag and capability bits as FreeBSD's net/if.h defines them.
const IFF_UP = 0x1;
const IFF_BROADCAST = 0x2;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const IFF_PROMISC = 0x100;
const IFF_MULTICAST = 0x8000;
const IFF_LINK0 = 0x1000;
const IFF_LINK1 = 0x2000;
const IFF_LINK2 = 0x4000;
const IFCAP_RXCSUM = 0x1;
const IFCAP_TXCSUM = 0x2;
const IFCAP_NETCONS = 0x4;
const IFCAP_VLAN_MTU = 0x8;
const IFCAP_VLAN_HWTAGGING = 0x10;
const IFCAP_JUMBO_MTU = 0x20;
const IFCAP_POLLING = 0x40;
const IFCAP_VLAN_HWCSUM = 0x80;
const IFCAP_TSO4 = 0x100;
const IFCAP_TSO6 = 0x200;
const IFCAP_LRO = 0x400;
const IFCAP_WOL_UCAST = 0x800;
const IFCAP_WOL_MCAST = 0x1000;
const IFCAP_WOL_MAGIC = 0x2000;
const IFCAP_TOE4 = 0x4000;
const IFCAP_TOE6 = 0x8000;
const IFCAP_VLAN_HWFILTER = 0x10000;
const IFCAP_POLLING_NOCOUNT = 0x20000;
const IFCAP_VLAN_HWTSO = 0x40000;
const IFCAP_LINKSTATE = 0x80000;
const IFCAP_NETMAP = 0x100000;
const IFCAP_RXCSUM_IPV6 = 0x200000;
const IFCAP_TXCSUM_IPV6 = 0x400000;
const IFCAP_HWSTATS = 0x800000;
const IFCAP_TSO = IFCAP_TSO4 | IFCAP_TSO6;
const IFCAP_WOL = IFCAP_WOL_UCAST | IFCAP_WOL_MCAST | IFCAP_WOL_MAGIC;

function pfrest_lab_log(string $call, array $args): void
{
    @file_put_contents(
        '/var/log/pfsense_ext.log',
        gmdate('c') . ' ' . $call . ' ' . json_encode($args, JSON_UNESCAPED_SLASHES) . "\n",
        FILE_APPEND
    );
}

/* The physical NICs of the lab (three like the golden VM, one spare) and pseudo-interfaces. */
function pfrest_lab_nics(): array
{
    return ['vtnet0', 'vtnet1', 'vtnet2', 'vtnet3', 'lo0', 'enc0', 'pflog0', 'pfsync0'];
}

/* Static IPv4 address per real interface from config.xml (WAN on DHCP gets QEMU's 10.0.2.15/24). */
function pfrest_lab_addresses(): array
{
    static $cache = null;
    $mtime = @filemtime('/cf/conf/config.xml');
    if ($cache !== null && $cache[0] === $mtime) {
        return $cache[1];
    }
    $addresses = ['lo0' => ['127.0.0.1', 8]];
    $xml = @simplexml_load_file('/cf/conf/config.xml');
    if ($xml !== false && isset($xml->interfaces)) {
        foreach ($xml->interfaces->children() as $iface) {
            $if = (string) $iface->if;
            $ip = (string) $iface->ipaddr;
            if ($ip === 'dhcp') {
                $addresses[$if] = ['10.0.2.15', 24];
            } elseif (filter_var($ip, FILTER_VALIDATE_IP, FILTER_FLAG_IPV4)) {
                $addresses[$if] = [$ip, (int) $iface->subnet];
            }
        }
    }
    $cache = [$mtime, $addresses];
    return $addresses;
}

function pfrest_lab_mac(string $if): string
{
    $n = array_search($if, pfrest_lab_nics(), true);
    return sprintf('58:9c:fc:00:00:%02x', $n === false ? 0xff : $n + 1);
}

function pfrest_lab_netmask(int $bits): string
{
    return long2ip($bits === 0 ? 0 : (~0 << (32 - $bits)) & 0xffffffff);
}

/*
 * The cloned interfaces config.xml names, which pfSense created at boot or when they were made:
 * LAGGs and GRE tunnels by the unit pfSense_interface_create2 gave them (`lagg0`). A VLAN can
 * then name a LAGG as its parent, as on pfSense.
 */
function pfrest_lab_cloned(): array
{
    $xml = @simplexml_load_file('/cf/conf/config.xml');
    if ($xml === false) {
        return [];
    }
    $cloned = [];
    foreach ([['laggs', 'lagg', 'laggif'], ['gres', 'gre', 'greif']] as [$list, $item, $name]) {
        foreach ($xml->$list->$item ?? [] as $one) {
            if ((string) $one->$name !== '') {
                $cloned[] = (string) $one->$name;
            }
        }
    }
    return $cloned;
}

/* WireGuard's tunnels (`tun_wg0`), which the package creates while it runs. */
function pfrest_lab_wireguard_tunnels(): array
{
    $xml = @simplexml_load_file('/cf/conf/config.xml');
    if ($xml === false) {
        return [];
    }
    $tunnels = [];
    foreach ($xml->installedpackages->wireguard->tunnels->item ?? [] as $tunnel) {
        if ((string) $tunnel->name !== '') {
            $tunnels[] = (string) $tunnel->name;
        }
    }
    return $tunnels;
}

function pfSense_interface_listget($flags = 0)
{
    pfrest_lab_log(__FUNCTION__, func_get_args());
    return array_merge(pfrest_lab_nics(), pfrest_lab_cloned());
}

/*
 * `ifconfig TYPE create`: a bare type gets the lowest unit no interface has (`lagg0`), a full
 * name is created as it is.
 */
function pfSense_interface_create2(...$a)
{
    pfrest_lab_log(__FUNCTION__, $a);
    $name = (string) ($a[0] ?? '');
    if (!preg_match('/^[a-z]+$/', $name)) {
        return $name;
    }
    $taken = array_merge(pfrest_lab_nics(), pfrest_lab_cloned());
    for ($unit = 0; in_array($name . $unit, $taken, true); $unit++) {
    }
    return $name . $unit;
}

function pfSense_get_ifaddrs($if)
{
    pfrest_lab_log(__FUNCTION__, func_get_args());
    if (!in_array($if, pfrest_lab_nics(), true)) {
        return null;
    }
    $info = [
        'name' => $if,
        'flags' => ['up', 'broadcast', 'running', 'multicast'],
        'status' => 'up',
        'macaddr' => pfrest_lab_mac($if),
        'hwaddr' => pfrest_lab_mac($if),
        'mtu' => $if === 'lo0' ? 16384 : 1500,
        'iftype' => 'ether',
        'caps' => [],
        'encaps' => [],
        'options' => [],
        'addrs' => [],
        'addrs6' => [],
    ];
    $addresses = pfrest_lab_addresses();
    if (isset($addresses[$if])) {
        [$ip, $bits] = $addresses[$if];
        $network = long2ip(ip2long($ip) & ip2long(pfrest_lab_netmask($bits)));
        $info['addrs'][] = [
            'addr' => $ip,
            'subnetbits' => $bits,
            'subnet' => pfrest_lab_netmask($bits),
            'broadcast' => long2ip(ip2long($network) | (~ip2long(pfrest_lab_netmask($bits)) & 0xffffffff)),
        ];
    }
    return $info;
}

function pfSense_get_interface_addresses($if)
{
    pfrest_lab_log(__FUNCTION__, func_get_args());
    $info = pfSense_get_ifaddrs($if);
    if ($info === null) {
        return null;
    }
    if ($info['addrs']) {
        $info['ipaddr'] = $info['addrs'][0]['addr'];
        $info['subnetbits'] = $info['addrs'][0]['subnetbits'];
        $info['subnet'] = $info['addrs'][0]['subnet'];
    }
    return $info;
}

function pfSense_get_interface_stats($if)
{
    pfrest_lab_log(__FUNCTION__, func_get_args());
    $keys = ['inpkts', 'inbytes', 'outpkts', 'outbytes', 'inerrs', 'outerrs', 'collisions', 'inmcasts',
        'outmcasts', 'unsuppproto', 'mtu'];
    $stats = array_fill_keys($keys, 0);
    $stats['mtu'] = 1500;
    return $stats;
}

function pfSense_interface_getmtu($if)
{
    pfrest_lab_log(__FUNCTION__, func_get_args());
    return ['mtu' => 1500];
}

/* Reads of pf, IPsec and captive-portal kernel state: nothing is there. */
function pfrest_lab_empty(string $name, array $args): array
{
    pfrest_lab_log($name, $args);
    return [];
}
function pfSense_get_pf_rules(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_get_pf_states(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_get_pf_stats(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_ipsec_list_sa(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_pf_cp_get_eth_pipes(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_pf_cp_get_eth_rule_counters(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_pf_cp_get_eth_last_active(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_get_os_hw_data(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }
function pfSense_get_os_kern_data(...$a) { return pfrest_lab_empty(__FUNCTION__, $a); }

/* Calls that change the kernel: succeed doing nothing. */
function pfrest_lab_noop(string $name, array $args): bool
{
    pfrest_lab_log($name, $args);
    return true;
}
function pfSense_interface_destroy(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_interface_flags(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_interface_mtu(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_interface_setaddress(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_interface_deladdress(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_interface_rename(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_interface_capabilities(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_interface_setdescr(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_bridge_add_member(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_bridge_del_member(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_bridge_member_flags(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_vlan_create(...$a) { pfrest_lab_log(__FUNCTION__, $a); return $a[0] ?? ''; }
function pfSense_kill_states(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_kill_srcstates(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_pf_cp_flush(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_pf_cp_zerocnt(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_pf_anchor_zerocnt(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_ngctl_name(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_ngctl_attach(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_ngctl_detach(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_fsync(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_sync(...$a) { return pfrest_lab_noop(__FUNCTION__, $a); }
function pfSense_ip_to_mac(...$a) { pfrest_lab_log(__FUNCTION__, $a); return null; }

/* PHP 8.3 functions pfSense uses, for PHP 8.2 (Debian bookworm). */
if (!function_exists('str_increment')) {
    function str_increment(string $string): string
    {
        $string++;
        return $string;
    }
}
if (!function_exists('mb_str_pad')) {
    function mb_str_pad(string $string, int $length, string $pad_string = ' ', int $pad_type = STR_PAD_RIGHT, ?string $encoding = null): string
    {
        $encoding ??= mb_internal_encoding();
        $missing = $length - mb_strlen($string, $encoding);
        if ($missing <= 0 || $pad_string === '') {
            return $string;
        }
        $fill = fn (int $n) => mb_substr(str_repeat($pad_string, (int) ceil($n / max(1, mb_strlen($pad_string, $encoding)))), 0, $n, $encoding);
        return match ($pad_type) {
            STR_PAD_LEFT => $fill($missing) . $string,
            STR_PAD_BOTH => $fill(intdiv($missing, 2)) . $string . $fill($missing - intdiv($missing, 2)),
            default => $string . $fill($missing),
        };
    }
}
