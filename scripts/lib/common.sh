# Shared helpers for scripts/*. Source it; it sets -euo pipefail.
set -euo pipefail
# The Go toolchain of this machine kind lives in /usr/local/go.
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -x /usr/local/go/bin/go ] && PATH=$PATH:/usr/local/go/bin ;; esac
FLB_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLB_ROOT=$(cd "$FLB_SCRIPTS/.." && pwd)
. "$FLB_SCRIPTS/lib/versions.sh"
FLB_CACHE=${FERROLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrolb}
# Runtime state of the running cluster / topology (removed by `down`).
FLB_STATE=${FERROLB_STATE:-/run/ferrolb}
FLB_K8S_BIN=$FLB_CACHE/kubernetes-$K8S_VERSION/bin
FLB_ETCD_BIN=$FLB_CACHE/etcd-$ETCD_VERSION/bin
FLB_REF_BIN=$FLB_CACHE/metallb-$METALLB_VERSION/bin
FLB_MODERN_BIN=$FLB_CACHE/metallb-$MODERN_METALLB_VERSION/bin

# Network plan (documentation ranges only; see scripts/README.md).
# The bridge lives in the host namespace. Its host-side addresses come from
# 198.51.100.0/24 and NOT from 192.0.2.0/24, because on the machines this
# project runs on the host's own uplink may already use 192.0.2.0/24 (eth0
# 192.0.2.2/24, default gateway 192.0.2.1): a 192.0.2.x address on the bridge
# would hijack that route. 192.0.2.0/24 is used only inside the namespaces.
FLB_BRIDGE=flb0
FLB_BRIDGE_MAC=02:00:00:00:ff:01
FLB_BRIDGE_V4=198.51.100.1
FLB_BRIDGE_V6=2001:db8::1
FLB_APISERVER_HOST=$FLB_BRIDGE_V4
FLB_APISERVER_PORT=6443
FLB_ETCD_CLIENT=127.0.0.1:32379
FLB_ETCD_PEER=127.0.0.1:32380
# FERROLB_ISOLATED=K (K = 1..9; benchmarks, parallel work): a private control
# plane on loopback (127.0.0.1:16442+K, etcd on 42377+2K and 42378+2K) that
# needs no bridge, so it can run beside the test cluster. Use it with its own
# FERROLB_STATE. Only for tests that need no network namespace, unless
# FERROLB_ISOLATED_HOST names an address the caller put on an interface of its
# own (scripts/demo: its own bridge) for the API server to listen on instead.
if [ -n "${FERROLB_ISOLATED:-}" ]; then
  case "$FERROLB_ISOLATED" in [1-9]) ;; *) echo "FERROLB_ISOLATED must be 1..9" >&2; exit 1 ;; esac
  FLB_APISERVER_HOST=${FERROLB_ISOLATED_HOST:-127.0.0.1}
  FLB_APISERVER_PORT=$((16442 + FERROLB_ISOLATED))
  FLB_ETCD_CLIENT=127.0.0.1:$((42377 + 2 * FERROLB_ISOLATED))
  FLB_ETCD_PEER=127.0.0.1:$((42378 + 2 * FERROLB_ISOLATED))
fi
FLB_APISERVER_URL=https://$FLB_APISERVER_HOST:$FLB_APISERVER_PORT
# ClusterIPs are never routed anywhere; they only need the right family.
FLB_SERVICE_CIDRS=203.0.113.192/26,2001:db8:ffff::/112
FLB_NS=metallb-system

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "$(basename "$0"): $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }
need_tool() { command -v "$1" >/dev/null 2>&1 || die "missing tool '$1' (run scripts/ci-deps)"; }

# go_build_into OUTDIR MODDIR PKG... : builds static binaries with the Go
# toolchain on PATH, atomically (write to a temp name, then rename).
go_build() {
  local out=$1 moddir=$2 ldflags=$3; shift 3
  need_tool go
  mkdir -p "$(dirname "$out")"
  ( cd "$moddir" && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "$ldflags" -o "$out.tmp.$$" "$@" )
  mv -f "$out.tmp.$$" "$out"
}

# cargo_outside CMD...: CMD without the variables cargo sets for the tests it runs
# (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...), so a cargo build started from a test sees what a build
# started from a shell sees: ring's build script tracks CARGO_MANIFEST_DIR, and an inherited one
# made each switch between the two recompile ring and everything above it.
cargo_outside() {
  local unset=() v
  for v in $(env | sed -n 's/^\(CARGO_[A-Za-z0-9_]*\)=.*/\1/p'); do
    case "$v" in
      CARGO_HOME|CARGO_TARGET_DIR|CARGO_BUILD_*|CARGO_NET_*|CARGO_REGISTRIES_*|CARGO_PROFILE_*|CARGO_INCREMENTAL|CARGO_TERM_*|CARGO_HTTP_*) ;;
      *) unset+=(-u "$v") ;;
    esac
  done
  env "${unset[@]}" -u CARGO -u RUST_RECURSION_COUNT "$@"
}

mkdir_state() { mkdir -p "$FLB_STATE"; chmod 755 "$FLB_STATE"; }

# with_lock: serialize mutations of the shared state (bridge, netns, cluster)
# between concurrent invocations. Holds fd 9 until the script exits.
take_lock() {
  mkdir_state
  exec 9>"$FLB_STATE/.lock"
  flock 9
}

# pid_alive PIDFILE EXE: true if the pid in PIDFILE runs the binary EXE (so a
# recycled pid is never mistaken for ours).
pid_alive() {
  local pidfile=$1 exe=$2 pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$exe")" ]
}

# stop_pidfile PIDFILE EXE: TERM, wait up to 10 s, then KILL; removes PIDFILE.
stop_pidfile() {
  local pidfile=$1 exe=$2 pid i
  if pid_alive "$pidfile" "$exe"; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
      pid_alive "$pidfile" "$exe" || break
      sleep 0.1
    done
    if pid_alive "$pidfile" "$exe"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$pidfile"
}

# Bridge ownership: the bridge is created by the first of `cluster up` /
# `netns up` that needs it and deleted when the last of them lets it go.
# Caller holds the lock.
bridge_acquire() {
  local owner=$1 owners=$FLB_STATE/bridge.owners
  need_tool ip
  if ! ip link show "$FLB_BRIDGE" >/dev/null 2>&1; then
    ip link add "$FLB_BRIDGE" address "$FLB_BRIDGE_MAC" type bridge \
      stp_state 0 forward_delay 0 mcast_snooping 0
    : > "$owners"
  elif [ ! -e "$owners" ]; then
    die "bridge $FLB_BRIDGE exists but was not created by these scripts; not touching it"
  fi
  # Bridged frames must not go through the host's iptables (br_netfilter).
  ip link set "$FLB_BRIDGE" type bridge nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0 2>/dev/null || true
  ip addr replace "$FLB_BRIDGE_V4/24" dev "$FLB_BRIDGE"
  ip addr replace "$FLB_BRIDGE_V6/64" dev "$FLB_BRIDGE" nodad
  ip link set "$FLB_BRIDGE" up
  grep -qx "$owner" "$owners" || echo "$owner" >> "$owners"
}

bridge_release() {
  local owner=$1 owners=$FLB_STATE/bridge.owners
  [ -e "$owners" ] || return 0
  sed -i "/^$owner\$/d" "$owners"
  if [ ! -s "$owners" ]; then
    ip link del "$FLB_BRIDGE" 2>/dev/null || true
    rm -f "$owners"
  fi
}
