/**
 * The pods' shell steps on their own, with /bin/sh and a curl stand-in that records what it was
 * asked to send: the build step records kaniko's outcome whatever it is; the report step turns
 * every outcome (and garbage) into a valid build status and still prints it when the upload fails;
 * the upload sidecar sends the result last and stops on TERM.
 *
 * Then with the real curl against the embedded S3 and real grants: what the user's code left in a
 * shared directory goes up only when it is a regular file of that directory. A link to the grant
 * files (or anything else), a FIFO, a name swapped while the sidecar looks at it: never uploaded.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curlPostConfig, curlPutConfig } from '../../functions/adapters/kubernetes/manifests/index.js';
import { BUILD_SCRIPT, REPORT_SCRIPT, UPLOAD_SCRIPT } from '../../functions/adapters/kubernetes/manifests/scripts.js';
import { Layout } from '../../functions/core/layout.js';
import { toProblems, validators } from '../../functions/core/validation.js';
import { tempDir } from '../support/stack.js';
import { exec } from './support/pods.js';
import { startEmbeddedS3, type EmbeddedS3 } from './support/s3.js';

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
    // curl: appends its arguments to $SENT/calls, copies an uploaded file (or the data on stdin), fails when CURL_FAIL matches the config.
    writeFileSync(
      join(bin, 'curl'),
      `#!/bin/sh
printf '%s\\n' "$*" >> "$SENT/calls"
conf=""; file=""; data=""
while [ $# -gt 0 ]; do
  case "$1" in
    -K) conf="$2"; shift ;;
    --upload-file) file="$2"; shift ;;
    --data-binary) data="$2"; shift ;;
  esac
  shift
done
if [ -n "\${CURL_FAIL:-}" ] && [ "\${conf##*/}" = "$CURL_FAIL" ]; then echo "curl: (22) The requested URL returned error: 403" >&2; exit 22; fi
if [ -n "$file" ]; then cp "$file" "$SENT/\${conf##*/}.body"; fi
if [ "$data" = "@-" ]; then cat > "$SENT/\${conf##*/}.body"; fi
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

  it('report step: a builder killed with SIGKILL, or a build step that was, is oom with the builder’s memory limit', async () => {
    const times = { started_at: '2025-03-01T10:00:00Z\n', finished_at: '2025-03-01T10:05:00Z\n' };
    await report(work({ exit_code: '137\n', ...times, log: 'INFO[0042] RUN pip install torch\n' }), { AMUN_BUILDER_MEMORY: '2Gi' });
    expect(status()).toMatchObject({
      state: 'failed', exit_code: 137, reason: 'oom', image: null,
      message: "the builder was killed (SIGKILL, exit code 137), most likely for exceeding the builder's memory limit of 2Gi: ask for more with build.requests.memory",
    });
    const killedStep = 'INFO[0042] RUN pip install torch\nerror building image: error building stage: failed to execute command: waiting for process to exit: exit status 137\n';
    await report(work({ exit_code: '1\n', ...times, log: killedStep }), { AMUN_BUILDER_MEMORY: '4Gi' });
    expect(status()).toMatchObject({ exit_code: 1, reason: 'oom', message: expect.stringMatching(/^the builder exited with code 1: a build step was killed \(exit status 137\), .* of 4Gi: ask for more/) });
    // Without the limit (or with garbage in it) the message says less, and stays valid JSON.
    await report(work({ exit_code: '137\n', ...times }), { AMUN_BUILDER_MEMORY: '2Gi"}' });
    expect(status()).toMatchObject({ reason: 'oom', message: expect.stringContaining("exceeding the builder's memory limit: ask for more") });
    // A RUN line that failed otherwise is still build_failed.
    await report(work({ exit_code: '1\n', ...times, log: 'error building image: exit status 2\n' }), { AMUN_BUILDER_MEMORY: '2Gi' });
    expect(status()).toMatchObject({ reason: 'build_failed', message: 'the builder exited with code 1' });
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
    // TERM comes at 1.5 s and cuts its nap short (about 1.5 s in all); the bound is a wide margin
    // for a busy machine, and still half the 30 s a kubelet waits before it kills.
    expect(Date.now() - started).toBeLessThan(15_000);
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

describe('pod scripts with curl against the embedded S3: links and special files never go up', () => {
  const dir = tempDir('amun-scripts-s3-');
  const layout = new Layout('inspections');
  const results = layout.resultsPrefix(ID);
  let s3: EmbeddedS3;
  let n = 0;

  beforeAll(async () => {
    s3 = await startEmbeddedS3(join(dir.path, 's3'));
  });
  afterAll(async () => {
    await s3?.stop();
    dir.remove();
  });

  /** A pod's directories: the grant mounted as the Secret volume would be (mode 0400), and an output or work directory. */
  const pod = (grants: Record<string, string>): { secrets: string; shared: string } => {
    const base = join(dir.path, `pod-${++n}`);
    const secrets = join(base, 'secrets');
    const shared = join(base, 'shared');
    mkdirSync(secrets, { recursive: true });
    mkdirSync(shared);
    for (const [name, text] of Object.entries(grants)) writeFileSync(join(secrets, name), text, { mode: 0o400 });
    return { secrets, shared };
  };
  const runPod = async () => {
    const post = await s3.signer().presignPost(results, new Date(Date.now() + 600_000));
    return pod({ 'post.curlrc': curlPostConfig(post.url, post.fields) });
  };
  const sidecar = (p: { secrets: string; shared: string }, item: number, until: ((out: string) => boolean) | number = (o) => o.includes('amun-upload: uploaded')) =>
    exec('/bin/sh', ['-c', UPLOAD_SCRIPT], { AMUN_OUTPUT_DIR: p.shared, AMUN_SECRETS: p.secrets, AMUN_RESULTS_PREFIX: results, AMUN_ITEM: String(item) }, until);
  const stored = async (item: number): Promise<Record<string, string | undefined>> => ({
    hwinfo: await s3.text(layout.resultHwinfo(ID, item)),
    log: await s3.text(layout.resultLog(ID, item)),
    result: await s3.text(layout.result(ID, item)),
  });

  it('upload sidecar: a log linked to the grant is refused and not uploaded; ordinary hwinfo and result are', async () => {
    const p = await runPod();
    writeFileSync(join(p.shared, 'hwinfo'), '{"cpu_info":{}}\n');
    symlinkSync(join(p.secrets, 'post.curlrc'), join(p.shared, 'log'));
    writeFileSync(join(p.shared, 'result'), '{"exit_code":0}\n');
    const exit = await sidecar(p, 0);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain('amun-upload: log is not a regular file of the output directory');
    expect(await stored(0)).toEqual({ hwinfo: '{"cpu_info":{}}\n', log: undefined, result: '{"exit_code":0}\n' });
  });

  it('upload sidecar: a linked hwinfo and a FIFO log are refused; the result still goes up', async () => {
    const p = await runPod();
    writeFileSync(join(p.shared, 'elsewhere'), '{"not":"hwinfo"}\n');
    symlinkSync('elsewhere', join(p.shared, 'hwinfo'));
    execFileSync('mkfifo', [join(p.shared, 'log')]);
    writeFileSync(join(p.shared, 'result'), '{"exit_code":1}\n');
    const exit = await sidecar(p, 1);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(/hwinfo is not a regular file[\s\S]*log is not a regular file/);
    expect(await stored(1)).toEqual({ hwinfo: undefined, log: undefined, result: '{"exit_code":1}\n' });
  });

  it('upload sidecar: a result linked to the grant is refused (exit 1, so the kubelet restarts it); the harness’s own result goes up on the next start', async () => {
    const p = await runPod();
    writeFileSync(join(p.shared, 'log'), 'hello\n');
    symlinkSync(join(p.secrets, 'post.curlrc'), join(p.shared, 'result'));
    const refused = await sidecar(p, 2, 5000);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('amun-upload: result is not a regular file of the output directory');
    expect((await stored(2)).result).toBeUndefined();
    // The harness writes its result by renaming over the name, link or not.
    writeFileSync(join(p.shared, '.result.tmp'), '{"exit_code":0}\n');
    execFileSync('mv', ['-f', join(p.shared, '.result.tmp'), join(p.shared, 'result')]);
    const again = await sidecar(p, 2);
    expect(again.code).toBe(0);
    expect(await stored(2)).toEqual({ hwinfo: undefined, log: 'hello\n', result: '{"exit_code":0}\n' });
  });

  it('upload sidecar: a log swapped between a regular file and a link to the grant while it runs never uploads the grant', async () => {
    const p = await runPod();
    const grant = readFileSync(join(p.secrets, 'post.curlrc'), 'utf8');
    writeFileSync(join(p.shared, 'result'), '{"exit_code":0}\n');
    // What a process the script left behind could do: flip the name as fast as it can.
    const flipper = spawn(
      'python3',
      ['-c', ['import os, sys', 'out, grant = sys.argv[1], sys.argv[2]', 'while True:', '    os.symlink(grant, out + "/.l")', '    os.rename(out + "/.l", out + "/log")', '    open(out + "/.f", "w").write("ordinary\\n")', '    os.rename(out + "/.f", out + "/log")'].join('\n'), p.shared, join(p.secrets, 'post.curlrc')],
      { stdio: 'ignore' },
    );
    try {
      let refused = 0;
      for (let item = 10; item < 30; item++) {
        const exit = await sidecar(p, item);
        expect(exit.code).toBe(0);
        const log = (await stored(item)).log;
        if (log === undefined) refused++;
        else expect(log).toBe('ordinary\n');
        expect(log ?? '').not.toContain(grant.slice(0, 40));
      }
      expect(refused).toBeGreaterThan(0);
    } finally {
      flipper.kill('SIGKILL');
    }
    // Nothing under results/ holds any part of the grant.
    const page = await s3.store.list(results);
    for (const key of page.keys) expect(await s3.text(key)).not.toMatch(/policy=|x-amz-signature/i);
  });

  it('report step: a log and a digest linked elsewhere (to the grants, say) are never followed', async () => {
    const id = 'inspection-report-links-0123abcd';
    const expires = 600;
    const p = pod({ 'log.curlrc': curlPutConfig((await s3.signer().presignPut(layout.buildLog(id), expires)).url), 'status.curlrc': curlPutConfig((await s3.signer().presignPut(layout.buildStatus(id), expires)).url) });
    writeFileSync(join(p.shared, 'exit_code'), '0\n');
    writeFileSync(join(p.shared, 'started_at'), '2025-03-01T10:00:00Z\n');
    writeFileSync(join(p.shared, 'finished_at'), '2025-03-01T10:05:00Z\n');
    writeFileSync(join(p.shared, 'claimed'), `sha256:${'e'.repeat(64)}\n`);
    symlinkSync(join(p.shared, 'claimed'), join(p.shared, 'digest'));
    symlinkSync(join(p.secrets, 'status.curlrc'), join(p.shared, 'log'));
    const out = await exec('/bin/sh', ['-c', REPORT_SCRIPT], { AMUN_WORK: p.shared, AMUN_SECRETS: p.secrets, AMUN_IMAGE: `registry.example.com/amun:${DIGEST}`, AMUN_INSPECTION_ID: id, AMUN_STACK_DIGEST: DIGEST });
    expect(out.code).toBe(0);
    const log = await s3.text(layout.buildLog(id));
    expect(log).toBe('amun-report: the build step left no build log that is a regular file\n');
    expect(log).not.toMatch(/X-Amz-Signature/i);
    const status = JSON.parse((await s3.text(layout.buildStatus(id)))!) as Record<string, unknown>;
    expect(validators.buildStatus(status)).toBe(true);
    expect(status).toMatchObject({ state: 'succeeded', exit_code: 0, image_digest: null, inspection_id: id });
  });

  it('report step: an ordinary log and digest go up as they are', async () => {
    const id = 'inspection-report-plain-0123abcd';
    const p = pod({ 'log.curlrc': curlPutConfig((await s3.signer().presignPut(layout.buildLog(id), 600)).url), 'status.curlrc': curlPutConfig((await s3.signer().presignPut(layout.buildStatus(id), 600)).url) });
    writeFileSync(join(p.shared, 'exit_code'), '0\n');
    writeFileSync(join(p.shared, 'digest'), `sha256:${'e'.repeat(64)}\n`);
    writeFileSync(join(p.shared, 'log'), 'INFO Pushed image\n');
    const out = await exec('/bin/sh', ['-c', REPORT_SCRIPT], { AMUN_WORK: p.shared, AMUN_SECRETS: p.secrets, AMUN_IMAGE: `registry.example.com/amun:${DIGEST}`, AMUN_INSPECTION_ID: id, AMUN_STACK_DIGEST: DIGEST });
    expect(out.code).toBe(0);
    expect(await s3.text(layout.buildLog(id))).toBe('INFO Pushed image\n');
    expect(JSON.parse((await s3.text(layout.buildStatus(id)))!)).toMatchObject({ state: 'succeeded', image_digest: `sha256:${'e'.repeat(64)}` });
    // The status went up from memory: nothing was written into the work directory.
    expect(existsSync(join(p.shared, 'status.json'))).toBe(false);
  });
});
