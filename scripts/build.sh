#!/usr/bin/env bash
# Builds the container image of metrics-analyzer from docker/Dockerfile (multi-stage:
# compile on debian:bookworm, run on debian:bookworm-slim as uid 10001) and tags it
# twice: IMAGE (default metrics-analyzer:latest) and NAME:VERSION, VERSION being the
# project version in CMakeLists.txt (the tag deploy/k8s pins).
#
# Usage: scripts/build.sh [--help] [--context DIR] [--no-cache] [--network MODE]
#                         [--no-version-tag] [IMAGE]
# Environment: IMAGE (same as the argument), DOCKER (client, default docker),
#              DOCKER_BUILD_NETWORK (same as --network).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/build.sh [options] [IMAGE]

Builds the metrics-analyzer image from docker/Dockerfile and tags it IMAGE and
NAME:VERSION (VERSION from `project(... VERSION x.y.z)` in CMakeLists.txt, the tag
that deploy/k8s/kustomization.yaml pins).

  IMAGE             name[:tag] to build, default metrics-analyzer:latest
                    (or $IMAGE). A name without a tag gets :latest.
  --context DIR     build context, default the repository root (the working tree,
                    uncommitted edits included). Must contain CMakeLists.txt.
  --no-cache        build every layer again (passed to docker build)
  --network MODE    network of the RUN steps, e.g. host when apt-get in the build
                    cannot reach the mirror over Docker's bridge (or
                    $DOCKER_BUILD_NETWORK)
  --no-version-tag  only tag IMAGE
  -h, --help        this text

Environment: DOCKER (client binary, default docker).
The daemon must be running; on machines without registry access, a local helper (the
one DOCKER_LOCAL_HELPER names for scripts/docker-smoke.sh) starts one and creates the
debian base images.
Examples:
  scripts/build.sh                                 # metrics-analyzer:latest + :0.1.0
  scripts/build.sh registry.example.com/ma:dev     # another name and tag
  scripts/build.sh --network host
EOF
}

die() { echo "build: $*" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
docker_cmd="${DOCKER:-docker}"
context="$repo"
image="${IMAGE:-metrics-analyzer:latest}"
network="${DOCKER_BUILD_NETWORK:-}"
version_tag=1
build_flags=()

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --context) [ $# -ge 2 ] || die "--context needs a directory"; context="$2"; shift 2 ;;
    --context=*) context="${1#*=}"; shift ;;
    --no-cache) build_flags+=(--no-cache); shift ;;
    --network) [ $# -ge 2 ] || die "--network needs a mode"; network="$2"; shift 2 ;;
    --network=*) network="${1#*=}"; shift ;;
    --no-version-tag) version_tag=0; shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) image="$1"; shift ;;
  esac
done

[ -f "$context/CMakeLists.txt" ] || die "$context has no CMakeLists.txt"
context="$(cd "$context" && pwd)"
# The Dockerfile of the context, else this checkout's (a context exported from a commit
# that predates docker/Dockerfile).
dockerfile="$context/docker/Dockerfile"
[ -f "$dockerfile" ] || dockerfile="$repo/docker/Dockerfile"
[ -f "$dockerfile" ] || die "no docker/Dockerfile"
command -v "$docker_cmd" >/dev/null 2>&1 || die "$docker_cmd not found (install docker.io, or run your local Docker helper)"
"$docker_cmd" info >/dev/null 2>&1 || die "the Docker daemon does not answer (start it, or run your local Docker helper as root)"

# image name and tag: the tag is what follows the last ':' unless that is part of a
# registry host:port.
name="$image"
tag=latest
if [[ "${image##*/}" == *:* ]]; then
  name="${image%:*}"
  tag="${image##*:}"
fi
image="$name:$tag"

version="$(sed -n 's/^project([^)]*VERSION \([0-9][0-9.]*\).*/\1/p' "$context/CMakeLists.txt" | head -n 1)"
[ -n "$version" ] || die "no project(... VERSION x.y.z) in $context/CMakeLists.txt"
# git read-only: the commit the context was checked out from, if it is a checkout.
revision="$(git -C "$context" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"

refs=("$image")
if [ "$version_tag" -eq 1 ] && [ "$tag" != "$version" ]; then refs+=("$name:$version"); fi
tags=()
for ref in "${refs[@]}"; do tags+=(-t "$ref"); done
[ -z "$network" ] || build_flags+=(--network "$network")

echo "build: ${refs[*]} from $context (version $version, revision $revision)"
start=$(date +%s)
"$docker_cmd" build "${build_flags[@]}" "${tags[@]}" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  -f "$dockerfile" "$context"
size=$("$docker_cmd" image inspect -f '{{.Size}}' "$image")
echo "build: done in $(( $(date +%s) - start )) s: $image ($(( size / 1000000 )) MB)"
