/**
 * The v1 API as the page reads it: relative URLs (works behind a path prefix), the token asked for
 * once when the server answers 401 and kept in sessionStorage, errors turned into ApiError.
 */
const TOKEN_KEY = 'amun.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Shows the token form and resolves with what the user entered (set by main.ts). */
let askToken: (() => Promise<string>) | undefined;
let pendingAsk: Promise<string> | undefined;

export function onTokenNeeded(fn: () => Promise<string>): void {
  askToken = fn;
}

export function token(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(value: string | null): void {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lasts as long as the page */
  }
}

async function send(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`api/v1${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), ...(signal ? { signal } : {}), cache: 'no-store' });
}

/** A JSON answer of the v1 API; asks for the token on 401 (once for all concurrent calls) and retries. */
export async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const res = await send(method, path, body, signal);
    if (res.status === 401 && askToken && attempt < 3) {
      setToken(null);
      pendingAsk ??= askToken().finally(() => {
        pendingAsk = undefined;
      });
      setToken(await pendingAsk);
      continue;
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = parsed as { error?: string; problems?: Array<{ message: string }> } | undefined;
      const detail = e?.problems?.map((p) => p.message).join('; ');
      throw new ApiError(res.status, `${res.status}: ${e?.error ?? res.statusText}${detail ? ` (${detail})` : ''}`);
    }
    return parsed as T;
  }
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> => call<T>('GET', path, undefined, signal);
export const post = <T>(path: string, body: unknown): Promise<T> => call<T>('POST', path, body);

/** Query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
