/**
 * Plays the kubelet for the Kubernetes tests: runs the containers of Amun's pods on this machine,
 * with the very commands and environment of the manifests (read back from the API server),
 * only the in-pod paths pointed at temporary directories. The build step runs with a stand-in for
 * kaniko; the report and upload steps run with /bin/sh and the real curl against the embedded S3;
 * a run's harness is the real functions/harness/entrypoint.py.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Obj = Record<string, any>;

/** Where the pods' Jobs and Secrets are read from (the API server, as a kubelet reads them). */
export interface PodSource {
  job(name: string): Promise<Obj | undefined>;
  secret(name: string): Promise<Obj | undefined>;
}

/** Jobs and Secrets of one namespace, read with client-node (objects as the API serves them). */
export function clusterSource(objects: { read(spec: Obj): Promise<Obj> }, namespace: string): PodSource {
  const read = async (apiVersion: string, kind: string, name: string): Promise<Obj | undefined> => {
    try {
      // The wire form (camelCase keys, base64 Secret data), as a kubelet gets it.
      return JSON.parse(JSON.stringify(await objects.read({ apiVersion, kind, metadata: { name, namespace } })));
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  };
  return { job: (name) => read('batch/v1', 'Job', name), secret: (name) => read('v1', 'Secret', name) };
}

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; `until` (a stdout test, or milliseconds) says when to send it SIGTERM. */
export function exec(command: string, args: string[], env: Record<string, string>, until?: ((stdout: string) => boolean) | number, timeoutMs = 30_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} timed out; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      if (typeof until === 'function' && !signalled && until(stdout)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const untilTimer =
      typeof until === 'number'
        ? setTimeout(() => {
            signalled = true;
            child.kill('SIGTERM');
          }, until)
        : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(untilTimer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The plain `value` env entries of a container, with overrides. */
export function containerEnv(container: Obj, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  return { ...env, ...overrides };
}

/** Writes a Secret's files (as a secret volume would mount them) into `dir`. */
export async function mountSecret(source: PodSource, name: string, dir: string): Promise<void> {
  const secret = await source.secret(name);
  if (!secret) throw new Error(`no secret ${name}`);
  mkdirSync(dir, { recursive: true });
  for (const [file, data] of Object.entries<string>(secret.data ?? {})) writeFileSync(join(dir, file), Buffer.from(data, 'base64'));
}

/**
 * The build pod: the build step (BUILD_SCRIPT with a kaniko stand-in that prints, pushes a manifest
 * to its --destination over the registry API with curl, writes that manifest's digest into the
 * digest file and exits with `kanikoExit`), then the report step (REPORT_SCRIPT with real curl).
 */
export async function runBuildPod(source: PodSource, jobName: string, dir: string, kanikoExit = 0): Promise<{ build: Exit; report: Exit; kanikoArgs: string[] }> {
  const job = await source.job(jobName);
  if (!job) throw new Error(`no job ${jobName}`);
  const pod = job.spec.template.spec as Obj;
  const work = join(dir, 'work');
  const secrets = join(dir, 'secrets');
  mkdirSync(work, { recursive: true });
  const secretVolume = (pod.volumes as Obj[]).find((v) => v.name === 'upload')!;
  await mountSecret(source, secretVolume.secret.secretName, secrets);
  const kaniko = join(dir, 'kaniko');
  const push = [
    'dest=""',
    'for a in "$@"; do case "$a" in --destination=*) dest="${a#--destination=}" ;; esac; done',
    'repo="${dest%:*}"; tag="${dest##*:}"',
    'manifest="{\\"schemaVersion\\":2,\\"annotations\\":{\\"amun.test/destination\\":\\"$dest\\",\\"amun.test/built\\":\\"$(date +%s%N)-$$\\"}}"',
    'printf \'%s\' "$manifest" | curl -sS --fail -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @- "http://${repo%%/*}/v2/${repo#*/}/manifests/$tag" || exit 1',
    'echo "INFO[0042] Pushed image"',
    'printf \'sha256:%s\\n\' "$(printf \'%s\' "$manifest" | sha256sum | cut -d \' \' -f 1)" > "$AMUN_WORK/digest"',
  ].join('\n');
  writeFileSync(
    kaniko,
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${join(dir, 'kaniko-args')}"\necho "INFO[0000] Retrieving image manifest docker.io/library/python:3.12-slim"\n` +
      (kanikoExit === 0 ? `${push}\n` : 'echo "error building image: RUN returned 1" >&2\n') +
      `exit ${kanikoExit}\n`,
  );
  chmodSync(kaniko, 0o755);
  const builder = pod.initContainers[0] as Obj;
  const [, , script, ...args] = builder.command as string[];
  const build = await exec('/bin/sh', ['-c', script!, ...args], containerEnv(builder, { AMUN_WORK: work, AMUN_KANIKO: kaniko }));
  const reporter = pod.containers[0] as Obj;
  const report = await exec('/bin/sh', ['-c', reporter.command[2]], containerEnv(reporter, { AMUN_WORK: work, AMUN_SECRETS: secrets }));
  return { build, report, kanikoArgs: readFileSync(join(dir, 'kaniko-args'), 'utf8').trim().split('\n') };
}

/**
 * One pod of the run Job: the real harness writes its files into the output directory, then the
 * upload sidecar posts them with the POST policy and is stopped with SIGTERM, as the kubelet does
 * when the harness has ended.
 */
export async function runItemPod(source: PodSource, jobName: string, item: number, script: string, dir: string): Promise<{ harness: Exit; upload: Exit }> {
  const job = await source.job(jobName);
  if (!job) throw new Error(`no job ${jobName}`);
  const pod = job.spec.template.spec as Obj;
  const base = join(dir, `item-${item}`);
  const output = join(base, 'output');
  const secrets = join(base, 'secrets');
  mkdirSync(output, { recursive: true });
  const scriptPath = join(base, 'script');
  writeFileSync(scriptPath, script);
  const secretVolume = (pod.volumes as Obj[]).find((v) => v.name === 'upload')!;
  await mountSecret(source, secretVolume.secret.secretName, secrets);
  const harnessContainer = (pod.containers as Obj[]).find((c) => c.name === 'harness')!;
  const entrypoint = join(process.cwd(), 'functions', 'harness', 'entrypoint.py');
  const harness = await exec('python3', [entrypoint], containerEnv(harnessContainer, { AMUN_OUTPUT_DIR: output, AMUN_SCRIPT: scriptPath, AMUN_ITEM: String(item), JOB_COMPLETION_INDEX: String(item), AMUN_VENV: join(base, 'no-venv') }));
  const upload = (pod.initContainers as Obj[]).find((c) => c.name === 'upload')!;
  const uploaded = await exec('/bin/sh', ['-c', upload.command[2]], containerEnv(upload, { AMUN_OUTPUT_DIR: output, AMUN_SECRETS: secrets, AMUN_ITEM: String(item) }), (out) => out.includes('amun-upload: uploaded'));
  return { harness, upload: uploaded };
}
