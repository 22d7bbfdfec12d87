<?php
/*
 * pfrest lab: prints for the netstat(1) stand-in (netstat.sh). pfSense's get_interface_list()
 * reads the interfaces from `netstat -inW -f link` (name and MAC, fields 1 and 4) and their
 * addresses from `netstat -inW -f inet`, and pfrest offers what it lists as the ports an
 * interface may be assigned to. Listed: the lab's NICs, the cloned interfaces config.xml names
 * and WireGuard's tunnels, as on a box where the package runs (pfsense_ext.php, which php.ini
 * prepends). Any other call (`--libxo json`) fails, as the host's netstat did: pfSense then
 * reads nothing.
 */

$args = array_slice($argv, 1);
$family = null;
foreach ($args as $i => $arg) {
    if ($arg === '-f') {
        $family = $args[$i + 1] ?? null;
    }
}
if (!in_array('-inW', $args, true) || !in_array($family, ['link', 'inet'], true)) {
    exit(1);
}

$interfaces = array_merge(pfrest_lab_nics(), pfrest_lab_cloned(), pfrest_lab_wireguard_tunnels());
$addresses = pfrest_lab_addresses();
echo "Name    Mtu Network       Address              Ipkts Ierrs Idrop    Opkts Oerrs  Coll\n";
foreach ($interfaces as $n => $if) {
    if ($family === 'link') {
        printf("%s 1500 <Link#%d> %s 0 0 0 0 0 0\n", $if, $n + 1, pfrest_lab_mac($if));
    } elseif (isset($addresses[$if])) {
        [$ip, $bits] = $addresses[$if];
        $network = long2ip(ip2long($ip) & ip2long(pfrest_lab_netmask($bits)));
        printf("%s 1500 %s/%d %s 0 0 0 0 0 0\n", $if, $network, $bits, $ip);
    }
}
