/**
 * `amun dockerfile SPEC --context DIR` writes a directory that the engine builds as it is: a file
 * given relative to the working directory, an absolute one, an environment variable and a script;
 * the image's harness then runs the script and writes the original's result (with
 * start_datetime and end_datetime) into a mounted output directory. Rendered through the API
 * (`--url`, the debug endpoint's build context) the directory is byte for byte the same.
 *
 * Needs the engine and localhost/amun-test/debian:bookworm (.ci/run makes both).
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from '../../functions/adapters/executors/spawn.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { amun } from '../support/cli.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { tempDir } from '../support/stack.js';

const LONG = 5 * 60_000;

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string): void => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = readFileSync(path).toString('base64');
    }
  };
  walk(dir);
  return out;
}

describeWithEngine('amun dockerfile --context', (engine) => {
  const dir = tempDir('amun-dockerfile-context-');
  const image = `localhost/amun-test/context-${process.pid}:1`;
  const spec = {
    base: BASE_IMAGE,
    files: [
      { path: 'data/input.txt', content: 'from a relative path' },
      { path: '/etc/amun-test.conf', content: 'answer = 42\n' },
    ],
    environment: [{ name: 'GREETING', value: 'hi "there" $HOME' }],
    script: ['import json, os', "print(json.dumps({'input': open('data/input.txt').read(), 'conf': open('/etc/amun-test.conf').read(), 'greeting': os.environ['GREETING'], 'cwd': os.getcwd()}))"].join('\n'),
  };
  const specPath = join(dir.path, 'spec.json');
  let stack: LocalStack | undefined;

  beforeAll(() => writeFileSync(specPath, JSON.stringify(spec)));
  afterAll(async () => {
    await stack?.stop();
    await run(engine.engine, [...engine.flags, 'rmi', '-f', image]).catch(() => undefined);
    dir.remove();
  }, LONG);

  it(
    'writes a directory the engine builds as it is; the image runs the script with its files and environment',
    async () => {
      const context = join(dir.path, 'local');
      const written = await amun(['dockerfile', specPath, '--context', context], { env: { AMUN_DATA_DIR: join(dir.path, 'data') } });
      expect(written.code).toBe(0);
      expect(readFileSync(join(context, 'Dockerfile'), 'utf8')).toBe(written.stdout);

      const built = await run(engine.engine, [...engine.flags, 'build', '--network', 'none', '-q', '-t', image, context]);
      expect({ code: built.code, stderr: built.code === 0 ? '' : built.stderr }).toEqual({ code: 0, stderr: '' });

      const output = join(dir.path, 'output');
      mkdirSync(output);
      chmodSync(output, 0o777);
      const ran = await run(engine.engine, [...engine.flags, 'run', '--rm', '--network', 'none', '-v', `${output}:/home/amun/output`, image]);
      expect(ran.code).toBe(0);
      const result = JSON.parse(readFileSync(join(output, 'result'), 'utf8')) as Record<string, any>;
      expect(result).toMatchObject({
        exit_code: 0,
        stdout: { input: 'from a relative path', conf: 'answer = 42\n', greeting: 'hi "there" $HOME', cwd: '/home/amun' },
        start_datetime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/),
        end_datetime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/),
      });
      expect(result.end_datetime >= result.start_datetime).toBe(true);
    },
    LONG,
  );

  it('writes the same directory from the API (--url): the debug endpoint answers the build context', async () => {
    stack = await startLocalStack({ dataDir: join(dir.path, 'stack'), port: 0, executor: 'process', waitTimeSeconds: 1 });
    const remote = join(dir.path, 'remote');
    const written = await amun(['--url', stack.apiUrl, 'dockerfile', specPath, '--context', remote]);
    expect({ code: written.code, stderr: written.code === 0 ? '' : written.stderr }).toEqual({ code: 0, stderr: '' });
    expect(tree(remote)).toEqual(tree(join(dir.path, 'local')));
  });
});
