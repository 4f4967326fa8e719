#!/usr/bin/env node
// Launcher for the `amun` CLI: the package is TypeScript run without a build step, so register
// tsx's ESM loader, then import the CLI, which runs and exits with its own code.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../cli/amun.ts', import.meta.url).href);
