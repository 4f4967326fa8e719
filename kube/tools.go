//go:build tools

// Package tools pins the Kubernetes control-plane commands that
// scripts/kube-cluster.sh builds: `go build` of these import paths with
// this module's go.mod gives one Kubernetes release, its staging modules
// pinned by the replace directives (as Kubernetes is built outside its
// own repository).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
