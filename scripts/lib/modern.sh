# scripts/lib/modern.sh: today's MetalLB (scripts/reference modern) beside v0.9 and ferrolb in
# the benchmarks. Sourced after common.sh; uses scripts/kubectl with the caller's KUBECONFIG
# (the test cluster, or a benchmark's private one).
#
# What a benchmark needs of MetalLB's install is its CRDs and RBAC, not its workloads: the
# harness runs the binaries itself (scripts/in-cluster), as it runs v0.9's and ferrolb's. So
# modern_install applies the module's own metallb-native.yaml without the Deployment, the
# DaemonSet, the webhook Service and the ValidatingWebhookConfiguration, and the controller runs
# with --webhook-mode=disabled (the webhook's wait is the way-out test's business,
# tests/way_out_e2e.rs). Its ClusterRoles have the names of v0.9's
# (metallb-system:controller, ...), so modern_uninstall puts v0.9's back (scripts/cluster
# objects) on a cluster the tests share.
#
#   modern_install               CRDs (Established) + RBAC + the memberlist Secret
#   modern_uninstall             everything modern_install applied, and the CRs; v0.9's RBAC back
#   modern_apply <<YAML          CRs (IPAddressPool, L2Advertisement, BGPPeer, ...), checked by
#                                the CRD schemas
#   modern_controller LOG PORT [ARGS...]     start the controller in the background; MODERN_PID
#   modern_speaker NODE LOG PORT [ARGS...]   start node NODE's speaker (in its namespace,
#                                memberlist off) in the background; MODERN_PID
#   modern_speaker_ml NODE LOG PORT [ARGS...]  the same with memberlist on, as the manifest
#                                runs it: the `memberlist` Secret mounted at /etc/ml_secret_key
# PORT is the metrics port; the health probe takes PORT+1. The daemons do not inherit fd 9
# (the benchmarks hold the tests' lock on it).

MODERN_CONTROLLER=${MODERN_CONTROLLER:-$FLB_MODERN_BIN/controller}
MODERN_SPEAKER=${MODERN_SPEAKER:-$FLB_MODERN_BIN/speaker}
MODERN_MANIFEST=$FLB_MODERN_BIN/metallb-native.yaml

modern_built() {
  [ -x "$MODERN_CONTROLLER" ] && [ -x "$MODERN_SPEAKER" ] && [ -s "$MODERN_MANIFEST" ] ||
    "$FLB_SCRIPTS/reference" modern build >/dev/null
}

# The manifest's objects a benchmark installs, as one YAML stream on stdout.
modern_objects() {
  python3 - "$MODERN_MANIFEST" <<'PY'
import sys, yaml
skip = {"Namespace", "Deployment", "DaemonSet", "Service", "ValidatingWebhookConfiguration"}
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] not in skip]
print(yaml.safe_dump_all(docs, sort_keys=False))
PY
}

modern_install() {
  modern_built
  modern_objects | "$FLB_SCRIPTS/kubectl" apply --server-side --force-conflicts -f - >/dev/null
  "$FLB_SCRIPTS/kubectl" wait --for=condition=Established --timeout=60s \
    crd/ipaddresspools.metallb.io crd/l2advertisements.metallb.io crd/bgppeers.metallb.io \
    crd/bgpadvertisements.metallb.io crd/servicel2statuses.metallb.io \
    crd/servicebgpstatuses.metallb.io >/dev/null
  # v0.16's controller creates the Secret only with its Deployment as the owner; the harness
  # has no Deployment, and the speakers read the same Secret v0.9's do.
  "$FLB_SCRIPTS/kubectl" -n "$FLB_NS" get secret memberlist >/dev/null 2>&1 ||
    "$FLB_SCRIPTS/kubectl" -n "$FLB_NS" create secret generic memberlist \
      --from-literal=secretkey="$(head -c 128 /dev/urandom | base64 -w0)" >/dev/null
}

modern_uninstall() {
  modern_objects | "$FLB_SCRIPTS/kubectl" delete --ignore-not-found --wait=false -f - >/dev/null 2>&1 || true
  "$FLB_SCRIPTS/cluster" objects | "$FLB_SCRIPTS/kubectl" apply -f - >/dev/null
}

modern_apply() {
  "$FLB_SCRIPTS/kubectl" apply -f - >/dev/null
}

modern_controller() {
  local log=$1 port=$2; shift 2
  modern_built
  # It looks up its own Pod at start (owner references) and exits without it; the harness,
  # which has no kubelet, writes the object the kubelet would have made.
  "$FLB_SCRIPTS/kubectl" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: controller-harness, namespace: $FLB_NS, labels: {app: metallb, component: controller}}
spec:
  serviceAccountName: controller
  automountServiceAccountToken: false
  containers: [{name: controller, image: quay.io/metallb/controller}]
YAML
  "$FLB_SCRIPTS/in-cluster" controller -- env METALLB_POD_NAME=controller-harness \
    METALLB_ML_SECRET_NAME=memberlist METALLB_DEPLOYMENT=controller \
    "$MODERN_CONTROLLER" --port="$port" --health-probe-port=$((port + 1)) \
    --webhook-mode=disabled --log-level=info "$@" > "$log" 2>&1 9>&- &
  MODERN_PID=$!
}

modern_speaker() {
  local node=$1 log=$2 port=$3; shift 3
  modern_built
  "$FLB_SCRIPTS/in-cluster" speaker --netns "$node" --no-memberlist -- env \
    METALLB_POD_NAME="speaker-$node" "$MODERN_SPEAKER" --port="$port" \
    --health-probe-port=$((port + 1)) --log-level=info "$@" >> "$log" 2>&1 9>&- &
  MODERN_PID=$!
}

# in-cluster sets v0.9's METALLB_ML_* (bind address, labels); today's speaker reads its key
# from a file instead of METALLB_ML_SECRET_KEY.
modern_speaker_ml() {
  local node=$1 log=$2 port=$3; shift 3
  modern_built
  "$FLB_SCRIPTS/in-cluster" speaker --netns "$node" --secret memberlist:/etc/ml_secret_key -- env \
    METALLB_POD_NAME="speaker-$node" METALLB_ML_SECRET_KEY_PATH=/etc/ml_secret_key \
    "$MODERN_SPEAKER" --port="$port" --health-probe-port=$((port + 1)) --log-level=info "$@" \
    >> "$log" 2>&1 9>&- &
  MODERN_PID=$!
}
