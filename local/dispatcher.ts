/**
 * The local event source mapping: for each queue- or s3-triggered route that runs locally and has a
 * handler, long-poll its queue with the real SQS client and invoke the handler with a genuine Lambda
 * SQS event, the way Lambda's SQS poller does:
 *   - up to `batchSize` records per invocation, at most `localConcurrency` invocations at once,
 *     one receiver per queue (a receive only while a slot is free); a route's batching window
 *     gathers records while they stream in (three or more within a window), and a lone record or
 *     two go at once;
 *   - records that succeeded are deleted; those in `batchItemFailures` (all of them when the handler
 *     throws) stay and come back after the visibility timeout, until the queue's RedrivePolicy moves
 *     them to the dead-letter queue;
 *   - while an invocation runs, the visibility of its records is extended every half visibility
 *     timeout, so a long build is not redelivered mid-run.
 */
import { Agent } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { routes as routesTable, type FunctionName, type QueueName, type Route } from '../functions/routes.js';

export type SqsFunctionHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

/** What the dispatcher logs through; a Powertools Logger fits. */
export interface DispatcherLogger {
  debug?(message: string, ...extra: Array<Record<string, unknown>>): void;
  info(message: string, ...extra: Array<Record<string, unknown>>): void;
  warn(message: string, ...extra: Array<Record<string, unknown>>): void;
  error(message: string, ...extra: Array<Record<string, unknown>>): void;
}

export interface DispatcherOptions {
  endpoint: string;
  region: string;
  queueUrls: Partial<Record<QueueName, string>>;
  handlers: Partial<Record<FunctionName, SqsFunctionHandler>>;
  /** Defaults to the routes table. Only routes that run locally with a queue or s3 trigger are used. */
  routes?: ReadonlyArray<Route>;
  /** Long-poll wait, 0–20 seconds (default 20). */
  waitTimeSeconds?: number;
  logger?: DispatcherLogger;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface Dispatcher {
  /** Stops polling, waits for the invocations in flight to finish (and their deletes), then resolves. */
  stop(): Promise<void>;
  /** Resolves once every polled queue is empty (visible, in flight and delayed) and no invocation runs. */
  idle(options?: { timeoutMs?: number; pollMs?: number }): Promise<void>;
  /** Invocations running now. */
  readonly inFlight: number;
  /** The routes being polled, with their queues. */
  readonly polling: ReadonlyArray<{ route: FunctionName; queue: QueueName; queueUrl: string }>;
}

const silent: DispatcherLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const ACCOUNT_ID = '000000000000';

interface Poller {
  route: Route;
  queue: QueueName;
  queueUrl: string;
  /** Read from the queue (GetQueueAttributes) before the first receive. */
  queueArn: string;
  visibilityTimeoutSeconds: number;
  attributes: Promise<void> | undefined;
  batchSize: number;
  /** The trigger's batching window; 0: none. */
  batchWindowMs: number;
  /** When each message of the last batching window arrived (ms since the epoch), oldest first. */
  arrivals: number[];
  handler: SqsFunctionHandler;
}

/** Messages within one batching window that make a stream: the window then gathers the rest. */
const STREAMING = 3;

/** Notes `count` messages arriving now; answers how many arrived within the last window. */
function arrived(p: Poller, count: number): number {
  const now = Date.now();
  for (let i = 0; i < count; i++) p.arrivals.push(now);
  const since = now - p.batchWindowMs;
  let old = 0;
  while (old < p.arrivals.length && p.arrivals[old]! < since) old++;
  p.arrivals.splice(0, old);
  // Enough to tell a stream; older ones are never needed.
  if (p.arrivals.length > 2 * STREAMING) p.arrivals.splice(0, p.arrivals.length - 2 * STREAMING);
  return p.arrivals.length;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** SDK message attributes → the Lambda event's shape. */
export function lambdaMessageAttributes(attrs: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, a] of Object.entries(attrs ?? {})) {
    out[name] = {
      ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
      ...(a.BinaryValue !== undefined ? { binaryValue: Buffer.from(a.BinaryValue).toString('base64') } : {}),
      stringListValues: a.StringListValues ?? [],
      binaryListValues: (a.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
      dataType: a.DataType ?? 'String',
    };
  }
  return out;
}

/** One SQS message as a Lambda SQS event record. */
export function lambdaRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const a = message.Attributes ?? {};
  const attributes: SQSRecord['attributes'] = {
    ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
    SentTimestamp: a.SentTimestamp ?? String(Date.now()),
    SenderId: a.SenderId ?? ACCOUNT_ID,
    ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? a.SentTimestamp ?? String(Date.now()),
  };
  for (const k of ['AWSTraceHeader', 'SequenceNumber', 'MessageGroupId', 'MessageDeduplicationId'] as const) {
    const v = a[k];
    if (v !== undefined) attributes[k] = v;
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes,
    messageAttributes: lambdaMessageAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

function lambdaContext(route: Route, region: string, startedAt: number): Context {
  const functionName = `amun-${route.name}`;
  const deadline = startedAt + route.timeoutSeconds * 1000;
  const day = new Date(startedAt).toISOString().slice(0, 10).replace(/-/g, '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: String(route.memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Which records failed, the way Lambda reads a partial batch response. */
export type InvocationOutcome = { error: unknown } | { response: unknown };

export function failedMessageIds(records: ReadonlyArray<SQSRecord>, outcome: InvocationOutcome): Set<string> {
  const all = new Set(records.map((r) => r.messageId));
  if ('error' in outcome) return all;
  const response = outcome.response;
  if (response === undefined || response === null) return new Set();
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return all;
  const failed = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    // Lambda fails the whole batch on an empty or unknown identifier.
    if (typeof id !== 'string' || !all.has(id)) return all;
    failed.add(id);
  }
  return failed;
}

/**
 * Starts polling at once (queue attributes are read by the pollers themselves); a route with a
 * handler but no queue URL is a configuration error and throws here.
 */
export function startDispatcher(options: DispatcherOptions): Dispatcher {
  const log = options.logger ?? silent;
  const waitTimeSeconds = Math.max(0, Math.min(20, options.waitTimeSeconds ?? 20));
  const routes = (options.routes ?? routesTable).filter(
    (r) => r.runsOn.includes('local') && (r.trigger.kind === 'queue' || r.trigger.kind === 's3') && options.handlers[r.name] !== undefined,
  );

  const pollers: Poller[] = [];
  for (const route of routes) {
    const trigger = route.trigger;
    if (trigger.kind !== 'queue' && trigger.kind !== 's3') continue;
    const queueUrl = options.queueUrls[trigger.queue];
    if (!queueUrl) throw new Error(`dispatcher: no queue URL for ${trigger.queue} (route ${route.name})`);
    pollers.push({
      route,
      queue: trigger.queue,
      queueUrl,
      queueArn: `arn:aws:sqs:${options.region}:${ACCOUNT_ID}:${queueUrl.split('/').pop() ?? trigger.queue}`,
      visibilityTimeoutSeconds: 30,
      attributes: undefined,
      batchSize: Math.max(1, Math.min(10, trigger.batchSize)),
      batchWindowMs: Math.max(0, (trigger.batchWindowSeconds ?? 0) * 1000),
      arrivals: [],
      handler: options.handlers[route.name] as SqsFunctionHandler,
    });
  }

  const slots = pollers.reduce((n, p) => n + Math.max(1, p.route.localConcurrency), 0);
  const agent = new Agent({ keepAlive: true, maxSockets: slots + 32 });
  const client = new SQSClient({
    region: options.region,
    endpoint: options.endpoint,
    credentials: options.credentials ?? { accessKeyId: 'amun-local', secretAccessKey: 'amun-local' },
    requestHandler: { httpAgent: agent },
  });

  const abort = new AbortController();
  let stopping = false;
  let inFlight = 0;

  /** Queue ARN and visibility timeout, once per poller (shared by its workers). */
  function readAttributes(p: Poller): Promise<void> {
    p.attributes ??= client
      .send(new GetQueueAttributesCommand({ QueueUrl: p.queueUrl, AttributeNames: ['QueueArn', 'VisibilityTimeout'] }), {
        abortSignal: abort.signal,
      })
      .then(({ Attributes: a = {} }) => {
        if (a.QueueArn) p.queueArn = a.QueueArn;
        if (a.VisibilityTimeout !== undefined) p.visibilityTimeoutSeconds = Number(a.VisibilityTimeout);
      })
      .catch((err: unknown) => {
        p.attributes = undefined;
        throw err;
      });
    return p.attributes;
  }

  async function invoke(p: Poller, messages: Message[]): Promise<void> {
    const records = messages.map((m) => lambdaRecord(m, p.queueArn, options.region));
    const started = Date.now();
    const context = lambdaContext(p.route, options.region, started);

    // Heartbeat: keep the records invisible while the handler runs.
    const vt = p.visibilityTimeoutSeconds;
    let heartbeat: NodeJS.Timeout | undefined;
    if (vt > 0) {
      heartbeat = setInterval(() => {
        const entries = records.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle, VisibilityTimeout: vt }));
        client
          .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: p.queueUrl, Entries: entries }))
          .then((r) => {
            if (r.Failed?.length) log.warn('dispatcher: visibility extension failed for some records', { route: p.route.name, failed: r.Failed });
          })
          .catch((err: unknown) => log.warn('dispatcher: visibility extension failed', { route: p.route.name, error: String(err) }));
      }, Math.max(100, (vt * 1000) / 2));
    }

    let outcome: InvocationOutcome;
    try {
      outcome = { response: await p.handler({ Records: records }, context) };
    } catch (error) {
      outcome = { error };
    } finally {
      if (heartbeat) clearInterval(heartbeat);
    }
    const elapsed = Date.now() - started;
    if (elapsed > p.route.timeoutSeconds * 1000) {
      log.warn('dispatcher: invocation ran past the route timeout (Lambda would have stopped it)', {
        route: p.route.name,
        elapsedMs: elapsed,
        timeoutSeconds: p.route.timeoutSeconds,
      });
    }

    const failed = failedMessageIds(records, outcome);
    if ('error' in outcome) {
      log.error('dispatcher: handler failed; the batch will be retried', {
        route: p.route.name,
        records: records.length,
        error: outcome.error instanceof Error ? (outcome.error.stack ?? outcome.error.message) : String(outcome.error),
      });
    } else if (failed.size > 0) {
      log.warn('dispatcher: partial batch failure', { route: p.route.name, failed: [...failed], records: records.length });
    }
    const succeeded = records.filter((r) => !failed.has(r.messageId));
    if (succeeded.length > 0) await deleteRecords(p, succeeded);
    log.debug?.('dispatcher: invocation done', { route: p.route.name, records: records.length, failed: failed.size, ms: elapsed });
  }

  async function deleteRecords(p: Poller, records: SQSRecord[]): Promise<void> {
    let entries = records.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle }));
    let lastError: unknown;
    for (let attempt = 1; attempt <= 3 && entries.length > 0; attempt++) {
      if (attempt > 1) await sleep(100 * attempt);
      try {
        const result = await client.send(new DeleteMessageBatchCommand({ QueueUrl: p.queueUrl, Entries: entries }));
        for (const f of result.Failed ?? []) if (f.SenderFault) log.warn('dispatcher: delete rejected', { route: p.route.name, failure: f });
        const retry = new Set((result.Failed ?? []).filter((f) => !f.SenderFault).map((f) => f.Id));
        entries = entries.filter((e) => retry.has(e.Id));
      } catch (err) {
        lastError = err;
      }
    }
    if (entries.length > 0) {
      log.error('dispatcher: could not delete processed records; they will be delivered again', {
        route: p.route.name,
        records: entries.length,
        error: String(lastError),
      });
    }
  }

  /**
   * One receiver per route, as Lambda's pollers are apart from its concurrency: it receives only
   * while the route has a free slot (`localConcurrency`) and hands the batch to an invocation it
   * does not wait for. One long poll per queue at a time: several waiting on one queue are all
   * woken by each message (the embedded server wakes every waiter), and all but one come back
   * empty, costing a round trip each.
   */
  async function receiver(p: Poller): Promise<void> {
    const slots = Math.max(1, p.route.localConcurrency);
    const running = new Set<Promise<void>>();
    let slotFreed: (() => void) | undefined;
    let backoff = 250;
    while (!stopping) {
      if (running.size >= slots) {
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            abort.signal.removeEventListener('abort', wake);
            resolve();
          };
          slotFreed = wake;
          abort.signal.addEventListener('abort', wake, { once: true });
        });
        continue;
      }
      let messages: Message[];
      try {
        await readAttributes(p);
        const result = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: p.queueUrl,
            MaxNumberOfMessages: p.batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        );
        messages = result.Messages ?? [];
        backoff = 250;
      } catch (err) {
        if (stopping) break;
        log.warn('dispatcher: receive failed; retrying', { route: p.route.name, error: String(err), retryInMs: backoff });
        await sleep(backoff, abort.signal);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      if (messages.length === 0) {
        // A zero wait would spin; pause briefly between empty short polls.
        if (waitTimeSeconds === 0) await sleep(100, abort.signal);
        continue;
      }
      // The batching window, while messages stream in (STREAMING of them within the last window,
      // these included): what arrives within it joins the batch, in one more receive. Fewer go at
      // once, so a lone event (the one result of a small inspection) waits for nobody; Lambda's
      // window, which the deployed stack uses, always waits.
      const streaming = arrived(p, messages.length) >= STREAMING;
      if (messages.length < p.batchSize && p.batchWindowMs > 0 && streaming && !stopping) {
        await sleep(p.batchWindowMs, abort.signal);
        try {
          const more: { Messages?: Message[] } = stopping
            ? {}
            : await client.send(
                new ReceiveMessageCommand({ QueueUrl: p.queueUrl, MaxNumberOfMessages: p.batchSize - messages.length, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] }),
              );
          messages = [...messages, ...(more.Messages ?? [])];
          arrived(p, more.Messages?.length ?? 0);
        } catch (err) {
          log.warn('dispatcher: receive within the batching window failed; invoking with what was received', { route: p.route.name, error: String(err) });
        }
      }
      // Received means ours: run it even if stop() was called meanwhile.
      inFlight++;
      const invocation: Promise<void> = invoke(p, messages)
        .catch((err: unknown) => log.error('dispatcher: invocation bookkeeping failed', { route: p.route.name, error: String(err) }))
        .finally(() => {
          inFlight--;
          running.delete(invocation);
          const wake = slotFreed;
          slotFreed = undefined;
          wake?.();
        });
      running.add(invocation);
    }
    await Promise.allSettled([...running]);
  }

  const workers: Promise<void>[] = pollers.map((p) => receiver(p));
  log.info('dispatcher: polling', { routes: pollers.map((p) => `${p.route.name}<-${p.queue}×${p.route.localConcurrency}`) });

  let stopped: Promise<void> | undefined;
  return {
    get inFlight() {
      return inFlight;
    },
    polling: pollers.map((p) => ({ route: p.route.name, queue: p.queue, queueUrl: p.queueUrl })),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        abort.abort();
        await Promise.allSettled(workers);
        client.destroy();
        agent.destroy();
        log.info('dispatcher: stopped');
      })();
      return stopped;
    },
    async idle({ timeoutMs = 60_000, pollMs = 50 } = {}) {
      const deadline = Date.now() + timeoutMs;
      const urls = [...new Set(pollers.map((p) => p.queueUrl))];
      for (;;) {
        if (inFlight === 0) {
          const counts = await Promise.all(
            urls.map(async (url) => {
              const { Attributes: a = {} } = await client.send(
                new GetQueueAttributesCommand({
                  QueueUrl: url,
                  AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
                }),
              );
              return (
                Number(a.ApproximateNumberOfMessages ?? 0) +
                Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
                Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
              );
            }),
          );
          if (inFlight === 0 && counts.every((c) => c === 0)) return;
        }
        if (Date.now() > deadline) throw new Error(`dispatcher: not idle after ${timeoutMs} ms (${inFlight} invocations in flight)`);
        await sleep(pollMs);
      }
    },
  };
}
