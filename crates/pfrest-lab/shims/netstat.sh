#!/bin/sh
# pfrest lab: stands in for FreeBSD's netstat(1), which pfSense runs as /usr/bin/netstat (the lab
# points those calls here; see TOOL_PATH_REDIRECTS in src/root.rs); netstat.php prints.
echo "$(date -u +%FT%TZ) $0 $*" >> /var/log/tools.log
exec /usr/local/bin/php /usr/local/share/pfrest-lab/netstat.php "$@"
