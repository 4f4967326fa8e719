/**
 * `amun`: submit inspections, follow them, read their results, and serve the embedded stack.
 *
 * Where it talks: `--url` / AMUN_URL names a remote v1 API (every request carries AMUN_API_TOKEN
 * as a Bearer token, or an AWS SigV4 signature for an execute-api URL or `--auth iam`: auth.ts).
 * Without one, commands that need an API start the embedded stack in-process on
 * `--data-dir` / AMUN_DATA_DIR (default .amun; executor from AMUN_EXECUTOR, default auto), log to
 * `<data-dir>/amun.log`, and stop it at the end.
 *
 * Exit codes: 0 success; 1 failure (for `run`: the build failed or a run did not exit 0 cleanly;
 * elsewhere: not found, unreachable); 2 bad input (unreadable or invalid specification, bad option);
 * 130 interrupted.
 */
import { main } from './program.js';

const code = await main();
// Flush what is written, then exit: keep-alive sockets of the HTTP client must not hold the process.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
