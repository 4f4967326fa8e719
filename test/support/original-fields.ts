/**
 * The specification the original-fields executor tests build (test/harness/original-specs.process.test.ts,
 * test/container/original-specs.container.test.ts) and the loopback index it installs from.
 */
import { buildWheel, startLoopbackIndex, type LoopbackIndex } from './pyindex.js';

/** The spec both executor tests build: every index reachable only through the user's pip configuration. */
export function originalFieldsSpec(index: LoopbackIndex, base: string, constraint: string): object {
  const origin = index.url('good').replace(/\/good\/simple$/, '');
  return {
    base,
    identifier: 'original fields',
    '@amun_service_version': '0.7.2',
    files: [
      // The global configuration names the index of the stack; the root user's adds the index that
      // only has amun-tool: each file must have been read for the build to succeed.
      { path: '/etc/pip.conf', content: `[global]\nindex-url = ${index.url('good')}\n` },
      { path: '/root/.config/pip/pip.conf', content: `[global]\nextra-index-url = ${index.url('extra')}\n` },
      { path: 'data/input.json', content: '{"n": 3}\n' },
    ],
    python_packages: ["amun-tool ; python_version >= '3'", `amun-url @ ${origin}/extra/files/amun_url-1.0.0-py3-none-any.whl ; python_version >= "3"`],
    python: {
      requirements: { packages: { 'amun-hello': '==1.0.0' } },
      // No hashes, no sources: installed with --no-deps from the index pip.conf names.
      requirements_locked: { default: { 'amun-hello': { version: '==1.0.0' } } },
      constraints: [constraint],
      runtime_environment: { name: 'debian', python_version: '3' },
    },
    script: '#!/usr/bin/python3\nimport json, sys, amun_hello\nprint(json.dumps({"hello": amun_hello.hello(), "prefix": sys.prefix, "data": json.load(open("data/input.json"))}))\n',
  };
}

export async function startOriginalIndex(): Promise<LoopbackIndex> {
  return startLoopbackIndex({
    good: [buildWheel('amun-hello', '1.0.0', { 'amun_hello/__init__.py': 'def hello():\n    return "hello from the loopback index"\n' })],
    extra: [buildWheel('amun-tool', '1.0.0', { 'amun_tool/__init__.py': 'TOOL = 1\n' }), buildWheel('amun-url', '1.0.0', { 'amun_url/__init__.py': 'URL = 1\n' })],
  });
}
