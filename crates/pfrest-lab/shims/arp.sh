#!/bin/sh
# pfrest lab: stands in for FreeBSD's arp(8), which pfSense runs as /usr/sbin/arp (the lab points
# those calls here; see TOOL_PATH_REDIRECTS in src/root.rs). The cache is a file the lab seeds
# with the hosts the emulator's seed has on LAN, one line per entry: "IP MAC INTERFACE EXPIRES",
# EXPIRES in seconds or "permanent". What pfSense and pfrest run:
#   arp --libxo json -an      the cache in libxo's JSON layout (system_get_arp_table())
#   arp -n IP                 one entry in arp's text layout (get_interface_mac-style lookups)
#   arp -d IP                 delete it; "IP: not in table" and status 1 when there is none
#   arp -d -i IF -a           (an interface reconfigure flushing IF) keeps the entries: on a
#                             box the hosts behind IF are relearnt as soon as they talk, which
#                             the lab's stand-in NICs cannot do
#   arp -s IP MAC             a permanent entry (static ARP of DHCP static mappings)
echo "$(date -u +%FT%TZ) $0 $*" >> /var/log/tools.log
cache=/var/db/pfrest-lab/arp-cache
touch "$cache"
mode=show json=0 all=0 iface= host= mac=
while [ $# -gt 0 ]; do
  case "$1" in
    --libxo) shift; [ "${1:-}" = json ] && json=1 ;;
    -d) mode=delete ;;
    -s) mode=set ;;
    -i) shift; iface=${1:-} ;;
    -*) case "$1" in *a*) all=1 ;; esac ;;
    *) if [ -z "$host" ]; then host=$1; elif [ -z "$mac" ]; then mac=$1; fi ;;
  esac
  shift
done
# Keep the cache's lines for which the awk condition is false.
drop() {
  awk -v ip="$host" "!($1)" "$cache" > "$cache.new" && mv "$cache.new" "$cache"
}
case "$mode" in
  delete)
    [ "$all" = 1 ] && exit 0
    if awk -v ip="$host" '$1 == ip { found = 1 } END { exit !found }' "$cache"; then
      drop '$1 == ip'
      echo "$host ($host) deleted"
      exit 0
    fi
    echo "arp: $host: not in table" >&2
    exit 1 ;;
  set)
    drop '$1 == ip'
    echo "$host $mac ${iface:-vtnet1} permanent" >> "$cache"
    exit 0 ;;
esac
if [ "$json" = 1 ]; then
  awk -v ip="$host" 'BEGIN { printf "{\"__version\": \"1\", \"arp\": {\"arp-cache\": [" }
    NF >= 4 && (ip == "" || $1 == ip) {
      if (n++) printf ", "
      printf "{\"hostname\":\"?\",\"ip-address\":\"%s\",\"mac-address\":\"%s\",\"interface\":\"%s\",", $1, $2, $3
      if ($4 == "permanent") printf "\"permanent\":true,"; else printf "\"expires\":%d,", $4
      printf "\"type\":\"ethernet\"}"
    }
    END { print "]}}" }' "$cache"
  exit 0
fi
awk -v ip="$host" '
  NF >= 4 && (ip == "" || $1 == ip) {
    found = 1
    printf "? (%s) at %s on %s %s [ethernet]\n", $1, $2, $3, ($4 == "permanent" ? "permanent" : "expires in " $4 " seconds")
  }
  END { if (ip != "" && !found) { printf "%s (%s) -- no entry\n", ip, ip; exit 1 } }' "$cache"
