# Shared shell helpers for the test bed scripts (sourced, not run).
# Every phase is printed with its duration so slow steps are visible in CI logs.

set -euo pipefail

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$TESTBED_DIR/.." && pwd)
# Built artefacts live outside the repo so a clean checkout reuses them.
CACHE_DIR=${ELDWYN_CACHE_DIR:-/var/cache/eldwyn-testbed}
VENV_DIR=${ELDWYN_VENV:-$REPO_DIR/.venv}
# The box name the Vagrantfile uses by default (see Vagrantfile: ELDWYN_BOX overrides it).
LOCAL_BOX_NAME=eldwyn/trixie64

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# phase NAME COMMAND...: run a command, print how long it took, keep its exit status.
PHASE_REPORT=()
phase() {
  local name=$1; shift
  local start=$SECONDS rc=0
  log "$name"
  "$@" || rc=$?
  _phase_record "$name" $((SECONDS - start)) $rc
  return $rc
}

# _phase_record NAME TOOK RC: a finished phase's line in the report, and in the log now.
_phase_record() {
  local outcome=ok
  [ "$3" -eq 0 ] || outcome="FAILED ($3)"
  PHASE_REPORT+=("$(printf '%-28s %5ss %s' "$1" "$2" "$outcome")")
  log "$1: ${2}s $outcome"
}

# phase_start NAME COMMAND...: run a phase beside the next ones (its output goes to a file and
# is printed by phase_wait). COMMAND may be a function of this file. It runs in a session of
# its own, so phase_stop can stop it with everything it started (vagrant's children too).
BACKGROUND_PID= BACKGROUND_NAME= BACKGROUND_LOG=
phase_start() {
  BACKGROUND_NAME=$1; shift
  BACKGROUND_LOG=$(mktemp)
  log "$BACKGROUND_NAME (in the background: its output follows when it ends)"
  setsid bash -c 'source "$1"; log=$2; shift 2; rc=0; "$@" >"$log" 2>&1 || rc=$?; echo "$SECONDS" >"$log.took"; exit $rc' \
    _ "$TESTBED_DIR/lib/common.sh" "$BACKGROUND_LOG" "$@" &
  BACKGROUND_PID=$!
}

# phase_wait: wait for the background phase, print its output and its time; its exit status.
phase_wait() {
  [ -n "$BACKGROUND_PID" ] || return 0
  local rc=0 took
  wait "$BACKGROUND_PID" || rc=$?
  BACKGROUND_PID=
  cat "$BACKGROUND_LOG" >&2
  took=$(cat "$BACKGROUND_LOG.took" 2>/dev/null || echo "?")
  rm -f "$BACKGROUND_LOG" "$BACKGROUND_LOG.took"
  _phase_record "$BACKGROUND_NAME (beside)" "$took" $rc
  return $rc
}

# phase_stop: stop a background phase that is still running (a failed step before phase_wait),
# by its session's process group, and wait for it.
phase_stop() {
  [ -n "$BACKGROUND_PID" ] || return 0
  kill -TERM -- "-$BACKGROUND_PID" 2>/dev/null || true
  wait "$BACKGROUND_PID" 2>/dev/null || true
  BACKGROUND_PID=
  log "$BACKGROUND_NAME: stopped (a step beside it failed)"
  rm -f "$BACKGROUND_LOG" "$BACKGROUND_LOG.took"
}

print_phase_report() {
  [ ${#PHASE_REPORT[@]} -gt 0 ] || return 0
  printf '\n%-28s %6s\n' "phase" "time" >&2
  printf '%s\n' "${PHASE_REPORT[@]}" >&2
}

# The Debian mirror this machine's apt already uses: the box and its guest use the same one,
# so nothing here names a host of its own.
host_debian_mirror() {
  if [ -n "${ELDWYN_DEBIAN_MIRROR:-}" ]; then echo "$ELDWYN_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(apt-get indextargets --format '$(REPO_URI)' 2>/dev/null | grep -v -- '-security' | head -n1)
  [ -n "$uri" ] || uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  [ -n "$uri" ] || { echo "cannot find this machine's Debian mirror; set ELDWYN_DEBIAN_MIRROR" >&2; return 1; }
  echo "${uri%/}"
}

# --- host set-up -------------------------------------------------------------------------------
# Debian packages the operator's machine needs for the test bed (no recommends: they would pull
# libguestfs, an NFS server and a kernel).
HOST_PACKAGES=(vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
               qemu-system-x86 qemu-utils ipxe-qemu seabios debootstrap e2fsprogs fdisk
               openssh-client python3-venv
               systemd-container  # systemd-nspawn: the legacy Eldwyn container (testbed/legacy)
               lua5.4    # the unit tests parse the rendered Lua config back with a real Lua
               chromium) # the browser tests of the registration site (driven by Playwright)

install_host_packages() {
  local missing=()
  for p in "${HOST_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null)" == *"ok installed"* ]] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { log "host packages: all present"; return 0; }
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_venv() {
  local stamp=$VENV_DIR/.requirements.sha256 want
  want=$(sha256sum "$REPO_DIR/requirements.txt" | cut -d' ' -f1)
  if [ -x "$VENV_DIR/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log "venv: up to date ($VENV_DIR)"; return 0
  fi
  python3 -m venv "$VENV_DIR"
  "$VENV_DIR/bin/pip" install -q --disable-pip-version-check -r "$REPO_DIR/requirements.txt"
  echo "$want" >"$stamp"
}

# The webservice's unit tests with the Python packages Debian 13 gives the host (its pydantic is
# older than the operator venv's): the shared schema must work with both.
HOST_VERSIONS_VENV=${ELDWYN_HOST_VERSIONS_VENV:-$REPO_DIR/.venv-debian13}

webservice_tests_with_debian_versions() {
  local stamp=$HOST_VERSIONS_VENV/.requirements.sha256 want
  want=$(sha256sum "$REPO_DIR/testbed/requirements-debian13.txt" | cut -d' ' -f1)
  if ! [ -x "$HOST_VERSIONS_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -m venv "$HOST_VERSIONS_VENV"
    "$HOST_VERSIONS_VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO_DIR/testbed/requirements-debian13.txt"
    echo "$want" >"$stamp"
  fi
  "$HOST_VERSIONS_VENV/bin/python" -c 'import pydantic; print("pydantic", pydantic.VERSION)'
  "$HOST_VERSIONS_VENV/bin/python" -m pytest -q -p no:cacheprovider "$REPO_DIR/tests/unit/test_signup_app.py"
}

# --- libvirt, started by hand (PID 1 is not systemd on the machines this runs on) ---------------
LIBVIRT_STATE=$CACHE_DIR/libvirt-started-by-testbed

# daemon_alive NAME: the daemon that wrote /run/NAME.pid (with -d) still runs. Not `pgrep`: a
# daemon stopped a moment ago can linger as a zombie until this machine's init reaps it, and
# pgrep counts it (CI once found a stopped virtlogd so, started none, and vagrant up failed on
# the missing /run/libvirt/virtlogd-sock).
daemon_alive() {
  local pid
  pid=$(cat "/run/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] &&
    ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

libvirt_start() {
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    log "libvirt: already running"; return 0
  fi
  # We install libvirt-daemon without libvirt-daemon-system: the latter would autostart libvirt's
  # "default" network, a bridge in this machine's own network namespace, which the test bed never
  # needs (see Vagrantfile). So make here what that package would: log/state dirs, the qemu user.
  mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/images /run/libvirt
  getent group libvirt-qemu >/dev/null || addgroup --quiet --system libvirt-qemu
  getent passwd libvirt-qemu >/dev/null || adduser --quiet --system --ingroup libvirt-qemu \
    --no-create-home --home /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
  command -v systemctl >/dev/null && [ -d /run/systemd/system ] && systemctl start libvirtd virtlogd || {
    daemon_alive virtlogd || virtlogd -d
    libvirtd -d
  }
  for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  touch "$LIBVIRT_STATE"
  # vagrant-libvirt keeps box images and VM disks in the "default" storage pool.
  if ! virsh -q pool-info default >/dev/null 2>&1; then
    virsh -q pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
    virsh -q pool-build default >/dev/null; virsh -q pool-start default >/dev/null
  fi
  # (output captured before matching: with pipefail, `virsh | grep -q` can fail on SIGPIPE)
  [[ "$(virsh -q pool-info default)" == *running* ]] || virsh -q pool-start default >/dev/null
}

# Stops libvirt only if this test bed started it.
libvirt_stop() {
  [ -e "$LIBVIRT_STATE" ] || return 0
  if [ -d /run/systemd/system ]; then systemctl stop libvirtd virtlogd || true
  else
    # Only the daemons this test bed started, by the PID each wrote when it started (-d); a
    # stale file may name a PID reused by another program, which daemon_alive tells apart.
    local daemon
    for daemon in libvirtd virtlogd; do
      if daemon_alive "$daemon"; then kill "$(cat "/run/$daemon.pid")" || true; fi
    done
  fi
  rm -f "$LIBVIRT_STATE"
}

# --- the box and the VM --------------------------------------------------------------------------
# Registers the locally built box with Vagrant unless that exact build is registered already.
box_register() {
  [ -n "${ELDWYN_BOX:-}" ] && { log "box: using ELDWYN_BOX=$ELDWYN_BOX"; return 0; }
  local file stamp=$CACHE_DIR/registered-box
  file=$("$TESTBED_DIR/box/build")
  if [ "$(cat "$stamp" 2>/dev/null)" = "$file" ] && grep -q "^$LOCAL_BOX_NAME " <<<"$(vagrant box list)"; then
    log "box: $LOCAL_BOX_NAME is $file"; return 0
  fi
  vagrant box add --force --name "$LOCAL_BOX_NAME" "$file" 2>&1 | without_progress
  # vagrant-libvirt caches a box's disk in the storage pool under a name without the build:
  # drop it so the new build is uploaded.
  virsh -q vol-list default 2>/dev/null | awk '{print $1}' \
    | grep "^${LOCAL_BOX_NAME//\//-VAGRANTSLASH-}_vagrant_box_image" \
    | xargs -r -n1 virsh -q vol-delete --pool default >/dev/null || true
  echo "$file" >"$stamp"
}

vm_exists() { [ -n "$(ls "$REPO_DIR"/.vagrant/machines/eldwyn/*/id 2>/dev/null)" ]; }

# Vagrant redraws a progress bar with carriage returns: keep logs readable.
without_progress() { sed -u 's/\r/\n/g' | grep --line-buffered -v 'Progress: ' || true; }

# The libvirt domain of the VM (Vagrantfile: lv.default_prefix + machine name).
LIBVIRT_DOMAIN=eldwyn-testbed-eldwyn

# A domain no checkout knows about (a run killed before its teardown) would block `vagrant up`
# (same name, same forwarded ports): remove it with its disk.
remove_orphaned_vm() {
  vm_exists && return 0
  virsh -q dominfo "$LIBVIRT_DOMAIN" >/dev/null 2>&1 || return 0
  log "removing the orphaned test-bed VM $LIBVIRT_DOMAIN"
  virsh -q destroy "$LIBVIRT_DOMAIN" >/dev/null 2>&1 || true
  virsh -q undefine "$LIBVIRT_DOMAIN" --remove-all-storage >/dev/null
}

SERIAL_LOG=/var/log/libvirt/qemu/eldwyn-testbed-eldwyn-serial.log  # Vagrantfile: lv.serial

vm_up() {
  remove_orphaned_vm
  if vagrant_up; then return 0; fi
  # Seen once on these machines: a fresh VM whose SSH never answered within vagrant's 600 s.
  # Show what its console said, then try once more with a new VM.
  log "vagrant up failed; the guest's serial console ended with:"
  tail -n 25 "$SERIAL_LOG" 2>/dev/null | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >&2 || true
  log "retrying once with a new VM"
  vm_destroy
  vagrant_up
}

vagrant_up() {
  (cd "$REPO_DIR" && vagrant up --provider="${VAGRANT_DEFAULT_PROVIDER:-libvirt}") 2>&1 | without_progress
}

vm_destroy() { (cd "$REPO_DIR" && vagrant destroy -f) || true; }

# The VM as `vagrant up` left it (the box's bare Debian, nothing of the test bed's or ours), kept
# as a libvirt snapshot with its memory: the tests that need a fresh VM (rebuild, take-over)
# revert to it (vm_fresh) instead of destroying the VM and booting a new one from the box. The
# disk and memory are then exactly those of a VM just made from the box. (`vagrant destroy`
# removes the snapshot with the VM.)
FRESH_SNAPSHOT=fresh-from-box
vm_snapshot_fresh() {
  virsh -q snapshot-delete "$LIBVIRT_DOMAIN" "$FRESH_SNAPSHOT" >/dev/null 2>&1 || true
  virsh -q snapshot-create-as "$LIBVIRT_DOMAIN" "$FRESH_SNAPSHOT" \
    --description "the test-bed VM as vagrant up left it (testbed/lib/common.sh)" >/dev/null
}

# A fresh VM: back to the snapshot if there is one, else a new VM from the box (whose snapshot
# is then taken, for the next time). After a revert the guest's clock is set from the host's:
# its memory holds the time of the snapshot. (Over SSH: the guest agent's guest-set-time also
# runs hwclock, which the box does not have.)
vm_fresh() {
  if virsh -q snapshot-info "$LIBVIRT_DOMAIN" "$FRESH_SNAPSHOT" >/dev/null 2>&1; then
    virsh -q snapshot-revert "$LIBVIRT_DOMAIN" "$FRESH_SNAPSHOT" --running &&
      vm_ssh ssh -o ConnectTimeout=30 eldwyn "sudo date -u -s @$(date +%s) >/dev/null"
    return
  fi
  vm_destroy && vm_up && vm_snapshot_fresh
}

# Runs ssh or scp with the VM's SSH config from Vagrant (host "eldwyn"): vm_ssh ssh|scp ARGS...
vm_ssh() {
  local tool=$1 config rc=0
  shift
  config=$(mktemp)
  (cd "$REPO_DIR" && vagrant ssh-config) > "$config" && "$tool" -F "$config" "$@" || rc=$?
  rm -f "$config"
  return $rc
}

# Runs a script of testbed/vm/ as root inside the VM: vm_script NAME ARGS... Every script of
# testbed/vm/ is installed in /usr/local/lib/eldwyn-testbed first (where the tests find them,
# and where testbed/vm/servers finds the others), with one SSH config: `vagrant ssh-config`
# takes 1.5 s.
vm_script() { vm_ssh _vm_script_with "$@"; }
_vm_script_with() {  # -F CONFIG NAME ARGS...
  local config=$2 name=$3 dir=/usr/local/lib/eldwyn-testbed names
  shift 3
  names=$(cd "$TESTBED_DIR/vm" && echo *)
  scp -F "$config" -q "$TESTBED_DIR"/vm/* eldwyn:/tmp/ &&
    ssh -F "$config" eldwyn "cd /tmp && sudo install -D -m 755 -t $dir $names && rm -f $names && sudo $dir/$name $*"
}

# Runs the real pyinfra CLI against the test-bed VM.
deploy_testbed() {
  (cd "$REPO_DIR" && "$VENV_DIR/bin/pyinfra" -y inventory.py deploy.py --limit testbed "$@")
}
