# Build steps for the control plane. Sourced by scripts/cluster (after common.sh).

k8s_ldflags() {
  local v=$K8S_VERSION maj min
  maj=${v#v}; maj=${maj%%.*}
  min=${v#v*.}; min=${min%%.*}
  local f="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f="$f -X $p.gitVersion=$v -X $p.gitMajor=$maj -X $p.gitMinor=$min"
    f="$f -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

# build_kubernetes: kube-apiserver and kubectl from scripts/go/kubernetes.
build_kubernetes() {
  local bin=$FLB_K8S_BIN tool
  for tool in kube-apiserver kubectl; do
    if [ -x "$bin/$tool" ]; then continue; fi
    log "building $tool $K8S_VERSION (cold: tens of minutes on 2 cores)"
    go_build "$bin/$tool" "$FLB_SCRIPTS/go/kubernetes" "$(k8s_ldflags)" "k8s.io/kubernetes/cmd/$tool"
  done
}

# build_etcd: etcd server from scripts/go/etcd.
build_etcd() {
  local bin=$FLB_ETCD_BIN
  if [ -x "$bin/etcd" ]; then return 0; fi
  log "building etcd $ETCD_VERSION"
  go_build "$bin/etcd" "$FLB_SCRIPTS/go/etcd" "-s -w" go.etcd.io/etcd/server/v3
}

build_all() {
  build_etcd
  build_kubernetes
}
