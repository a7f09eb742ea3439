# Pinned versions of everything the harness builds. Sourced by scripts/*.
# Kubernetes: must match the k8s-openapi feature used by the Rust side (v1_35).
K8S_VERSION=v1.35.4
# etcd: kubeadm's default for Kubernetes 1.35 is 3.6.6.
ETCD_VERSION=v3.6.6
# MetalLB reference. v0.9.3 is what we replace, but the Go module proxy refuses it
# (see scripts/reference); v0.9.6 is the nearest version it serves.
METALLB_VERSION=v0.9.6
# GoBGP, one of the routers tests/bgp_routers.rs peers with (BIRD 2 and FRR come from apt).
GOBGP_VERSION=v3.37.0
# toxiproxy: the fault tests' latency proxy in front of the API server (this kernel has no netem).
TOXIPROXY_VERSION=v2.12.0
# Today's MetalLB, the second reference (issue 16; scripts/reference modern). v0.16.2 is served
# but cannot be built here: it needs github.com/metallb/frr-k8s v0.0.27 (AsPathPrependPrefixes),
# which the Go module proxy refuses, and v0.0.26 (the newest served) lacks that API. v0.16.1
# builds unchanged against the frr-k8s v0.0.25 it asks for.
MODERN_METALLB_VERSION=v0.16.1
