#!/bin/sh
# pfrest lab: runs as PID 1 of the lab's own PID, mount (private) and UTS namespaces, started by
# `unshare`. Mounts the host's /usr read-only, /dev and /proc into the root, then starts PHP's
# built-in server chrooted there, in a session of its own, with a clean environment and with
# capabilities limited to file ownership, set-id and signals. The mounts die with the namespace.
# Arguments: ROOT serve PORT WORKERS   (the API server; ends the namespace when it ends)
#            ROOT run COMMAND...        (a build step such as manage.php, in the foreground)
set -eu
root=$1 mode=$2
shift 2
for dir in bin lib lib32 lib64 libx32 sbin share libexec include; do
  if [ -d "/usr/$dir" ] && [ -d "$root/usr/$dir" ]; then
    mount --bind "/usr/$dir" "$root/usr/$dir"
    mount -o remount,bind,ro "$root/usr/$dir"
  fi
done
# A minimal /dev: the character devices PHP and the shell use, never the host's disks.
mount -t tmpfs -o mode=0755,nosuid,size=1m labdev "$root/dev"
for node in null zero full random urandom tty; do
  touch "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
ln -s /proc/self/fd "$root/dev/fd"
mkdir "$root/dev/shm"
mount -t proc proc "$root/proc"
hostname pfSense

confined() {
  /bin/sh "$(dirname "$0")/confine.sh" "$root" "${workers:-1}" "$@"
}

if [ "$mode" = run ]; then
  confined "$@"
  exit $?
fi
port=$1 workers=$2
confined /usr/local/bin/php -S "127.0.0.1:$port" /usr/local/share/pfrest-lab/router.php \
  >"$root/var/log/php_server.log" 2>&1 &
# Stay as init while the server runs: waiting also reaps the orphans that pfrest's background
# dispatchers leave behind. When the server ends, so does the namespace.
wait "$!"
