#!/usr/bin/env bash
# The original service's Python client (the `amun` package on PyPI, as its users install it), in a
# venv cached by version under /var/cache/amun: test/contract/original-client.test.ts drives it.
# Prints the venv's python. Idempotent; a second run costs nothing.
set -euo pipefail
VERSION="${AMUN_CLIENT_VERSION:-0.5.0}"
CACHE="${AMUN_CACHE_DIR:-/var/cache/amun}"
VENV="$CACHE/amun-client-$VERSION"
if ! "$VENV/bin/python" -c 'import amun.swagger_client' 2>/dev/null; then
  mkdir -p "$CACHE"
  rm -rf "$VENV.tmp"
  python3 -m venv "$VENV.tmp"
  "$VENV.tmp/bin/pip" install --quiet --disable-pip-version-check "amun==$VERSION"
  rm -rf "$VENV"
  mv "$VENV.tmp" "$VENV"
  # A venv records its own path in its scripts: make it again where it now lives.
  python3 -m venv "$VENV" >/dev/null
fi
echo "$VENV/bin/python"
