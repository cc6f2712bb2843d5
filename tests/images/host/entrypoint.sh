#!/bin/bash
# Entrypoint of pgstead/host: make this container's own host keys, install the login key for
# root and deploy, then run the command (sshd by default).
#
#   AUTHORIZED_KEY       public key text (one or more lines) allowed to log in as root and deploy
#   AUTHORIZED_KEY_FILE  or a mounted file holding it
set -euo pipefail

log() { echo "pgstead-host: $*" >&2; }

if [[ -n ${AUTHORIZED_KEY:-} && -n ${AUTHORIZED_KEY_FILE:-} ]]; then
    log "error: both AUTHORIZED_KEY and AUTHORIZED_KEY_FILE are set; set only one"
    exit 1
fi
key=${AUTHORIZED_KEY:-}
if [[ -n ${AUTHORIZED_KEY_FILE:-} ]]; then
    key=$(<"$AUTHORIZED_KEY_FILE")
fi

# ssh-keygen -A only makes the key types that are missing: a restarted container keeps its keys.
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
chmod 0755 /run/sshd

install_key() {
    local user=$1 home
    home=$(getent passwd "$user" | cut -d: -f6)
    install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
    printf '%s\n' "$key" >"$home/.ssh/authorized_keys"
    chown "$user:$user" "$home/.ssh/authorized_keys"
    chmod 0600 "$home/.ssh/authorized_keys"
}

if [[ -n $key ]]; then
    install_key root
    install_key deploy
else
    log "warning: no AUTHORIZED_KEY given; nobody can log in until a key is copied in"
fi
unset AUTHORIZED_KEY AUTHORIZED_KEY_FILE key

# PGSTEAD_HOST_BOOT=rc: start what a sysvinit boot would (runlevel 2's S* scripts, sshd
# aside: it is this container's command), so a restarted container behaves like a rebooted VM.
if [[ ${PGSTEAD_HOST_BOOT:-} == rc ]]; then
    for script in /etc/rc2.d/S*; do
        [[ -x $script && $script != *ssh ]] || continue
        "$script" start >&2 || log "warning: $script start failed"
    done
fi

exec "$@"
