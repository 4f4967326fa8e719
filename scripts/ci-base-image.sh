#!/usr/bin/env bash
# Makes the local Debian base image the container tests build on (there is no image registry on
# the CI machines): `debootstrap --variant=minbase --include=python3 bookworm` from the Debian
# mirror apt already uses, imported as localhost/amun-test/debian:bookworm.
#
# Cached on the machine by content: the rootfs tarball is kept under /var/cache/amun/, named by a
# digest of the debootstrap inputs, and the image carries that digest as a label. Nothing is
# rebuilt when the image with that label exists; the image is re-imported from the tarball when it
# is missing; debootstrap runs only when neither exists (about 45 s).
#
# Usage: scripts/ci-base-image.sh [ENGINE]      ENGINE: podman (default) or docker
# Env:   AMUN_BASE_IMAGE (tag), AMUN_BASE_MIRROR (default: the first URIs: line of
#        /etc/apt/sources.list.d/debian.sources, else http://deb.debian.org/debian),
#        AMUN_CACHE_DIR (default /var/cache/amun)
set -euo pipefail

engine="${1:-podman}"
image="${AMUN_BASE_IMAGE:-localhost/amun-test/debian:bookworm}"
suite=bookworm
variant=minbase
include=python3
cache="${AMUN_CACHE_DIR:-/var/cache/amun}"

mirror="${AMUN_BASE_MIRROR:-}"
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"

key="$(printf '%s\n' "debootstrap-v1" "$suite" "$variant" "$include" "$mirror" "$arch" | sha256sum | cut -c1-16)"
tarball="$cache/debian-$suite-$variant-$key.tar"

current="$("$engine" image inspect --format '{{ index .Labels "amun.base.key" }}' "$image" 2>/dev/null || true)"
if [ "$current" = "$key" ]; then
  echo "base image $image is current (key $key)"
  exit 0
fi

mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  echo "debootstrap $suite ($variant, +$include) from $mirror into $tarball"
  root="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$root" "$tarball.tmp"' EXIT
  debootstrap --variant="$variant" --include="$include" "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
    tail -n 40 "$cache/debootstrap.log" >&2
    echo "debootstrap failed; the whole log is $cache/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi

echo "importing $tarball as $image"
"$engine" import --change "LABEL amun.base.key=$key" --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
echo "base image $image ready (key $key)"
