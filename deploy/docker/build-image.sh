#!/usr/bin/env bash
# build-image.sh BINARY TAG: packs a static qasmat binary into a FROM scratch
# image (deploy/docker/Dockerfile.scratch) without pulling anything. `make
# image` runs it with bin/qasmat; DOCKER_HOST selects the engine as usual.
set -euo pipefail
bin=${1:?usage: build-image.sh BINARY TAG}
tag=${2:?usage: build-image.sh BINARY TAG}
here=$(cd "$(dirname "$0")" && pwd)
if ! file_out=$(od -An -c -N4 "$bin" 2>/dev/null) || [[ $file_out != *E*L*F* ]]; then
	echo "build-image.sh: $bin is not an ELF binary; run make build-go first" >&2
	exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/qasmat"
chmod 0755 "$ctx/qasmat"
mkdir "$ctx/data"
cp "$here/Dockerfile.scratch" "$ctx/Dockerfile"
# The classic builder: BuildKit may be missing, and FROM scratch needs nothing of it.
DOCKER_BUILDKIT=0 docker build --quiet -t "$tag" "$ctx"
