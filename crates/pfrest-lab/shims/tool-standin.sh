#!/bin/sh
# pfrest lab: stands in for a FreeBSD tool that pfSense calls by absolute path. Logs the call,
# prints nothing and succeeds; sysctl prints plausible values for the keys pfSense reads.
echo "$(date -u +%FT%TZ) $0 $*" >> /var/log/tools.log
name=${0##*/}
# pfrest reads its own version from `pkg-static info pfSense-pkg-RESTAPI` (RESTAPIVersion::
# get_api_version, `GET /api/v2/system/restapi/version`): answer with the lab's release, in
# the layout pkg prints on a box.
case "$name $*" in
  "pkg-static info pfSense-pkg-RESTAPI"|"pkg info pfSense-pkg-RESTAPI")
    v=$(cat /usr/local/share/pfrest-lab/pfrest-version 2>/dev/null)
    [ -n "$v" ] && printf 'pfSense-pkg-RESTAPI-%s\nName           : pfSense-pkg-RESTAPI\nVersion        : %s\n' "$v" "$v"
    exit 0 ;;
esac
[ "$name" = sysctl ] || exit 0

value() {
  case "$1" in
    hw.ncpu|kern.smp.cpus) echo 2 ;;
    hw.physmem|hw.realmem|hw.usermem) echo 4173332480 ;;   # 3980 MiB, as on the golden VM
    hw.pagesize|vm.stats.vm.v_page_size) echo 4096 ;;
    hw.model) echo "QEMU Virtual CPU version 2.5+" ;;
    hw.machine|hw.machine_arch) echo amd64 ;;
    kern.boottime) echo "{ sec = $(cut -d. -f1 /proc/uptime | awk -v now="$(date +%s)" '{print now-$1}'), usec = 0 } $(date -u)" ;;
    kern.cp_time) echo "1000 0 1000 100 50000" ;;
    kern.hostname) hostname ;;
    kern.osrelease) echo 15.0-CURRENT ;;
    kern.ostype) echo FreeBSD ;;
    kern.maxfiles|kern.maxfilesperproc) echo 120000 ;;
    kern.ipc.nmbclusters) echo 250000 ;;
    kern.ipc.maxsockbuf) echo 4262144 ;;
    net.inet.ip.forwarding|net.inet6.ip6.forwarding) echo 1 ;;
    vm.stats.vm.v_page_count) echo 1018880 ;;
    vm.stats.vm.v_inactive_count|vm.stats.vm.v_cache_count) echo 100000 ;;
    vm.stats.vm.v_free_count) echo 800000 ;;
    vm.stats.vm.v_active_count|vm.stats.vm.v_wire_count) echo 50000 ;;
    vm.swap_total) echo 0 ;;
    dev.cpu.0.temperature|hw.acpi.thermal.tz0.temperature) echo 40.0C ;;
    kern.version) echo "FreeBSD 15.0-CURRENT amd64" ;;
    *) echo 0 ;;
  esac
}

names=0
for arg in "$@"; do
  case "$arg" in
    -*) [ "$arg" = -n ] && names=1 ;;
    *=*) ;;
    *) if [ "$names" = 1 ]; then value "$arg"; else echo "$arg: $(value "$arg")"; fi ;;
  esac
done
exit 0
