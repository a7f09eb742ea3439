#!/usr/bin/env bash
# Regenerates go.mod/go.sum of the wrapper module of today's MetalLB (the second reference,
# scripts/reference modern); the result is committed. Nothing is pinned or raised: v0.16.1
# builds with the versions its own go.mod asks for (see scripts/lib/versions.sh for why not
# v0.16.2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/versions.sh"
cd "$here"
rm -f go.mod go.sum
go mod init ferrolb.test/harness/modern >/dev/null 2>&1
go mod edit -go=1.25.0
go mod edit -require="go.universe.tf/metallb@$MODERN_METALLB_VERSION"
go mod edit -tool=go.universe.tf/metallb/controller -tool=go.universe.tf/metallb/speaker
go mod tidy
