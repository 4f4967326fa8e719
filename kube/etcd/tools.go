//go:build tools

// Package tools pins etcd for the test cluster (scripts/kube-cluster.sh builds
// go.etcd.io/etcd/server/v3, the etcd binary, at the release go.mod names): the
// version Kubernetes 1.34 is tested with, which the API server's watch-list
// streaming needs (Debian's 3.4 lacks the progress requests it relies on).
package tools

import _ "go.etcd.io/etcd/server/v3"
