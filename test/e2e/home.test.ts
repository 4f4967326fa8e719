/**
 * The run user's home, under the process executor and under the container executor on a real
 * engine, on the embedded stack with the real harness: a script writes `~/.cache/…` (what pip,
 * matplotlib and torch hub do) and reports HOME, the password database's entry of its uid and
 * where the file went.
 *
 * In an image the run user (uid 1042) has an account (amun, primary group 0, home /home/amun, a
 * group amun); on the host each run has a HOME of its own, never the server's, which getpwuid()
 * names too where the run has a mount namespace.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { containmentPrefix, makesPidNamespace } from '../../functions/adapters/executors/containment.js';
import { run } from '../../functions/adapters/executors/spawn.js';
import type { BuildStatus, InspectionSummary, RunReport } from '../../functions/core/generated/types.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { api, tempDir, waitFor } from '../support/stack.js';

const LONG = 10 * 60_000;
const NONCE = randomBytes(6).toString('hex');
const CACHE_NAME = `amun-home-test-${NONCE}`;

const script = [
  'import grp, json, os, pwd',
  `path = os.path.expanduser("~/.cache/${CACHE_NAME}")`,
  'os.makedirs(os.path.dirname(path), exist_ok=True)',
  'with open(path, "w") as f: f.write(os.environ["AMUN_ITEM"])',
  'entry = pwd.getpwuid(os.getuid())',
  'groups = {g.gr_gid: g.gr_name for g in grp.getgrall()}',
  'print(json.dumps({',
  '    "home": os.environ.get("HOME"), "pw_dir": entry.pw_dir, "pw_name": entry.pw_name, "pw_gid": entry.pw_gid,',
  '    "uid": os.getuid(), "gid": os.getgid(), "group_1042": groups.get(1042), "written": path, "read": open(path).read(),',
  '    "home_writable": os.access(os.environ["HOME"], os.W_OK), "home_owner": os.stat(os.environ["HOME"]).st_uid, "cwd": os.getcwd(),',
  '}))',
].join('\n');

interface Probe {
  home: string;
  pw_dir: string;
  pw_name: string;
  pw_gid: number;
  uid: number;
  gid: number;
  group_1042: string | null;
  written: string;
  read: string;
  home_writable: boolean;
  home_owner: number;
  cwd: string;
}

function harness(stack: () => LocalStack) {
  const stored = async <T>(key: string): Promise<T | undefined> => {
    const raw = await stack().app.store.get(key);
    return raw ? (JSON.parse(raw.toString('utf8')) as T) : undefined;
  };
  return {
    stored,
    async inspect(spec: object): Promise<{ id: string; reports: RunReport[]; build: BuildStatus }> {
      const answer = await api(stack().apiUrl, 'POST', '/api/v1/inspect', spec);
      expect({ status: answer.status, error: answer.status === 202 ? undefined : answer.body }).toEqual({ status: 202, error: undefined });
      const id = answer.body.inspection_id as string;
      const summary = await waitFor(`${id} to finish`, async () => {
        const s = await stored<InspectionSummary>(stack().app.layout.summary(id));
        return s?.finished ? s : undefined;
      }, 8 * 60_000, 250);
      const build = (await stored<BuildStatus>(stack().app.layout.buildStatus(id)))!;
      const reports = await Promise.all(Array.from({ length: summary.batch_size }, async (_, item) => (await stored<RunReport>(stack().app.layout.result(id, item)))!));
      return { id, reports, build };
    },
  };
}

/** The probe's JSON line, after checking that the run succeeded. */
function probeOf(report: RunReport): Probe {
  expect({ exit_code: report.exit_code, reason: report.reason, stderr: report.stderr }).toEqual({ exit_code: 0, reason: null, stderr: '' });
  return report.stdout as unknown as Probe;
}

describe('HOME of a run under the process executor', () => {
  const dir = tempDir('amun-home-process-');
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1, overrides: { logIntervalMs: 100 } });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });
  const { inspect } = harness(() => stack);

  it("is a writable directory of the run, never the server's: ~/.cache lands there, and getpwuid() agrees where the run has a namespace", async () => {
    const { reports } = await inspect({ base: BASE_IMAGE, identifier: 'home on the host', script, batch_size: 2 });
    const probes = reports.map(probeOf);
    const namespaced = makesPidNamespace(containmentPrefix());
    const runs = join(dir.path, 'process', 'runs');
    for (const [item, probe] of probes.entries()) {
      expect(probe.home.startsWith(`${runs}/`)).toBe(true);
      expect(probe.home).not.toBe(process.env.HOME);
      expect(probe.home).not.toBe(homedir());
      expect(probe).toMatchObject({ home_writable: true, written: `${probe.home}/.cache/${CACHE_NAME}`, read: String(item), cwd: probe.home });
      // The harness is the init of a PID (and mount) namespace where one can be made: there the
      // password database names the run's HOME too; elsewhere it names the host's entry of the
      // server's user, which the run does not use.
      if (namespaced) expect({ containment: reports[item]!.containment, pw_dir: probe.pw_dir }).toEqual({ containment: 'pid_namespace', pw_dir: probe.home });
    }
    // Each run its own HOME, gone with the run; nothing reached the server's.
    expect(probes[0]!.home).not.toBe(probes[1]!.home);
    expect(existsSync(probes[0]!.home)).toBe(false);
    expect(existsSync(join(homedir(), '.cache', CACHE_NAME))).toBe(false);
  });

  it("changes nothing of the host's password database: the overlay lives in the run's mount namespace", async () => {
    const before = readFileSync('/etc/passwd');
    const { reports } = await inspect({ base: BASE_IMAGE, identifier: 'home on the host again', script: 'import os, pwd\nprint(pwd.getpwuid(os.getuid()).pw_dir)\n' });
    expect(reports[0]!.exit_code).toBe(0);
    expect(readFileSync('/etc/passwd')).toEqual(before);
    const outside = (await run('python3', ['-c', 'import os, pwd; print(pwd.getpwuid(os.getuid()).pw_dir)'])).stdout.trim();
    expect(outside).not.toContain(join(dir.path, 'process', 'runs'));
  });
});

describeWithEngine('HOME of the run user in an image (container executor)', (engine) => {
  const dir = tempDir('amun-home-container-');
  let stack: LocalStack;
  const images = new Set<string>();
  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'container', waitTimeSeconds: 1, overrides: { logIntervalMs: 100 } });
    expect(stack.app.executor.kind).toBe('container');
  }, LONG);
  afterAll(async () => {
    for (const image of images) await run(engine.engine, [...engine.flags, 'rmi', image]).catch(() => undefined);
    await stack?.stop();
    dir.remove();
  }, LONG);
  const { inspect } = harness(() => stack);

  it('is /home/amun, owned by uid 1042, which has an account (amun, group 0) and a group amun; ~/.cache is writable', async () => {
    const { reports, build } = await inspect({
      base: BASE_IMAGE,
      identifier: 'home in the image',
      script,
      batch_size: 2,
      environment: [{ name: 'AMUN_TEST_NONCE', value: NONCE }],
    });
    if (build.image) images.add(build.image);
    expect(build.state).toBe('succeeded');
    for (const [item, report] of reports.entries()) {
      expect(probeOf(report)).toEqual({
        home: '/home/amun',
        pw_dir: '/home/amun',
        pw_name: 'amun',
        pw_gid: 0,
        uid: 1042,
        gid: 0,
        group_1042: 'amun',
        written: `/home/amun/.cache/${CACHE_NAME}`,
        read: String(item),
        home_writable: true,
        home_owner: 1042,
        cwd: '/home/amun',
      });
    }
  }, LONG);

  it('keeps a HOME the specification sets, and the account still names /home/amun', async () => {
    const { reports, build } = await inspect({
      base: BASE_IMAGE,
      identifier: 'home of my choice',
      script,
      environment: [{ name: 'HOME', value: '/tmp/elsewhere' }, { name: 'AMUN_TEST_NONCE', value: NONCE }],
    });
    if (build.image) images.add(build.image);
    expect(probeOf(reports[0]!)).toMatchObject({ home: '/tmp/elsewhere', pw_dir: '/home/amun', pw_name: 'amun', written: `/tmp/elsewhere/.cache/${CACHE_NAME}`, read: '0' });
  }, LONG);
});
