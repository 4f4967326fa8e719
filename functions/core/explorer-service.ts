/**
 * The results explorer's reads: a listing with details and filters, an inspection's metrics,
 * comparisons, and an identifier's history. Reads through InspectionRecords; the statistics are
 * pure (explorer.ts, stats.ts).
 */
import { NotFoundError, SpecificationError } from './errors.js';
import { brief, compareInspections, history, inspectionMetrics } from './explorer.js';
import type { CompareAnswer, HistoryAnswer, ListingDetail, MetricsAnswer } from './generated/types.js';
import type { InspectionRecords } from './records.js';
import { sanitizeIdentifier } from './specification.js';
import { computeSummary, type SummaryInputs } from './summary.js';

export const MAX_COMPARED = 10;
export const MAX_HISTORY = 200;
/** Reads at once while filling a filtered page or a history. */
const READ_AHEAD = 32;

/** What every id minted for an identifier starts with (mintInspectionId). */
function idPrefix(identifier: string): string {
  const middle = sanitizeIdentifier(identifier);
  return middle ? `inspection-${middle}-` : 'inspection-';
}

export interface ListingFilter {
  identifier?: string | undefined;
  state?: string | undefined;
}

export class ResultsExplorer {
  constructor(private readonly records: InspectionRecords) {}

  /** What the listing shows of one inspection: identifier, state, runs done and failed, when. */
  async detail(id: string): Promise<ListingDetail> {
    const [spec, stored] = await Promise.all([this.records.specification(id), this.records.summary(id)]);
    const summary = stored?.summary ?? computeSummary(await this.records.outcomes(id));
    return {
      inspection_id: id,
      identifier: spec.identifier ?? null,
      created: spec['@created'] ?? null,
      state: summary.state,
      batch_size: summary.batch_size,
      items_done: summary.items_done,
      items_failed: summary.items_failed,
      finished_at: summary.finished_at ?? null,
    };
  }

  /**
   * A page of the listing that matches the filter, newest first, with details. The listing is
   * ordered by time, not by identifier or state: a filtered page is found by walking it (ids whose
   * name cannot carry the identifier are skipped without a read; the others cost two reads each).
   */
  async filtered(filter: ListingFilter, page: number, limit: number): Promise<ListingDetail[]> {
    const prefix = filter.identifier !== undefined ? idPrefix(filter.identifier) : undefined;
    const skip = (page - 1) * limit;
    const out: ListingDetail[] = [];
    let matched = 0;
    let batch: string[] = [];
    const drain = async (): Promise<boolean> => {
      const details = await Promise.all(batch.map((id) => this.detail(id).catch(() => undefined)));
      batch = [];
      for (const d of details) {
        if (!d) continue;
        if (filter.identifier !== undefined && d.identifier !== filter.identifier) continue;
        if (filter.state !== undefined && d.state !== filter.state) continue;
        if (matched++ >= skip) out.push(d);
        if (out.length >= limit) return true;
      }
      return false;
    };
    for await (const id of this.records.listedIds()) {
      if (prefix !== undefined && !id.startsWith(prefix)) continue;
      batch.push(id);
      if (batch.length >= READ_AHEAD && (await drain())) return out;
    }
    await drain();
    return out;
  }

  /** Stored once the inspection finished (one read); computed from every result before. */
  async metrics(id: string): Promise<Omit<MetricsAnswer, 'parameters'>> {
    return (await this.records.metrics(id)) ?? inspectionMetrics(await this.records.outcomes(id));
  }

  async compare(ids: ReadonlyArray<string>): Promise<Omit<CompareAnswer, 'parameters'>> {
    if (ids.length < 2 || ids.length > MAX_COMPARED) throw new SpecificationError('invalid ids', [{ path: '/ids', message: `give between 2 and ${MAX_COMPARED} inspection ids, separated by commas` }]);
    const inputs = await Promise.all(ids.map((id) => this.records.outcomes(id)));
    return compareInspections(inputs);
  }

  /** The newest `limit` inspections of an identifier, oldest first, on one metric. */
  async history(identifier: string, metric: string | undefined, limit: number): Promise<Omit<HistoryAnswer, 'parameters'>> {
    const prefix = idPrefix(identifier);
    const inputs: SummaryInputs[] = [];
    let batch: string[] = [];
    const drain = async (): Promise<void> => {
      const read = await Promise.all(batch.map((id) => this.records.outcomes(id).catch(() => undefined)));
      batch = [];
      for (const i of read) if (i && i.spec.identifier === identifier && inputs.length < limit) inputs.push(i);
    };
    for await (const id of this.records.listedIds()) {
      if (!id.startsWith(prefix)) continue;
      batch.push(id);
      if (batch.length >= READ_AHEAD) await drain();
      if (inputs.length >= limit) break;
    }
    await drain();
    if (inputs.length === 0) throw new NotFoundError(`no inspection of identifier ${JSON.stringify(identifier)}`);
    const answer = history(identifier, metric, inputs);
    // A metric none of them has is a typo, not an empty history: say which ones there are.
    if (metric !== undefined && !answer.metrics.includes(metric)) {
      throw new SpecificationError('invalid metric', [{ path: '/metric', message: `no inspection of ${JSON.stringify(identifier)} has it; they have ${answer.metrics.join(', ')}` }]);
    }
    return answer;
  }

  /** The compared inspections in brief (identifier, state, hardware), for a page's header. */
  async brief(id: string): Promise<ReturnType<typeof brief>> {
    return brief(await this.records.outcomes(id));
  }
}
