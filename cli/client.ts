/**
 * A small client of the v1 API (schemas/api.json), and the CLI's only way to the network: every
 * request goes through call(), which adds what the Authorizer (auth.ts) gives it: a Bearer token,
 * a SigV4 signature, or nothing. Answers other than 2xx become CliErrors: 400 → exit 2 with the
 * API's problems, anything else → exit 1 (401 and 403 say what the request carried); a failed
 * connection names the URL.
 */
import type {
  CompareAnswer,
  DockerfileAnswer,
  HistoryAnswer,
  MetricsAnswer,
  ListingAnswer,
  LogAnswer,
  ResultAnswer,
  SpecificationAnswer,
  StatusAnswer,
  SubmitAnswer,
} from '../functions/core/generated/types.js';
import { NO_AUTH, type Authorizer } from './auth.js';
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE, type Problem } from './errors.js';

export type { CompareAnswer, HistoryAnswer, MetricsAnswer };
export type { DockerfileAnswer, ListingAnswer, LogAnswer, ResultAnswer, SpecificationAnswer, StatusAnswer, SubmitAnswer };
export type InspectionStatus = StatusAnswer['status'];
export type RunReport = ResultAnswer['result'];

const API_PATH = '/api/v1';

/** `http://host:8080`, `http://host:8080/` and `http://host:8080/api/v1` all name the same API. */
export function normalizeApiUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`not a URL: ${JSON.stringify(url)}`, EXIT_BAD_INPUT);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`not an http(s) URL: ${url}`, EXIT_BAD_INPUT);
  const base = `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
  return base.endsWith(API_PATH) ? base : `${base}${API_PATH}`;
}

/** A 404 from the API: callers that poll treat "not there yet" differently from other failures. */
export class NotFound extends CliError {}

export class ApiClient {
  readonly baseUrl: string;

  constructor(
    url: string,
    readonly auth: Authorizer = NO_AUTH,
  ) {
    this.baseUrl = normalizeApiUrl(url);
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // The bytes sent are the bytes signed.
    const payload = body !== undefined ? JSON.stringify(body) : undefined;
    Object.assign(headers, await this.auth.headers({ method, url: new URL(url), headers, body: payload }));
    let res: Response;
    try {
      res = await fetch(url, { method, headers, ...(payload !== undefined ? { body: payload } : {}), signal: AbortSignal.timeout(60_000) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(`cannot reach ${method} ${url}: ${why}`, EXIT_FAILURE);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.ok) {
      if (parsed === undefined) throw new CliError(`${method} ${url} answered ${res.status} without a JSON body`, EXIT_FAILURE);
      return parsed as T;
    }
    // Amun answers {error}; API Gateway's own refusals are {message}.
    const answer = (parsed ?? {}) as { error?: unknown; message?: unknown; problems?: unknown };
    const message = typeof answer.error === 'string' ? answer.error : typeof answer.message === 'string' ? answer.message : text.trim().slice(0, 200) || res.statusText;
    const problems = Array.isArray(answer.problems) ? (answer.problems as Problem[]).filter((p) => p && typeof p.path === 'string' && typeof p.message === 'string') : [];
    if (res.status === 404) throw new NotFound(message, EXIT_FAILURE, problems);
    if (res.status === 400) throw new CliError(message, EXIT_BAD_INPUT, problems);
    const hint = res.status === 401 || res.status === 403 ? ` (${this.auth.described})` : '';
    throw new CliError(`${method} ${url} answered ${res.status}: ${message}${hint}`, EXIT_FAILURE, problems);
  }

  submit(spec: unknown): Promise<SubmitAnswer> {
    return this.call('POST', '/inspect', spec);
  }

  dockerfile(spec: unknown): Promise<DockerfileAnswer> {
    return this.call('POST', '/_debug/generate-dockerfile', spec);
  }

  status(id: string): Promise<StatusAnswer> {
    return this.call('GET', `/inspect/${encodeURIComponent(id)}/status`);
  }

  specification(id: string): Promise<SpecificationAnswer> {
    return this.call('GET', `/inspect/${encodeURIComponent(id)}/specification`);
  }

  buildLog(id: string): Promise<LogAnswer> {
    return this.call('GET', `/inspect/${encodeURIComponent(id)}/build/log`);
  }

  itemLog(id: string, item: number): Promise<LogAnswer> {
    return this.call('GET', `/inspect/${encodeURIComponent(id)}/job/${item}/log`);
  }

  result(id: string, item: number): Promise<ResultAnswer> {
    return this.call('GET', `/inspect/${encodeURIComponent(id)}/job/${item}/result`);
  }

  list(page: number, limit: number, details = false): Promise<ListingAnswer> {
    return this.call('GET', `/inspect?page=${page}&limit=${limit}${details ? '&details=true' : ''}`);
  }

  metrics(id: string): Promise<MetricsAnswer> {
    return this.call('GET', `/inspect/${encodeURIComponent(id)}/metrics`);
  }

  compare(ids: ReadonlyArray<string>): Promise<CompareAnswer> {
    return this.call('GET', `/compare?ids=${ids.map(encodeURIComponent).join(',')}`);
  }

  history(identifier: string, metric?: string): Promise<HistoryAnswer> {
    return this.call('GET', `/identifiers/${encodeURIComponent(identifier)}/history${metric ? `?metric=${encodeURIComponent(metric)}` : ''}`);
  }

  /** The text of a log, or undefined while it does not exist yet. */
  async maybeLog(id: string, target: 'build' | number): Promise<string | undefined> {
    try {
      const answer = target === 'build' ? await this.buildLog(id) : await this.itemLog(id, target);
      return answer.log ?? undefined;
    } catch (error) {
      if (error instanceof NotFound) return undefined;
      throw error;
    }
  }

  /** The run report of an item, or undefined while it does not exist yet. */
  async maybeResult(id: string, item: number): Promise<RunReport | undefined> {
    try {
      return (await this.result(id, item)).result;
    } catch (error) {
      if (error instanceof NotFound) return undefined;
      throw error;
    }
  }
}
