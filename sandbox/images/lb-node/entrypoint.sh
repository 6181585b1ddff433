#!/bin/sh
# Boot of the sandbox load balancer host: start what is enabled for runlevel 2, then stay up; on SIGTERM
# (docker stop/restart) stop it again.
set -u
boot() {
    for script in /etc/rc2.d/S*; do
        [ -x "$script" ] && "$script" start
    done
}
shutdown() {
    for script in /etc/rc2.d/S*; do
        [ -x "$script" ] && "$script" stop
    done
    exit 0
}
trap shutdown TERM INT
boot
touch /run/lb-node.ready
while :; do
    sleep 3600 &
    wait $!
done
