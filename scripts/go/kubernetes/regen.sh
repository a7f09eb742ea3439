#!/usr/bin/env bash
# Regenerates go.mod/go.sum of this wrapper module for the Kubernetes version
# pinned in scripts/lib/versions.sh. Run by hand when the pin changes; the
# result is committed so builds are reproducible.
#
# Why a wrapper: `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` is refused
# because k8s.io/kubernetes' go.mod replaces every k8s.io/* staging module with
# a ./staging path. Replace directives of a *dependency* are ignored, so here we
# require k8s.io/kubernetes vX and replace each staging module with its
# published twin v0.Y.Z ourselves, copying the go/godebug lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/versions.sh"
cd "$here"
v=$K8S_VERSION                  # v1.35.4
staging=v0.${v#v1.}             # v0.35.4
info=$(go mod download -json "k8s.io/kubernetes@$v")
gomod=$(printf '%s' "$info" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
rm -f go.mod go.sum
go mod init ferrolb.test/harness/kubernetes >/dev/null 2>&1
gover=$(sed -n 's/^go \(.*\)$/\1/p' "$gomod")
go mod edit -go="$gover"
sed -n 's/^godebug \(.*\)$/\1/p' "$gomod" | while read -r d; do go mod edit -godebug="$d"; done
go mod edit -require="k8s.io/kubernetes@$v"
for m in $(sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod"); do
  go mod edit -replace="$m=$m@$staging"
done
go mod edit -tool=k8s.io/kubernetes/cmd/kube-apiserver -tool=k8s.io/kubernetes/cmd/kubectl
go mod tidy
