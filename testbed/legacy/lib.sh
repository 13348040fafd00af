# Names, addresses and paths of the legacy Eldwyn test host (sourced by build, up and down).
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

LEGACY_DIR=$TESTBED_DIR/legacy
# The cache key: what shapes the tarball (build and files/). This file, up, down, smoke.py and
# README.md do not, so editing them reuses the cached tree.
legacy_key() {
  (cd "$LEGACY_DIR" && find build files -type f -print0 | sort -z | xargs -0 sha256sum \
    | sha256sum | cut -c1-12)
}

LEGACY_SSH_DIR=$CACHE_DIR/legacy-ssh            # the operator's key pair and the client config
LEGACY_SSH_KEY=$LEGACY_SSH_DIR/id_ed25519
LEGACY_SSH_CONFIG=$LEGACY_SSH_DIR/config        # Host legacy-eldwyn
LEGACY_CA=$CACHE_DIR/legacy-ca.crt              # the CA that signed the legacy host's certificates
LEGACY_ALIAS=legacy-eldwyn

LEGACY_STATE_DIR=/var/lib/eldwyn-testbed/legacy
LEGACY_TREE=$LEGACY_STATE_DIR/rootfs
LEGACY_LOG=$LEGACY_STATE_DIR/nspawn.log         # the container's console (boot messages)
LEGACY_PIDFILE=/run/eldwyn-testbed-legacy.pid   # PID of the systemd-nspawn process

LEGACY_NETNS=eldwyn-legacy
LEGACY_HOST_IF=eldwyn-leg0      # host side of the veth pair
LEGACY_GUEST_IF=eth0            # its peer, inside the namespace
LEGACY_HOST_ADDR=10.231.5.1
LEGACY_ADDR=10.231.5.2
LEGACY_PREFIX=30

# The operator's SSH key pair, made once (it outlives tarball rebuilds; up re-authorises it).
legacy_ssh_key() {
  install -d -m 0700 "$LEGACY_SSH_DIR"
  if [ ! -s "$LEGACY_SSH_KEY" ] || [ ! -s "$LEGACY_SSH_KEY.pub" ]; then
    rm -f "$LEGACY_SSH_KEY" "$LEGACY_SSH_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C operator@eldwyn-testbed-legacy -f "$LEGACY_SSH_KEY"
  fi
  chmod 0600 "$LEGACY_SSH_KEY" "$LEGACY_SSH_KEY.pub"
}

# Is PID a live (not zombie) systemd-nspawn process? PID 1 here does not reap orphans, so a
# stopped nspawn can linger as <defunct>: that counts as gone.
legacy_nspawn_alive() {
  local pid=$1 state
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd-nspawn ] || return 1
  state=$(proc_state "$pid")
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
# The state letter of a process (R, S, Z...), empty if it is gone.
proc_state() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }

legacy_pid() { cat "$LEGACY_PIDFILE" 2>/dev/null || true; }

legacy_ssh() {
  ssh -F "$LEGACY_SSH_CONFIG" -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR \
    "$LEGACY_ALIAS" "$@"
}

# Inside common.sh's `phase` a function runs in an `||` list, where bash ignores `set -e` (a
# failing command in the middle would not stop it). step NAME FUNC [ARG...] runs FUNC in a fresh
# copy of the calling script instead, where `set -e` holds; variables it needs must be exported.
step() { local name=$1; shift; phase "$name" "$0" __step "$@"; }
# Each script calls this after defining its functions, before its main part.
run_step_if_asked() { if [ "${1:-}" = __step ]; then shift; "$@"; exit 0; fi; }
legacy_netns_exists() { [ -e "/run/netns/$LEGACY_NETNS" ]; }
