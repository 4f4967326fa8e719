#!/usr/bin/env node
// Launcher for the `amun` CLI: the package is TypeScript run without a build step, so register
// tsx's ESM loader, then import the CLI, which runs and exits with its own code. The embedded
// stack needs Node 22.5 or later: an older `node` hands over to the Node 22 that `npm ci` installs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 5)) {
  const node = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
  if (!existsSync(node)) {
    console.error(`amun needs Node.js 22.5 or later (this is ${process.version}); run \`npm ci\` to install it into node_modules/.bin`);
    process.exit(2);
  }
  const child = spawnSync(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

const { register } = await import('tsx/esm/api');
register();
await import(new URL('../cli/amun.ts', import.meta.url).href);
