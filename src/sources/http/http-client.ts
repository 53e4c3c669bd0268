import type { HttpSourcePlan } from '../../config/plan.js';
import { RefineryError } from '../../errors.js';
import type { Clock } from '../../orchestrator/clock.js';

/** One page of an API: its parsed JSON body and its headers (for the Link header). */
export interface HttpPage {
  readonly url: URL;
  readonly json: unknown;
  readonly headers: Headers;
}

/**
 * The secret an HTTP source sends, read from the environment at the start of each extraction. It is handed to
 * `fetch` as a header and nowhere else; every message built here passes through `redact` first.
 */
export function authSecret(source: HttpSourcePlan, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!source.auth) return undefined;
  const value = env[source.auth.valueEnv];
  if (value === undefined || value === '') {
    throw new RefineryError('config', {
      code: 'connection_env_missing',
      path: `sources.${source.name}.auth.valueEnv`,
      message: `sources.${source.name} reads its ${source.auth.header} header from the environment variable ${source.auth.valueEnv}, which is not set.`,
      hint: `Set it, e.g. export ${source.auth.valueEnv}=<token>`,
    });
  }
  return value;
}

/** A URL for messages and lineage: no user or password, query parameters readable. */
export function describeUrl(url: URL): string {
  const search = [...url.searchParams].map(([k, v]) => `${k}=${v}`).join('&');
  return `${url.protocol}//${url.host}${url.pathname}${search ? `?${search}` : ''}`;
}

interface Failure {
  readonly reason: string;
  readonly retryAfterMs?: number;
}

class RequestTimeout extends Error {}

/**
 * GETs JSON pages for one HTTP source: at most `rateLimit.perSecond` requests a second, a timeout per request, and
 * retries with exponential backoff on what may pass — 429 (honouring Retry-After), 408, 5xx, a timeout, a refused or
 * dropped connection. Any other 4xx fails at once with the status, the URL and the body's message. Every wait goes
 * through the run's clock, so tests can run on virtual time.
 */
export class HttpClient {
  private lastRequestAt: number | undefined;
  private readonly origin: string;

  constructor(
    private readonly source: HttpSourcePlan,
    private readonly clock: Clock,
    private readonly signal: AbortSignal,
    private readonly secret: string | undefined,
  ) {
    this.origin = new URL(source.url).origin;
  }

  /** Masks the secret (with and without its prefix) wherever it might appear. */
  redact(text: string): string {
    if (!this.secret) return text;
    return text.split(this.secret).join('***');
  }

  async get(url: URL): Promise<HttpPage> {
    if (url.origin !== this.origin) {
      throw new RefineryError('pipeline', {
        code: 'http_foreign_origin',
        step: `bronze.${this.source.name}`,
        message: `The API pointed to a page on another origin (${url.origin}, not ${this.origin}); Refinery does not follow it${this.secret ? ', so the token is never sent there' : ''}.`,
        hint: `Check the pagination of sources.${this.source.name}, or set url to that origin.`,
      });
    }
    const { attempts, delayMs, maxDelayMs } = this.source.request;
    for (let attempt = 1; ; attempt++) {
      await this.throttle();
      const failure = await this.attempt(url);
      if ('json' in failure) return failure;
      if (attempt >= attempts) {
        throw new RefineryError('pipeline', {
          code: 'source_unreachable',
          step: `bronze.${this.source.name}`,
          message: `GET ${this.redact(describeUrl(url))} failed ${attempts} time${attempts === 1 ? '' : 's'}; last: ${failure.reason}.`,
          hint: `The API may be down or limiting requests: try again later, or raise sources.${this.source.name}.request.attempts.`,
        });
      }
      const backoff = Math.min(maxDelayMs, delayMs * 2 ** (attempt - 1));
      await this.clock.sleep(Math.max(backoff, failure.retryAfterMs ?? 0), this.signal);
    }
  }

  /** One request: the page, or why it failed in a way worth retrying (anything else throws). */
  private async attempt(url: URL): Promise<HttpPage | Failure> {
    const timer = new AbortController();
    const request = new AbortController();
    const abortRequest = (): void => request.abort(this.signal.reason);
    this.signal.addEventListener('abort', abortRequest, { once: true });
    // The timeout is a sleep on the run's clock that aborts the request unless the request finishes first.
    this.clock.sleep(this.source.request.timeoutMs, timer.signal).then(
      () => request.abort(new RequestTimeout()),
      () => undefined,
    );
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.source.auth && this.secret !== undefined) headers[this.source.auth.header] = `${this.source.auth.prefix}${this.secret}`;
      const response = await fetch(url, { headers, signal: request.signal, redirect: 'manual' });
      const text = await response.text();
      if (response.status >= 200 && response.status < 300) return { url, json: this.parse(url, text), headers: response.headers };
      if (response.status === 429 || response.status === 408 || response.status >= 500) {
        const retryAfterMs = this.retryAfter(response.headers.get('retry-after'));
        return { reason: `${response.status} ${response.statusText}${bodyMessage(text) ? `: ${this.redact(bodyMessage(text) as string)}` : ''}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
      }
      throw this.clientError(url, response, text);
    } catch (error) {
      if (error instanceof RefineryError) throw error;
      if (this.signal.aborted) throw this.signal.reason;
      if (request.signal.reason instanceof RequestTimeout) return { reason: `no answer within ${this.source.request.timeoutMs} ms` };
      // fetch reports a refused, reset or dropped connection as "fetch failed" / "terminated" with the cause beneath.
      return { reason: this.redact(networkReason(error)) };
    } finally {
      timer.abort();
      this.signal.removeEventListener('abort', abortRequest);
    }
  }

  private parse(url: URL, text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new RefineryError('pipeline', {
        code: 'http_invalid_json',
        step: `bronze.${this.source.name}`,
        message: `GET ${this.redact(describeUrl(url))} answered with a body that is not JSON (${error instanceof Error ? error.message : String(error)}): ${this.redact(text.slice(0, 120))}`,
        hint: 'Check that the URL is the API endpoint (not a web page) and that it answers with JSON.',
      });
    }
  }

  private clientError(url: URL, response: Response, text: string): RefineryError {
    const message = bodyMessage(text);
    const status = response.status;
    const where = `sources.${this.source.name}`;
    const hint =
      status === 401 || status === 403
        ? this.source.auth
          ? `Check the token in $${this.source.auth.valueEnv} (sent as the ${this.source.auth.header} header) and its permissions.`
          : `The API wants credentials: add auth: { valueEnv: '<ENV_VAR>', prefix: 'Bearer ' } to ${where}.`
        : status === 404
          ? `Check ${where}.url and its params.`
          : status >= 300 && status < 400
            ? `The API redirects to ${response.headers.get('location') ?? 'another address'}: set ${where}.url to where it points.`
            : `Check ${where}.url, params and pagination.`;
    return new RefineryError('pipeline', {
      code: 'http_client_error',
      step: `bronze.${this.source.name}`,
      value: status,
      message: `GET ${this.redact(describeUrl(url))} answered ${status}${response.statusText ? ` ${response.statusText}` : ''}${message ? `: ${this.redact(message)}` : ''}. Retrying will not help.`,
      hint,
    });
  }

  /** Retry-After in seconds or as an HTTP date, as milliseconds from now (on the run's clock). */
  private retryAfter(header: string | null): number | undefined {
    if (!header) return undefined;
    if (/^\s*\d+(\.\d+)?\s*$/.test(header)) return Number(header) * 1000;
    const at = Date.parse(header);
    return Number.isNaN(at) ? undefined : Math.max(0, at - this.clock.now().getTime());
  }

  private async throttle(): Promise<void> {
    const perSecond = this.source.rateLimit?.perSecond;
    if (perSecond) {
      const gap = 1000 / perSecond;
      const wait = this.lastRequestAt === undefined ? 0 : this.lastRequestAt + gap - this.clock.now().getTime();
      if (wait > 0) await this.clock.sleep(wait, this.signal);
    }
    this.lastRequestAt = this.clock.now().getTime();
  }
}

/** What an error body says, in one line: the usual JSON fields (message, error, detail, ...) or the start of the text. */
export function bodyMessage(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  try {
    const body = JSON.parse(trimmed) as unknown;
    const pick = (value: unknown): string | undefined => {
      if (typeof value === 'string' && value.trim() !== '') return value.trim();
      if (value !== null && typeof value === 'object') {
        const o = value as Record<string, unknown>;
        for (const key of ['message', 'error_description', 'detail', 'title', 'error', 'errors', 'msg', 'description']) {
          const found = Array.isArray(o[key]) ? pick((o[key] as unknown[])[0]) : pick(o[key]);
          if (found) return found;
        }
      }
      return undefined;
    };
    const found = pick(body);
    if (found) return found.slice(0, 300);
  } catch {
    // Not JSON: the text itself.
  }
  return trimmed.replace(/\s+/g, ' ').slice(0, 300);
}

function networkReason(error: unknown): string {
  const chain: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 4; depth++) {
    const e = current as { code?: unknown; message?: unknown; cause?: unknown };
    const code = typeof e.code === 'string' ? e.code : undefined;
    const message = typeof e.message === 'string' ? e.message : String(current);
    chain.push(code && !message.includes(code) ? `${message} (${code})` : message);
    current = e.cause;
  }
  return `the connection failed: ${chain.filter((m) => m !== 'fetch failed').join(': ') || 'fetch failed'}`;
}
