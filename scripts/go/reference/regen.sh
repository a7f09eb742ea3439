#!/usr/bin/env bash
# Regenerates go.mod/go.sum of the MetalLB reference wrapper module; the result
# is committed. See scripts/reference for why v0.9.6 and what is pinned/raised.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/versions.sh"
cd "$here"
rm -f go.mod go.sum
go mod init ferrolb.test/harness/reference >/dev/null 2>&1
go mod edit -go=1.12
go mod edit -require="go.universe.tf/metallb@$METALLB_VERSION"
# v0.9.3 pinned yaml.v2 v2.2.2; v0.9.6 requires v2.4.0, so MVS needs a replace
# to go back (config-parse error texts differ between the two).
go mod edit -replace=gopkg.in/yaml.v2=gopkg.in/yaml.v2@v2.2.2
# Raised only because today's Go cannot run the 2019 versions:
#  - reflect2 < v1.0.2 reads runtime internals that changed in Go 1.18 and
#    crashes at run time (json-iterator, used by client-go, depends on it);
go mod edit -require=github.com/modern-go/reflect2@v1.0.2
go mod edit -require=github.com/json-iterator/go@v1.1.12
go mod edit -tool=go.universe.tf/metallb/controller -tool=go.universe.tf/metallb/speaker
go mod tidy
