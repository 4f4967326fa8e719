/**
 * The Kubernetes client as one lazily loaded module beside a function's bundle: bundled on its own
 * (infra/bundling.ts) into `node_modules/@kubernetes/client-node/`, where the function's
 * `import('@kubernetes/client-node')` finds it on first use.
 *
 * Exactly the names functions/adapters/kubernetes/kube-api.ts takes from that import, so esbuild
 * drops the rest of the client (half its size, and half the time its first use costs);
 * test/infra/stack.test.ts fails when the functions start using a name missing here.
 */
export { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, Observable, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
