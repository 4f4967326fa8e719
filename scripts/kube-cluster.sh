#!/usr/bin/env bash
# A single-node Kubernetes control plane on loopback, for the Kubernetes executor's tests and for
# trying the executor by hand: etcd (go.etcd.io/etcd at the release kube/etcd/go.mod pins),
# kube-apiserver, kube-controller-manager and kube-scheduler built from k8s.io/kubernetes at the
# release kube/go.mod pins, and kwok
# (sigs.k8s.io/kwok) for the nodes and the pods' phases (kube/kwok-stages.yaml). As on EKS: TLS
# with a CA of its own, client certificates, RBAC (and Node) authorization, Pod Security
# admission, service-account tokens signed by the API server.
#
#   scripts/kube-cluster.sh build        builds the binaries once per version into the cache
#                                        (AMUN_KUBE_CACHE, default /var/cache/amun/kube); prints
#                                        the binaries' folder
#   scripts/kube-cluster.sh start DIR [OWNER_PID]
#                                        starts a cluster whose files live in DIR: DIR/admin.kubeconfig
#                                        (system:masters), DIR/functions.kubeconfig (user
#                                        amun-functions in group amun-controller: the identity
#                                        deploy/kubernetes/rbac.yaml binds), DIR/cluster.env, logs
#                                        in DIR/logs; with OWNER_PID the cluster stops when that
#                                        process ends
#   scripts/kube-cluster.sh stop DIR     stops it (every process it started)
#   scripts/kube-cluster.sh built        exits 0 when the binaries are in the cache
#   scripts/kube-cluster.sh versions     prints the pinned versions
#
# Nodes (kube/nodes/*.yaml) are created at start: kwok plays their kubelets.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBE_MODULE="$ROOT/kube"
KUBE_VERSION="$(awk '$1 == "k8s.io/kubernetes" { print $2 } $1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$KUBE_MODULE/go.mod" | head -n 1)"
KWOK_VERSION="${AMUN_KWOK_VERSION:-v0.8.0}"
ETCD_VERSION="$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" { print $3 }' "$KUBE_MODULE/etcd/go.mod")"
CACHE="${AMUN_KUBE_CACHE:-/var/cache/amun/kube}"
KEY="$(cat "$KUBE_MODULE/go.mod" "$KUBE_MODULE/go.sum" | sha256sum | cut -c 1-12)"
[[ -n "$KUBE_VERSION" ]] || { echo "[kube-cluster] no k8s.io/kubernetes version in $KUBE_MODULE/go.mod" >&2; exit 1; }
KUBE_BIN="$CACHE/kubernetes-$KUBE_VERSION-$KEY"
KWOK_BIN="$CACHE/kwok-$KWOK_VERSION"
ETCD_KEY="$(cat "$KUBE_MODULE/etcd/go.mod" "$KUBE_MODULE/etcd/go.sum" | sha256sum | cut -c 1-12)"
ETCD_BIN="$CACHE/etcd-$ETCD_VERSION-$ETCD_KEY"
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler)

log() { printf '[kube-cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need_go() {
  command -v go >/dev/null || die "go is needed to build Kubernetes $KUBE_VERSION (none found)"
}

build() {
  local started=$SECONDS missing=()
  for c in "${COMPONENTS[@]}"; do [[ -x "$KUBE_BIN/$c" ]] || missing+=("$c"); done
  if ((${#missing[@]})); then
    need_go
    log "building ${missing[*]} $KUBE_VERSION into $KUBE_BIN (first time only: several minutes)"
    local minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
    local pkgs=()
    for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    mkdir -p "$KUBE_BIN.partial"
    (cd "$KUBE_MODULE" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$KUBE_BIN.partial/" "${pkgs[@]}")
    mkdir -p "$KUBE_BIN"
    for c in "${missing[@]}"; do mv "$KUBE_BIN.partial/$c" "$KUBE_BIN/$c"; done
    rmdir "$KUBE_BIN.partial" 2>/dev/null || true
    log "built Kubernetes $KUBE_VERSION in $((SECONDS - started)) s"
  fi
  if [[ ! -x "$KWOK_BIN/kwok" ]]; then
    need_go
    started=$SECONDS
    log "building kwok $KWOK_VERSION into $KWOK_BIN"
    mkdir -p "$KWOK_BIN"
    GOBIN="$KWOK_BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    log "built kwok $KWOK_VERSION in $((SECONDS - started)) s"
  fi
  if [[ ! -x "$ETCD_BIN/etcd" ]]; then
    need_go
    started=$SECONDS
    log "building etcd $ETCD_VERSION into $ETCD_BIN"
    mkdir -p "$ETCD_BIN"
    (cd "$KUBE_MODULE/etcd" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$ETCD_BIN/etcd.partial" go.etcd.io/etcd/server/v3)
    mv "$ETCD_BIN/etcd.partial" "$ETCD_BIN/etcd"
    log "built etcd $ETCD_VERSION in $((SECONDS - started)) s"
  fi
  command -v openssl >/dev/null || die "openssl is needed"
  echo "$KUBE_BIN"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# cert NAME CN [O] [SERVER]: a key and a certificate signed by the cluster's CA.
cert() {
  local name="$1" cn="$2" org="${3:-}" server="${4:-}" pki="$DIR/pki"
  local subj="/CN=$cn"
  [[ -n "$org" ]] && subj="/O=$org$subj"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext="$pki/$name.ext"
  if [[ -n "$server" ]]; then
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' >"$ext"
  else
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

kubeconfig() {
  local name="$1" user="$2" file="$DIR/$1.kubeconfig"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: amun-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$DIR/pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$DIR/pki/$name.crt")
    client-key-data: $(base64 -w0 "$DIR/pki/$name.key")
contexts:
- name: amun-test
  context:
    cluster: amun-test
    user: $user
    namespace: amun
current-context: amun-test
EOF
  chmod 600 "$file"
}

# spawn NAME CMD...: starts a process in a session of its own, its output in DIR/logs/NAME.log.
spawn() {
  local name="$1"
  shift
  setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo "$!" >>"$DIR/pids"
  echo "$name $!" >>"$DIR/processes"
}

api() {
  curl -sS --fail --max-time 5 --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key" "$@"
}

wait_for() {
  local what="$1" timeout="$2"
  shift 2
  local until=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > until)); then
      log "$what did not come up in ${timeout} s; its logs are in $DIR/logs"
      for f in "$DIR"/logs/*.log; do log "--- $f"; tail -n 15 "$f" >&2 || true; done
      stop_cluster
      exit 1
    fi
    check_alive
    sleep 0.2
  done
}

check_alive() {
  local name pid
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || {
      log "$name exited early:"
      tail -n 30 "$DIR/logs/$name.log" >&2 || true
      stop_cluster
      exit 1
    }
  done <"$DIR/processes"
}

stop_cluster() {
  [[ -f "$DIR/pids" ]] || return 0
  local pid
  # Each process leads its own session: signal the whole group, then make sure.
  while read -r pid; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done <"$DIR/pids"
  for _ in $(seq 1 50); do
    local alive=0
    while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$DIR/pids"
    ((alive)) || break
    sleep 0.1
  done
  while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done <"$DIR/pids"
  rm -f "$DIR/pids" "$DIR/processes"
}

start() {
  local started=$SECONDS
  build >/dev/null
  mkdir -p "$DIR/pki" "$DIR/logs" "$DIR/etcd"
  [[ -f "$DIR/pids" ]] && die "$DIR already holds a running cluster (scripts/kube-cluster.sh stop $DIR)"
  : >"$DIR/pids"
  : >"$DIR/processes"
  ETCD_PORT=$(free_port)
  ETCD_PEER_PORT=$(free_port)
  API_PORT=$(free_port)
  CM_PORT=$(free_port)
  SCHED_PORT=$(free_port)
  KWOK_PORT=$(free_port)

  local pki="$DIR/pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=amun-test-ca" -days 30 -sha256 -out "$pki/ca.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  cert apiserver kube-apiserver "" server
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert admin amun-test-admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kwok kwok system:masters
  cert functions amun-functions amun-controller
  cert kwok-serving kwok-kubelet "" server
  kubeconfig admin amun-test-admin
  kubeconfig controller-manager system:kube-controller-manager
  kubeconfig scheduler system:kube-scheduler
  kubeconfig kwok kwok
  kubeconfig functions amun-functions

  spawn etcd "$ETCD_BIN/etcd" --name amun-test --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "amun-test=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes 1073741824 \
    --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -sS --fail --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  spawn kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --service-account-issuer https://kubernetes.default.svc --api-audiences https://kubernetes.default.svc \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --anonymous-auth=false \
    --enable-admission-plugins NodeRestriction \
    --service-cluster-ip-range 10.96.0.0/16 \
    --cert-dir "$DIR/pki/apiserver-generated" \
    --profiling=false --v=1
  wait_for kube-apiserver 90 api "https://127.0.0.1:$API_PORT/readyz"

  spawn kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$DIR/controller-manager.kubeconfig" --authorization-kubeconfig "$DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CM_PORT" --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials \
    --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' \
    --concurrent-job-syncs 10 --v=1
  spawn kube-scheduler "$KUBE_BIN/kube-scheduler" \
    --kubeconfig "$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$DIR/scheduler.kubeconfig" --authorization-kubeconfig "$DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --v=1
  # Container logs, as the API server reads them from the nodes' kubelets (kwok's server): each
  # container name reads DIR/pod-logs/<name>.log, CRI log lines a test writes.
  mkdir -p "$DIR/pod-logs"
  {
    printf 'apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata:\n  name: amun-test-logs\nspec:\n  selector:\n    matchNamespaces: ["amun"]\n  logs:\n'
    for c in build report harness upload; do
      : >"$DIR/pod-logs/$c.log"
      printf '  - containers: ["%s"]\n    logsFile: "%s"\n    follow: false\n' "$c" "$DIR/pod-logs/$c.log"
    done
  } >"$DIR/kwok-logs.yaml"
  spawn kwok "$KWOK_BIN/kwok" --kubeconfig "$DIR/kwok.kubeconfig" \
    --config "$KUBE_MODULE/kwok-stages.yaml" --config "$DIR/kwok-logs.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --cidr 10.244.0.0/16 --node-lease-duration-seconds 40 \
    --node-port "$KWOK_PORT" --server-address "127.0.0.1:$KWOK_PORT" \
    --tls-cert-file "$pki/kwok-serving.crt" --tls-private-key-file "$pki/kwok-serving.key"

  # The nodes: created here, made Ready by kwok.
  for node in "$KUBE_MODULE"/nodes/*.yaml; do
    api -X POST -H 'Content-Type: application/yaml' --data-binary "@$node" "https://127.0.0.1:$API_PORT/api/v1/nodes" >/dev/null
  done
  local count
  count=$(ls "$KUBE_MODULE"/nodes/*.yaml | wc -l)
  wait_for "$count Ready nodes" 60 nodes_ready "$count"
  # The default service account of the default namespace: the controllers are up.
  wait_for kube-controller-manager 60 api "https://127.0.0.1:$API_PORT/api/v1/namespaces/default/serviceaccounts/default"

  if [[ -n "${OWNER:-}" ]]; then
    # Stops the cluster when the process that started it ends, however it ends.
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -f "$2/pids" ]]; do sleep 1; done; [[ -f "$2/pids" ]] && exec "$3" stop "$2"' \
      watchdog "$OWNER" "$DIR" "$ROOT/scripts/kube-cluster.sh" >/dev/null 2>&1 </dev/null &
  fi
  cat >"$DIR/cluster.env" <<EOF
KUBE_VERSION=$KUBE_VERSION
KWOK_VERSION=$KWOK_VERSION
KUBE_API=https://127.0.0.1:$API_PORT
KUBECONFIG_ADMIN=$DIR/admin.kubeconfig
KUBECONFIG_FUNCTIONS=$DIR/functions.kubeconfig
STARTED_SECONDS=$((SECONDS - started))
EOF
  log "Kubernetes $KUBE_VERSION up at https://127.0.0.1:$API_PORT in $((SECONDS - started)) s (admin: $DIR/admin.kubeconfig)"
}

nodes_ready() {
  local want="$1" ready
  ready=$(api "https://127.0.0.1:$API_PORT/api/v1/nodes" | python3 -c 'import json, sys
items = json.load(sys.stdin)["items"]
print(sum(1 for n in items for c in n.get("status", {}).get("conditions", []) if c["type"] == "Ready" and c["status"] == "True"))')
  [[ "$ready" -ge "$want" ]]
}

case "${1:-}" in
  build) build ;;
  start)
    [[ -n "${2:-}" ]] || die "usage: $0 start DIR [OWNER_PID]"
    mkdir -p "$2"
    DIR="$(cd "$2" && pwd)"
    OWNER="${3:-}"
    start
    ;;
  stop)
    [[ -n "${2:-}" ]] || die "usage: $0 stop DIR"
    DIR="$(cd "$2" && pwd)"
    stop_cluster
    ;;
  built)
    for c in "${COMPONENTS[@]}"; do [[ -x "$KUBE_BIN/$c" ]] || exit 1; done
    [[ -x "$KWOK_BIN/kwok" && -x "$ETCD_BIN/etcd" ]]
    ;;
  versions) echo "kubernetes=$KUBE_VERSION kwok=$KWOK_VERSION etcd=$ETCD_VERSION" ;;
  *) die "usage: $0 build | built | start DIR [OWNER_PID] | stop DIR | versions" ;;
esac
