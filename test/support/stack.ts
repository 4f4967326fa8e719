/** Test helpers around the real local stack: temp data dirs, HTTP calls, store snapshots, queue reads. */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { makeSqsClient } from '../../functions/adapters/clients.js';
import type { LocalStack } from '../../local/stack.js';

export function tempDir(prefix = 'amun-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function api(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

/**
 * A request sent exactly as written: the path as given (fetch would resolve `..` and `%2e%2e`) and
 * any header, Host included (fetch would not let a test set it).
 */
export function raw(base: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every object of the bucket with its bytes, for byte-identical comparisons. */
export async function snapshot(stack: Pick<LocalStack, 'app'>, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await stack.app.store.list(prefix, token ? { token } : {});
    for (const key of page.keys) out.set(key, (await stack.app.store.get(key))?.toString('base64') ?? '');
    token = page.nextToken;
  } while (token);
  return out;
}

/** Drains a queue: every message body currently there, deleted as read. */
export async function drain(stack: Pick<LocalStack, 'storageEndpoint'>, queueUrl: string, waitSeconds = 1): Promise<unknown[]> {
  const sqs = makeSqsClient({ region: 'us-east-1', endpoint: stack.storageEndpoint });
  const bodies: unknown[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) return bodies;
    for (const m of messages) {
      bodies.push(JSON.parse(m.Body ?? 'null'));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}
