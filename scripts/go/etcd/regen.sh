#!/usr/bin/env bash
# Regenerates go.mod/go.sum of this wrapper module for the etcd version pinned
# in scripts/lib/versions.sh; the result is committed.
# etcd's server module replaces its sibling modules with ../ paths, so
# `go install go.etcd.io/etcd/server/v3@vX` is refused; a wrapper that requires
# it builds the same main package with the versions its go.mod requires.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/versions.sh"
cd "$here"
info=$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
gomod=$(printf '%s' "$info" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
rm -f go.mod go.sum
go mod init ferrolb.test/harness/etcd >/dev/null 2>&1
go mod edit -go="$(sed -n 's/^go \(.*\)$/\1/p' "$gomod")"
go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
# Sibling modules at the same release (their ../ replaces are not honoured).
for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
  go mod edit -require="go.etcd.io/etcd/$m@$ETCD_VERSION"
done
go mod edit -tool=go.etcd.io/etcd/server/v3
go mod tidy
