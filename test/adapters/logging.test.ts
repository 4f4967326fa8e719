/**
 * Log lines name the inspection they are about, also when handlers of one process run at once:
 * two schedule invocations interleave, the one that started first finishing last, and every line
 * each writes carries its own inspection id.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import { Layout } from '../../functions/core/layout.js';
import { makeLogger } from '../../functions/logger.js';
import { makeScheduleHandler } from '../../functions/schedule/handler.js';

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'events', 's3', 'build-status-created.json'), 'utf8')) as SQSEvent;
const context = { awsRequestId: 'r', functionName: 'schedule', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** The fixture's notification, for another inspection's build/status. */
function eventFor(id: string): SQSEvent {
  const event = structuredClone(fixture);
  for (const record of event.Records) record.body = record.body.replaceAll('inspection-fixture-0a1b2c3d', id);
  return event;
}

describe('log keys per invocation', () => {
  const lines: Array<Record<string, unknown>> = [];
  let restore: () => void;
  const level = process.env.AMUN_LOG_LEVEL;

  beforeAll(() => {
    process.env.AMUN_LOG_LEVEL = 'DEBUG';
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not a log line */
        }
      }
      void rest;
      return true;
    }) as typeof process.stdout.write;
    restore = () => {
      process.stdout.write = write;
    };
  });
  afterAll(() => {
    restore();
    if (level === undefined) delete process.env.AMUN_LOG_LEVEL;
    else process.env.AMUN_LOG_LEVEL = level;
  });

  it('every line of two interleaved invocations carries its own inspection id', async () => {
    // Loggers read the level when they are made: these are made after beforeAll set it.
    const domain = makeLogger('schedule');
    const slow = 'inspection-slow-00000001';
    const fast = 'inspection-fast-00000002';
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    const handler = makeScheduleHandler({
      layout: new Layout('inspections'),
      pipeline: {
        schedule: async (id: string) => {
          domain.info('scheduling starts');
          if (id === slow) await slowGate;
          domain.info('scheduling ends');
          return 'done';
        },
      } as never,
    });
    const first = handler(eventFor(slow), context);
    await new Promise((r) => setTimeout(r, 20));
    await handler(eventFor(fast), context);
    releaseSlow();
    await first;
    const ours = lines.filter((l) => l.stage === 'schedule');
    // The stage's own summary line names the object's key: its id must match the key's.
    for (const line of ours.filter((l) => l.message === 'scheduled')) expect(String(line.key)).toContain(String(line.inspection_id));
    // In the order written: slow starts, fast starts, fast ends, fast's summary line, slow ends, slow's summary line.
    expect(ours.map((l) => [l.message, l.inspection_id])).toEqual([
      ['scheduling starts', slow],
      ['scheduling starts', fast],
      ['scheduling ends', fast],
      ['scheduled', fast],
      ['scheduling ends', slow],
      ['scheduled', slow],
    ]);
    // And nothing stays behind for lines written outside an invocation.
    domain.info('between invocations');
    expect(lines.at(-1)).toMatchObject({ message: 'between invocations' });
    expect(lines.at(-1)).not.toHaveProperty('inspection_id');
  });
});
