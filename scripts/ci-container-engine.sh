#!/usr/bin/env bash
# CI: makes podman usable for the container executor's end-to-end tests (test/container), as
# DEVELOPERS.md describes, then makes the local Debian base image (scripts/ci-base-image.sh).
#
#   - installs podman, runc and debootstrap from Debian when one is missing;
#   - writes /etc/containers/containers.conf when there is none: no default ulimits (setrlimit
#     fails in CI sandboxes), runc, cgroupfs (no systemd), file events logger;
#   - checks that `podman info` answers and that a container starts;
#   - makes localhost/amun-test/debian:bookworm once (cached under /var/cache/amun by content).
#
# Idempotent: on a prepared machine it only checks, in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi

conf=/etc/containers/containers.conf
if [ ! -e "$conf" ]; then
  echo "writing $conf"
  mkdir -p /etc/containers
  cat >"$conf" <<'EOF'
# Written by amun's scripts/ci-container-engine.sh (see DEVELOPERS.md).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
fi

if ! podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} cgroups {{.Host.CgroupsVersion}}' >/tmp/amun-podman-info 2>&1; then
  cat /tmp/amun-podman-info >&2
  echo "podman info fails: the container executor cannot work on this machine" >&2
  exit 1
fi
echo "podman $(podman version --format '{{.Client.Version}}'): $(cat /tmp/amun-podman-info)"

PATH="$PATH:/usr/sbin" scripts/ci-base-image.sh podman
