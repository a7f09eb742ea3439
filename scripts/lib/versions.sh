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
