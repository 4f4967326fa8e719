/**
 * Answers in the shape the original's OpenAPI description declares, for the clients generated from
 * it (the `amun` package on PyPI: its models refuse anything else).
 *
 * The original service itself answered two endpoints differently from its description, and those
 * clients failed on them: a run's log was the log's text where the description declares the run's
 * result document, and a run that never ran had no result (404). Other callers get the original
 * service's answers; a client generated from the description (User-Agent `OpenAPI-Generator/…` or
 * `Swagger-Codegen/…`, as every generator sends by default) gets the described ones:
 * - job log: `log` is the run's result document (the fields the description lists, and ours);
 * - job result and job log of a run that never ran (no exit code, no hardware facts: Amun recorded
 *   why it could not run it): 404 naming the reason, as the original answered for a missing result.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { NotFoundError } from '../core/errors.js';

const GENERATED_CLIENT = /^(OpenAPI-Generator|Swagger-Codegen)\//;

export function fromGeneratedClient(event: Pick<APIGatewayProxyEventV2, 'headers'>): boolean {
  const headers = event.headers ?? {};
  const agent = Object.entries(headers).find(([name]) => name.toLowerCase() === 'user-agent')?.[1];
  return typeof agent === 'string' && GENERATED_CLIENT.test(agent);
}

/** The described result: a run that never ran has none (the description requires exit_code and hwinfo). */
export function describedResult(result: unknown, item: number): unknown {
  const value = (result ?? {}) as { exit_code?: unknown; hwinfo?: unknown; reason?: unknown; message?: unknown };
  if (typeof value.exit_code !== 'number' || value.hwinfo === null || typeof value.hwinfo !== 'object') {
    const why = [value.reason, value.message].filter((s): s is string => typeof s === 'string' && s !== '').join(': ');
    throw new NotFoundError(`item ${item} did not run${why ? ` (${why})` : ''}; its result without a run is answered to other clients`);
  }
  return result;
}
