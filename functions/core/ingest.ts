/**
 * A spec file dropped under `specs/`: a valid one is submitted and the drop is marked consumed
 * (`<name>.consumed.json`, naming the inspection); an invalid one gets `<name>.error.json` listing
 * every problem. Our own marker files also arrive here (S3 filters cannot exclude them) and are
 * ignored. The inspection id is derived from the drop event, so a redelivery changes nothing.
 */
import { SpecificationError, type Problem } from './errors.js';
import type { InspectionService } from './inspections.js';
import { decodeUtf8, stableJson } from './json.js';
import type { ObjectStore } from './ports.js';

export interface DroppedSpec {
  key: string;
  eTag: string;
  sequencer: string;
  eventTime: string;
}

export type IngestOutcome =
  | { kind: 'ignored'; why: string }
  | { kind: 'submitted'; inspectionId: string; created: boolean }
  | { kind: 'rejected'; problems: Problem[] };

const MARKER = /\.(consumed|error)\.json$/;

export function markerKeys(key: string): { consumed: string; error: string } {
  const base = key.replace(/\.json$/, '');
  return { consumed: `${base}.consumed.json`, error: `${base}.error.json` };
}

export async function ingestDrop(drop: DroppedSpec, deps: { store: ObjectStore; inspections: InspectionService }): Promise<IngestOutcome> {
  const { store, inspections } = deps;
  if (MARKER.test(drop.key)) return { kind: 'ignored', why: 'a marker written by ingest' };
  const markers = markerKeys(drop.key);
  const seed = `${drop.key}\0${drop.eTag}\0${drop.sequencer}`;
  const previous = await store.get(markers.consumed);
  if (previous) {
    const done = JSON.parse(previous.toString('utf8')) as { seed?: string; inspection_id?: string };
    if (done.seed === seed && done.inspection_id) return { kind: 'submitted', inspectionId: done.inspection_id, created: false };
  }
  const body = await store.get(drop.key);
  if (!body) return { kind: 'ignored', why: 'the object is gone' };
  let input: unknown;
  try {
    input = JSON.parse(decodeUtf8(body, '', 'the dropped specification'));
  } catch (error) {
    if (error instanceof SpecificationError) return reject(store, drop, markers.error, error.problems);
    return reject(store, drop, markers.error, [{ path: '', message: `not JSON: ${(error as Error).message}` }]);
  }
  try {
    const submitted = await inspections.submit(input, { idSeed: seed, createdAt: new Date(drop.eventTime) });
    await store.put(markers.consumed, stableJson({ key: drop.key, inspection_id: submitted.inspectionId, seed }), 'application/json');
    return { kind: 'submitted', inspectionId: submitted.inspectionId, created: submitted.created };
  } catch (error) {
    if (error instanceof SpecificationError) return reject(store, drop, markers.error, error.problems);
    throw error;
  }
}

async function reject(store: ObjectStore, drop: DroppedSpec, errorKey: string, problems: Problem[]): Promise<IngestOutcome> {
  await store.put(errorKey, stableJson({ error: 'invalid specification', key: drop.key, problems }), 'application/json');
  return { kind: 'rejected', problems };
}
