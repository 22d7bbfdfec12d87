#!/bin/sh
# pfrest lab: run a command inside the lab's root the way every lab process runs: chrooted, with a
# clean environment, no new privileges, capabilities limited to file ownership, set-id and
# signals, in a session of its own. Called from the lab's namespaces: by enter.sh for the server
# and build steps, and through nsenter for the check_reload_status stand-in's scripts.
# Arguments: ROOT WORKERS COMMAND...   (WORKERS: PHP_CLI_SERVER_WORKERS for the built-in server)
set -eu
root=$1 workers=$2
shift 2
exec chroot "$root" /usr/bin/env -i \
  PATH=/sbin:/usr/local/sbin:/usr/local/bin:/bin:/usr/bin:/usr/sbin \
  HOME=/root LANG=C.UTF-8 PHP_CLI_SERVER_WORKERS="$workers" \
  /usr/bin/setpriv --no-new-privs --inh-caps=-all \
    --bounding-set=-all,+chown,+dac_override,+dac_read_search,+fowner,+fsetid,+kill,+setuid,+setgid \
    /usr/bin/setsid "$@"
