/**
 * The pods' shell steps on their own, with /bin/sh and a curl stand-in that records what it was
 * asked to send: the build step records kaniko's outcome whatever it is; the report step turns
 * every outcome (and garbage) into a valid build status and still prints it when the upload fails;
 * the upload sidecar sends the result last and stops on TERM.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_SCRIPT, REPORT_SCRIPT, UPLOAD_SCRIPT } from '../../functions/core/kubernetes/scripts.js';
import { toProblems, validators } from '../../functions/core/validation.js';
import { tempDir } from '../support/stack.js';
import { exec } from './support/pods.js';

const ID = 'inspection-scripts-0123abcd';
const DIGEST = 'd'.repeat(64);

describe('pod scripts', () => {
  const dir = tempDir('amun-scripts-');
  const bin = join(dir.path, 'bin');
  const sent = join(dir.path, 'sent');
  const PATH = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;

  beforeAll(() => {
    mkdirSync(bin);
    mkdirSync(sent);
    // curl: appends its arguments to $SENT/calls, copies an uploaded file, fails when CURL_FAIL matches the config.
    writeFileSync(
      join(bin, 'curl'),
      `#!/bin/sh
printf '%s\\n' "$*" >> "$SENT/calls"
conf=""; file=""
while [ $# -gt 0 ]; do
  case "$1" in
    -K) conf="$2"; shift ;;
    --upload-file) file="$2"; shift ;;
  esac
  shift
done
if [ -n "\${CURL_FAIL:-}" ] && [ "\${conf##*/}" = "$CURL_FAIL" ]; then echo "curl: (22) The requested URL returned error: 403" >&2; exit 22; fi
if [ -n "$file" ]; then cp "$file" "$SENT/\${conf##*/}.body"; fi
exit 0
`,
    );
    chmodSync(join(bin, 'curl'), 0o755);
  });
  afterAll(() => dir.remove());

  let n = 0;
  const work = (files: Record<string, string>): string => {
    const w = join(dir.path, `work-${++n}`);
    mkdirSync(w);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(w, name), text);
    return w;
  };
  const report = (w: string, env: Record<string, string> = {}) =>
    exec('/bin/sh', ['-c', REPORT_SCRIPT], { PATH, SENT: sent, AMUN_WORK: w, AMUN_SECRETS: '/amun/secrets', AMUN_IMAGE: `registry.example.com/amun:${DIGEST}`, AMUN_INSPECTION_ID: ID, AMUN_STACK_DIGEST: DIGEST, ...env });
  const status = (): Record<string, unknown> => {
    const s = JSON.parse(readFileSync(join(sent, 'status.curlrc.body'), 'utf8')) as Record<string, unknown>;
    const valid = validators.buildStatus(s);
    expect(toProblems(validators.buildStatus.errors)).toEqual([]);
    expect(valid).toBe(true);
    return s;
  };

  it('build step: records kaniko’s exit code, times and output, and exits 0 even when kaniko fails', async () => {
    const w = work({});
    const kaniko = join(dir.path, 'kaniko-fails');
    writeFileSync(kaniko, '#!/bin/sh\necho "step 1"\necho "error: RUN returned 1" >&2\nexit 3\n');
    chmodSync(kaniko, 0o755);
    const out = await exec('/bin/sh', ['-c', BUILD_SCRIPT, 'amun-build', '--destination=x'], { PATH, AMUN_WORK: w, AMUN_KANIKO: kaniko });
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('step 1\nerror: RUN returned 1\n');
    expect(readFileSync(join(w, 'log'), 'utf8')).toBe('step 1\nerror: RUN returned 1\n');
    expect(readFileSync(join(w, 'exit_code'), 'utf8')).toBe('3\n');
    expect(readFileSync(join(w, 'started_at'), 'utf8')).toMatch(/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\n$/);
    expect(existsSync(join(w, 'pipe'))).toBe(false);
  });

  it('report step: success → succeeded with image and digest; log first, status last', async () => {
    const out = await report(work({ exit_code: '0\n', started_at: '2025-03-01T10:00:00Z\n', finished_at: '2025-03-01T10:05:00Z\n', digest: `sha256:${'e'.repeat(64)}`, log: 'built\n' }));
    expect(out.code).toBe(0);
    expect(status()).toEqual({
      cached: false, executor: 'kubernetes', exit_code: 0, finished_at: '2025-03-01T10:05:00Z', image: `registry.example.com/amun:${DIGEST}`, image_digest: `sha256:${'e'.repeat(64)}`,
      inspection_id: ID, message: null, reason: null, stack_digest: DIGEST, started_at: '2025-03-01T10:00:00Z', state: 'succeeded',
    });
    expect(readFileSync(join(sent, 'log.curlrc.body'), 'utf8')).toBe('built\n');
    const calls = readFileSync(join(sent, 'calls'), 'utf8').trim().split('\n').slice(-2);
    expect(calls[0]).toContain('/amun/secrets/log.curlrc');
    expect(calls[1]).toContain('/amun/secrets/status.curlrc');
  });

  it('report step: a failed build, a missing exit code and garbage all give a valid failed status', async () => {
    await report(work({ exit_code: '1\n', started_at: '2025-03-01T10:00:00Z\n', finished_at: 'yesterday"}\n', digest: 'sha256:zz"}' }));
    expect(status()).toMatchObject({ state: 'failed', exit_code: 1, reason: 'build_failed', message: 'the builder exited with code 1', image: null, image_digest: null, finished_at: null });
    await report(work({}));
    expect(status()).toMatchObject({ state: 'failed', exit_code: null, reason: 'executor_error', started_at: null });
    await report(work({ exit_code: '0; rm -rf /\n' }));
    expect(status()).toMatchObject({ state: 'failed', exit_code: null, reason: 'executor_error' });
  });

  it('report step: when the status upload fails it exits 1 with the status as the last line of its log', async () => {
    const out = await report(work({ exit_code: '0\n', started_at: '2025-03-01T10:00:00Z\n', finished_at: '2025-03-01T10:05:00Z\n' }), { CURL_FAIL: 'status.curlrc' });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('could not upload the build status');
    const last = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(last).toMatchObject({ state: 'succeeded', inspection_id: ID });
  });

  it('upload sidecar: a TERM before any result ends it at once and uploads nothing', async () => {
    const out = join(dir.path, 'empty-output');
    mkdirSync(out);
    const started = Date.now();
    writeFileSync(join(sent, 'calls'), '');
    const exit = await exec('/bin/sh', ['-c', UPLOAD_SCRIPT], { PATH, SENT: sent, AMUN_OUTPUT_DIR: out, AMUN_SECRETS: '/s', AMUN_RESULTS_PREFIX: `inspections/${ID}/results/`, AMUN_ITEM: '0' }, 1500);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain('stopped before the harness wrote a result');
    expect(readFileSync(join(sent, 'calls'), 'utf8')).toBe('');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('upload sidecar: posts hwinfo, log, then result under results/<item>/, the file field last', async () => {
    const out = join(dir.path, 'output');
    mkdirSync(out);
    for (const f of ['hwinfo', 'log', 'result']) writeFileSync(join(out, f), '{}');
    writeFileSync(join(sent, 'calls'), '');
    const exit = await exec('/bin/sh', ['-c', UPLOAD_SCRIPT], { PATH, SENT: sent, AMUN_OUTPUT_DIR: out, AMUN_SECRETS: '/s', AMUN_RESULTS_PREFIX: `inspections/${ID}/results/`, AMUN_ITEM: '7' }, (o) => o.includes('uploaded'));
    expect(exit.code).toBe(0);
    const calls = readFileSync(join(sent, 'calls'), 'utf8').trim().split('\n');
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => /key=(\S+)/.exec(c)?.[1])).toEqual([`inspections/${ID}/results/7/hwinfo`, `inspections/${ID}/results/7/log`, `inspections/${ID}/results/7/result`]);
    for (const c of calls) {
      expect(c.indexOf('-K /s/post.curlrc')).toBeLessThan(c.indexOf('key='));
      expect(c.indexOf('file=@')).toBeGreaterThan(c.indexOf('Content-Type='));
    }
  });

  it('upload sidecar: refuses to run without a completion index', async () => {
    const exit = await exec('/bin/sh', ['-c', UPLOAD_SCRIPT], { PATH, AMUN_RESULTS_PREFIX: 'p/', AMUN_ITEM: '1;x' });
    expect(exit.code).toBe(1);
  });
});
