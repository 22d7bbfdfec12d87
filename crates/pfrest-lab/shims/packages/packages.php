<?php
/*
 * pfrest lab: stand-ins for the add-on packages' PHP includes that pfrest's package models load
 * (HAProxy, BIND, ACME, FreeRADIUS, WireGuard, Service Watchdog, OpenVPN client export). The
 * packages themselves are not part of the lab: their config lives in config.xml as on a box and
 * pfrest's own models validate it; the functions that would write service files or restart the
 * daemons succeed doing nothing and are logged like the pfSense.so stand-in.
 */
if (defined('PFREST_LAB_PACKAGES')) {
    return;
}
define('PFREST_LAB_PACKAGES', true);
require_once '/usr/local/share/pfrest-lab/pfsense_ext.php';

/* HAProxy */
function haproxy_check_and_run(&$savemsg = null, $reload = false) { pfrest_lab_log(__FUNCTION__, []); return true; }

/* BIND */
function bind_sync() { pfrest_lab_log(__FUNCTION__, []); }

/* ACME */
function acme_write_all_certificates() { pfrest_lab_log(__FUNCTION__, []); }

/* Service Watchdog */
function servicewatchdog_cron_job() { pfrest_lab_log(__FUNCTION__, []); }

/* FreeRADIUS: validation is pfrest's own; the package's extra checks find nothing. */
function freeradius_validate_clients($post, &$input_errors) { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_validate_interfaces($post, &$input_errors) { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_validate_users($post, &$input_errors) { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_validate_eap($post, &$input_errors) { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_validate_ldap($post, &$input_errors) { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_validate_macs($post, &$input_errors) { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_clients_resync() { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_settings_resync() { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_users_resync() { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_eapconf_resync() { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_modulesldap_resync() { pfrest_lab_log(__FUNCTION__, []); }
function freeradius_authorizedmacs_resync() { pfrest_lab_log(__FUNCTION__, []); }

/* OpenVPN client export: no installers or archives are built on the lab. */
function openvpn_client_export_prefix(...$a) { pfrest_lab_log(__FUNCTION__, $a); return 'pfSense-lab'; }
function openvpn_client_export_config(...$a) { pfrest_lab_log(__FUNCTION__, $a); return false; }
function openvpn_client_export_installer(...$a) { pfrest_lab_log(__FUNCTION__, $a); return false; }
function viscosity_openvpn_client_config_exporter(...$a) { pfrest_lab_log(__FUNCTION__, $a); return false; }

/* WireGuard: keys are real Curve25519 keys (libsodium); tunnels are only config. */
function wg_is_valid_key($key) { $raw = base64_decode((string) $key, true); return $raw !== false && strlen($raw) === 32; }
function wg_is_key_clamped($key) { $raw = base64_decode((string) $key, true); return $raw !== false && strlen($raw) === 32 && (ord($raw[0]) & 7) === 0 && (ord($raw[31]) & 0xC0) === 0x40; }
function wg_clamp_key($key)
{
    $raw = base64_decode((string) $key, true);
    $raw[0] = chr(ord($raw[0]) & 248);
    $raw[31] = chr((ord($raw[31]) & 127) | 64);
    return base64_encode($raw);
}
function wg_gen_publickey($privkey)
{
    $pub = sodium_crypto_scalarmult_base(base64_decode(wg_clamp_key($privkey)));
    return ['privkey' => $privkey, 'pubkey' => base64_encode($pub)];
}
function wg_gen_keypair($clamp = true)
{
    $priv = base64_encode(random_bytes(32));
    return wg_gen_publickey($clamp ? wg_clamp_key($priv) : $priv);
}
function next_wg_if()
{
    $used = [];
    foreach ((config_get_path('installedpackages/wireguard/tunnels/item', []) ?: []) as $tunnel) {
        $used[] = $tunnel['name'] ?? '';
    }
    for ($i = 0; in_array("tun_wg{$i}", $used, true); $i++);
    return "tun_wg{$i}";
}
function wg_apply_list_add($list, $items) { pfrest_lab_log(__FUNCTION__, [$list, $items]); return true; }
function wg_apply_list_get($list, $delete = true) { return []; }
function wg_is_service_running() { return false; }
function wg_toggle_wireguard() { pfrest_lab_log(__FUNCTION__, []); }
function wg_tunnel_sync(...$a) { pfrest_lab_log(__FUNCTION__, $a); return true; }
function wg_get_status(...$a) { return []; }
