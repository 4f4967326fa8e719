/**
 * The results explorer: a single page over the v1 API with hash routing.
 *
 *   #/                               inspections (paged, filtered, refreshed while visible)
 *   #/inspect/<id>                   one inspection: timeline, specification, Dockerfile, build log, runs, a plot per metric
 *   #/compare?ids=a,b[,c]            each candidate against the first: verdict per metric, plots of every run
 *   #/history/<identifier>?metric=   the median over time, hardware changes, regressions
 */
import type {
  CompareAnswer,
  HistoryAnswer,
  ListingAnswer,
  ListingDetail,
  LogAnswer,
  MetricComparison,
  MetricsAnswer,
  MetricStats,
  SpecificationAnswer,
  StatusAnswer,
} from '../functions/core/generated/types.js';
import { ApiError, get, onTokenNeeded, post, query, setToken, token } from './api.js';
import { age, announce, append, clear, fmt, h, pvalue, shortId, stateBadge, verdictBadge } from './dom.js';
import { batchPlot, comparePlot, historyPlot } from './plots.js';

const LIST_POLL_MS = 4000;
const INSPECTION_POLL_MS = 2000;
const STATES = ['pending', 'building', 'running', 'succeeded', 'failed'] as const;

/** What the current route started: polling stops when the route changes. */
interface View {
  alive: boolean;
  timers: number[];
}
let view: View = { alive: false, timers: [] };

function main(): HTMLElement {
  return document.getElementById('main')!;
}

/** Runs `fn` now and every `ms` while the view lives and the page is visible; `fn` returns false to stop. */
function poll(v: View, ms: number, fn: () => Promise<boolean | void>): void {
  const tick = async (): Promise<void> => {
    if (!v.alive) return;
    let again: boolean | void = true;
    if (document.visibilityState === 'visible') {
      try {
        again = await fn();
      } catch (error) {
        showError(error);
      }
    }
    if (v.alive && again !== false) v.timers.push(window.setTimeout(() => void tick(), ms));
  };
  v.timers.push(window.setTimeout(() => void tick(), ms));
}

function showError(error: unknown, where: Element = main()): void {
  const message = error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error);
  const existing = where.querySelector(':scope > .error');
  const p = h('p', { class: 'error', role: 'alert' }, `Could not load: ${message}`);
  if (existing) existing.replaceWith(p);
  else where.prepend(p);
}

function section(title: string, id: string, ...children: Array<Node | string | null>): HTMLElement {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function setTitle(text: string): HTMLElement {
  document.title = `${text} · Amun results`;
  return h('h1', { tabindex: '-1' }, text);
}

// -----------------------------------------------------------------------------------------------
// Token
// -----------------------------------------------------------------------------------------------

onTokenNeeded(
  () =>
    new Promise<string>((resolve) => {
      const dialog = h('section', { class: 'token', 'aria-labelledby': 'token-title' });
      const input = h('input', { id: 'token-input', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
      const form = h(
        'form',
        {
          onsubmit: (e: Event) => {
            e.preventDefault();
            const value = input.value.trim();
            if (!value) return;
            dialog.remove();
            resolve(value);
          },
        },
        h('label', { for: 'token-input' }, 'API token'),
        input,
        h('button', { type: 'submit' }, 'Use token'),
      );
      append(dialog, [h('h2', { id: 'token-title' }, 'This server needs a token'), h('p', {}, 'Enter the API token (AMUN_API_TOKEN). It is kept for this browser tab only.'), form]);
      main().prepend(dialog);
      input.focus();
    }),
);

// -----------------------------------------------------------------------------------------------
// Inspections list
// -----------------------------------------------------------------------------------------------

const selected = new Set<string>();

function listPage(v: View, params: URLSearchParams): void {
  const root = main();
  const identifier = params.get('identifier') ?? '';
  const state = params.get('state') ?? '';
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const limit = 25;

  const idInput = h('input', { id: 'f-identifier', name: 'identifier', value: identifier, type: 'search', autocomplete: 'off' });
  const stateSelect = h('select', { id: 'f-state', name: 'state' }, h('option', { value: '' }, 'any'), ...STATES.map((s) => h('option', { value: s, selected: s === state }, s)));
  const filters = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter inspections',
      onsubmit: (e: Event) => {
        e.preventDefault();
        location.hash = `#/${query({ identifier: idInput.value.trim(), state: stateSelect.value })}`;
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'f-identifier' }, 'Identifier'), idInput),
    h('div', { class: 'field' }, h('label', { for: 'f-state' }, 'State'), stateSelect),
    h('button', { type: 'submit' }, 'Filter'),
  );

  const compareButton = h('button', { type: 'button', id: 'compare', disabled: true }, 'Compare selected');
  const compareHint = h('span', { class: 'muted', id: 'compare-hint' }, 'Select two or more inspections to compare (the first selected is the baseline).');
  compareButton.setAttribute('aria-describedby', 'compare-hint');
  const order: string[] = [];
  const updateCompare = (): void => {
    compareButton.disabled = selected.size < 2;
    compareButton.textContent = selected.size >= 2 ? `Compare ${selected.size} selected` : 'Compare selected';
  };
  compareButton.addEventListener('click', () => {
    const ids = order.filter((id) => selected.has(id));
    location.hash = `#/compare?ids=${ids.map(encodeURIComponent).join(',')}`;
  });

  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'list' },
    h('caption', { class: 'visually-hidden' }, 'Inspections, newest first'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Select')), h('th', { scope: 'col' }, 'Identifier'), h('th', { scope: 'col' }, 'Inspection'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Runs'), h('th', { scope: 'col' }, 'Age'))),
    tbody,
  );
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const updated = h('p', { class: 'muted updated' });

  clear(root);
  append(root, [setTitle('Inspections'), filters, h('div', { class: 'actions' }, compareButton, compareHint), h('div', { class: 'scroll' }, table), pager, updated]);

  const render = (details: ListingDetail[], hasNext: boolean): void => {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.key : undefined;
    clear(tbody);
    const rows = details.filter((d) => !state || d.state === state);
    if (rows.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No inspections.')));
    for (const d of rows) {
      const box = h('input', { type: 'checkbox', 'data-key': `sel:${d.inspection_id}`, 'aria-label': `Select ${d.inspection_id} for comparison`, checked: selected.has(d.inspection_id) });
      box.addEventListener('change', () => {
        if (box.checked) {
          selected.add(d.inspection_id);
          if (!order.includes(d.inspection_id)) order.push(d.inspection_id);
        } else selected.delete(d.inspection_id);
        updateCompare();
      });
      const runs = `${d.items_done} done${d.items_failed ? `, ${d.items_failed} failed` : ''} of ${d.batch_size}`;
      tbody.append(
        h(
          'tr',
          { 'data-id': d.inspection_id },
          h('td', {}, box),
          h('td', {}, d.identifier ? h('a', { href: `#/history/${encodeURIComponent(d.identifier)}`, 'data-key': `hist:${d.inspection_id}`, title: `History of ${d.identifier}` }, d.identifier) : h('span', { class: 'muted' }, 'none')),
          h('td', {}, h('a', { href: `#/inspect/${encodeURIComponent(d.inspection_id)}`, 'data-key': `insp:${d.inspection_id}`, class: 'mono' }, shortId(d.inspection_id))),
          h('td', {}, stateBadge(d.state)),
          h('td', {}, runs),
          h('td', { title: d.created ?? '' }, age(d.created)),
        ),
      );
    }
    if (focused) (tbody.querySelector(`[data-key="${CSS.escape(focused)}"]`) as HTMLElement | null)?.focus();
    clear(pager);
    const link = (p: number, text: string): HTMLElement => h('a', { href: `#/${query({ identifier, state, page: p > 1 ? p : undefined })}` }, text);
    append(pager, [page > 1 ? link(page - 1, '← Newer') : null, h('span', {}, `Page ${page}`), hasNext ? link(page + 1, 'Older →') : null]);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${LIST_POLL_MS / 1000} s.`;
    updateCompare();
  };

  const load = async (): Promise<void> => {
    const answer = await get<ListingAnswer>(`/inspect${query({ page, limit, details: true, identifier, state })}`);
    if (!v.alive) return;
    render(answer.details ?? [], !!answer.parameters.next_page_token);
  };
  load()
    .catch((e) => showError(e))
    .finally(() => poll(v, LIST_POLL_MS, load));
}

// -----------------------------------------------------------------------------------------------
// One inspection
// -----------------------------------------------------------------------------------------------

type Workflow = NonNullable<StatusAnswer['status']['workflow']>;

function timeline(status: StatusAnswer['status']): HTMLElement {
  const w = status.workflow;
  const b = status.build;
  const state = w?.state ?? 'pending';
  const buildDone = w?.build === 'succeeded' || w?.build === 'failed';
  const steps: Array<{ name: string; done: boolean; current: boolean; failed?: boolean; detail: string }> = [
    { name: 'Submitted', done: true, current: false, detail: w?.created ? `${w.created} (${age(w.created)})` : '' },
    {
      name: 'Build',
      done: buildDone,
      current: state === 'building' || (state === 'pending' && !buildDone),
      failed: w?.build === 'failed',
      detail: w?.build ? `${w.build}${w.build_reason ? `: ${w.build_reason}` : ''}` : b ? b.state : 'waiting',
    },
    {
      name: 'Runs',
      done: !!w?.finished,
      current: state === 'running',
      failed: (w?.items_failed ?? 0) > 0,
      detail: w ? `${w.items_done} done, ${w.items_failed} failed of ${w.batch_size}${w.progress ? ` (${w.progress})` : ''}` : '',
    },
    { name: 'Finished', done: !!w?.finished, current: false, failed: state === 'failed', detail: w?.finished ? `${state}${w.finished_at ? ` at ${w.finished_at}` : ''}` : 'not yet' },
  ];
  return h(
    'ol',
    { class: 'timeline', 'aria-label': 'Progress' },
    ...steps.map((s) =>
      h(
        'li',
        { class: `step ${s.failed ? 'step-failed' : s.done ? 'step-done' : s.current ? 'step-current' : 'step-todo'}`, 'aria-current': s.current ? 'step' : null },
        h('span', { class: 'step-name' }, s.name),
        h('span', { class: 'step-state' }, s.failed ? 'failed' : s.done ? 'done' : s.current ? 'in progress' : 'waiting'),
        h('span', { class: 'step-detail' }, s.detail),
      ),
    ),
  );
}

/** Rows of the runs table drawn at once; the rest behind a button. */
const FIRST_ROWS = 100;

function runsTable(id: string, metrics: MetricsAnswer | null, workflow: Workflow | null, logOut: HTMLElement): HTMLElement {
  const resultMetrics = metrics ? Object.entries(metrics.metrics).filter(([, m]) => m.source === 'result') : [];
  const rows = metrics?.runs ?? workflow?.items.map((i) => ({ ...i, hardware_match: i.hardware_match ?? null, parameters: null })) ?? [];
  const tbody = h('tbody');
  // A big batch shows its first rows at once and the rest on request: a thousand-row table costs
  // more to lay out than everything else on the page, and the plots show every run anyway.
  const rowOf = (r: (typeof rows)[number]): HTMLElement => {
    const button = h('button', { type: 'button', class: 'link', 'aria-label': `Show the log of item ${r.item}` }, 'log');
    button.addEventListener('click', () => {
      logOut.textContent = `Loading the log of item ${r.item}…`;
      get<LogAnswer>(`/inspect/${encodeURIComponent(id)}/job/${r.item}/log`)
        .then((a) => {
          logOut.textContent = typeof a.log === 'string' ? a.log || '(empty)' : JSON.stringify(a.log, null, 2);
          logOut.previousElementSibling!.textContent = `Log of item ${r.item}`;
          logOut.focus();
        })
        .catch((e) => {
          logOut.textContent = `Could not load the log: ${(e as Error).message}`;
        });
    });
    return h(
        'tr',
        { class: r.exit_code !== 0 && r.exit_code !== null ? 'row-failed' : null },
        h('th', { scope: 'row' }, r.item),
        h('td', {}, r.exit_code ?? '–'),
        h('td', {}, r.reason ?? ''),
        h('td', { class: 'num' }, r.wall_time === null ? '–' : `${fmt(r.wall_time)} s`),
        ...resultMetrics.map(([, m]) => h('td', { class: 'num' }, fmt(m.values[r.item] ?? null))),
        h('td', {}, r.hardware_match === null ? '–' : r.hardware_match ? 'yes' : h('strong', {}, 'no')),
        h('td', {}, button),
      );
  };
  const fill = (from: number, to: number): void => {
    const frag = document.createDocumentFragment();
    for (const r of rows.slice(from, to)) frag.append(rowOf(r));
    tbody.append(frag);
  };
  fill(0, FIRST_ROWS);
  const more = rows.length > FIRST_ROWS ? h('button', { type: 'button', class: 'link show-all' }, `Show all ${rows.length} runs`) : null;
  more?.addEventListener('click', () => {
    fill(FIRST_ROWS, rows.length);
    more.remove();
  });
  return h(
    'div',
    { class: 'scroll runs' },
    h(
      'table',
      { class: 'runs-table' },
      h('caption', {}, `${rows.length} runs`),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, 'Item'), h('th', { scope: 'col' }, 'Exit code'), h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col' }, 'Wall time'), ...resultMetrics.map(([name]) => h('th', { scope: 'col' }, name)), h('th', { scope: 'col' }, 'Hardware match'), h('th', { scope: 'col' }, 'Log')),
      ),
      tbody,
    ),
    more,
  );
}

function plotsFor(metrics: MetricsAnswer): HTMLElement {
  const wrap = h('div', { class: 'plots' });
  const entries = Object.entries(metrics.metrics).filter(([, m]) => m.n > 0);
  const primary = entries.filter(([name, m]) => m.source === 'result' || name === 'wall_time');
  const others = entries.filter((e) => !primary.includes(e));
  const figure = ([name, m]: [string, MetricStats]): HTMLElement =>
    h(
      'figure',
      { class: 'metric', 'data-metric': name },
      h('figcaption', {}, h('strong', {}, name), ` (${m.source}, ${m.better} is better): median ${fmt(m.median)}, min ${fmt(m.min)}, max ${fmt(m.max)}, cv ${m.cv === null ? '–' : `${(m.cv * 100).toFixed(1)} %`}, n ${m.n}`),
      batchPlot(name, m),
    );
  if (primary.length === 0 && others.length === 0) wrap.append(h('p', { class: 'muted' }, 'No numeric metrics yet.'));
  for (const e of primary) wrap.append(figure(e));
  if (others.length) {
    const details = h('details', {}, h('summary', {}, `${others.length} more metrics measured by the harness`));
    let drawn = false;
    details.addEventListener('toggle', () => {
      if (drawn || !details.open) return;
      drawn = true;
      for (const e of others) details.append(figure(e));
    });
    wrap.append(details);
  }
  return wrap;
}

function inspectionPage(v: View, id: string): void {
  const root = main();
  const enc = encodeURIComponent(id);
  clear(root);
  const heading = setTitle(`Inspection ${shortId(id)}`);
  heading.setAttribute('title', id);
  const links = h('p', { class: 'links' });
  const timelineBox = h('div', { id: 'timeline' }, h('p', { class: 'muted' }, 'Loading…'));
  const specBox = h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Specification' }, 'Loading…');
  const dockerBox = h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Dockerfile' }, 'Loading…');
  const buildLog = h('pre', { class: 'code log', tabindex: '0', 'aria-label': 'Build log', 'aria-live': 'off' }, 'Loading…');
  const buildFollow = h('p', { class: 'muted' });
  const runsBox = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const plotsBox = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const itemLog = h('pre', { class: 'code log', tabindex: '-1', 'aria-label': 'Item log' }, 'Choose a run’s log in the table.');
  append(root, [
    heading,
    links,
    section('Progress', 's-progress', timelineBox),
    section('Runs', 's-runs', runsBox, h('h3', {}, 'Item log'), itemLog),
    section('Metrics', 's-metrics', plotsBox),
    section('Specification', 's-spec', specBox),
    section('Dockerfile', 's-docker', dockerBox),
    section('Build log', 's-build', buildFollow, buildLog),
  ]);

  get<SpecificationAnswer>(`/inspect/${enc}/specification`)
    .then(async (a) => {
      if (!v.alive) return;
      specBox.textContent = JSON.stringify(a.specification, null, 2);
      const spec = a.specification as { identifier?: string };
      if (spec.identifier) append(links, [h('a', { href: `#/history/${encodeURIComponent(spec.identifier)}` }, `History of ${spec.identifier}`)]);
      try {
        const d = await post<{ dockerfile: string }>('/_debug/generate-dockerfile', a.specification);
        if (v.alive) dockerBox.textContent = d.dockerfile;
      } catch {
        if (v.alive) dockerBox.textContent = '(not available)';
      }
    })
    .catch((e) => {
      specBox.textContent = `Could not load: ${(e as Error).message}`;
      dockerBox.textContent = '';
    });

  let lastState = '';
  let lastDone = -1;
  let buildFinished = false;
  const refresh = async (): Promise<boolean> => {
    const status = (await get<StatusAnswer>(`/inspect/${enc}/status`)).status;
    if (!v.alive) return false;
    const w = status.workflow;
    clear(timelineBox);
    timelineBox.append(timeline(status));
    const building = !w || w.state === 'pending' || w.state === 'building';
    const done = (w?.items_done ?? 0) + (w?.items_failed ?? 0);
    const changed = (w?.state ?? '') !== lastState || done !== lastDone;
    // The metrics (the page's biggest answer) are asked for at once, beside the build log.
    const metricsRead = changed && done > 0 ? get<MetricsAnswer>(`/inspect/${enc}/metrics`).catch(() => null) : Promise.resolve(null);
    if (!buildFinished) {
      const log = await get<LogAnswer>(`/inspect/${enc}/build/log`).catch(() => null);
      const text = typeof log?.log === 'string' ? log.log : '';
      const atEnd = buildLog.scrollTop + buildLog.clientHeight >= buildLog.scrollHeight - 4;
      buildLog.textContent = text || '(no build log yet)';
      if (atEnd) buildLog.scrollTop = buildLog.scrollHeight;
      buildFinished = !building;
      buildFollow.textContent = building ? `Following the build live (every ${INSPECTION_POLL_MS / 1000} s).` : '';
    }
    if (changed) {
      lastState = w?.state ?? '';
      lastDone = done;
      const metrics = await metricsRead;
      if (!v.alive) return false;
      clear(runsBox);
      // Marks for the page benchmark (bench/page.ts reads them): what drawing the runs costs.
      performance.mark('amun:runs-table');
      runsBox.append(rowsOrNone(runsTable(id, metrics, w, itemLog), done));
      performance.measure('amun:runs-table', 'amun:runs-table');
      performance.mark('amun:plots');
      clear(plotsBox);
      plotsBox.append(metrics ? plotsFor(metrics) : h('p', { class: 'muted' }, done > 0 ? 'Metrics are not available.' : 'No runs yet.'));
      performance.measure('amun:plots', 'amun:plots');
      announce(`Inspection ${w?.state ?? 'pending'}: ${done} of ${w?.batch_size ?? '?'} runs`);
      root.dataset.rendered = 'true';
    }
    return !w?.finished;
  };
  refresh()
    .then((again) => {
      if (again) poll(v, INSPECTION_POLL_MS, refresh);
    })
    .catch((e) => showError(e));
}

function rowsOrNone(table: HTMLElement, done: number): HTMLElement {
  return done > 0 ? table : h('p', { class: 'muted' }, 'No runs yet.');
}

// -----------------------------------------------------------------------------------------------
// Compare
// -----------------------------------------------------------------------------------------------

function comparisonTable(rows: MetricComparison[]): HTMLElement {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'compare-table' },
      h('thead', {}, h('tr', {}, ...['Metric', 'Baseline median', 'Median', 'Ratio [95 % CI]', 'p-value', 'Verdict'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        {},
        ...rows.map((m) =>
          h(
            'tr',
            { 'data-metric': m.name, 'data-verdict': m.verdict, class: m.verdict === 'slower' ? 'row-regression' : null },
            h('th', { scope: 'row' }, m.name, h('span', { class: 'muted small' }, ` (${m.better} is better)`)),
            h('td', { class: 'num' }, fmt(m.baseline_median)),
            h('td', { class: 'num' }, fmt(m.median)),
            h('td', { class: 'num' }, m.ratio === null ? '–' : `${fmt(m.ratio)} [${fmt(m.ci_low)}, ${fmt(m.ci_high)}]`),
            h('td', { class: 'num' }, pvalue(m.p_value)),
            h('td', {}, verdictBadge(m.verdict)),
          ),
        ),
      ),
    ),
  );
}

function comparePage(v: View, params: URLSearchParams): void {
  const root = main();
  const ids = (params.get('ids') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  clear(root);
  root.append(setTitle('Compare inspections'));
  if (ids.length < 2) {
    root.append(h('p', {}, 'Select two or more inspections in the ', h('a', { href: '#/' }, 'list'), ' to compare them.'));
    return;
  }
  const body = h('div', {}, h('p', { class: 'muted' }, 'Comparing…'));
  root.append(body);
  Promise.all([get<CompareAnswer>(`/compare${query({ ids: ids.join(',') })}`), Promise.all(ids.map((id) => get<MetricsAnswer>(`/inspect/${encodeURIComponent(id)}/metrics`).catch(() => null)))])
    .then(([answer, metrics]) => {
      if (!v.alive) return;
      clear(body);
      const label = (id: string): string => {
        const i = answer.inspections.findIndex((b) => b.inspection_id === id);
        return `${i === 0 ? 'baseline' : `#${i}`} ${shortId(id).slice(0, 14)}`;
      };
      const briefs = h(
        'ul',
        { class: 'briefs' },
        ...answer.inspections.map((b) =>
          h('li', {}, h('a', { href: `#/inspect/${encodeURIComponent(b.inspection_id)}`, class: 'mono' }, label(b.inspection_id)), ` ${b.identifier ?? ''}, `, stateBadge(b.state), `, ${b.items_done} done, ${b.items_failed} failed of ${b.batch_size}; hardware: ${b.hardware.cpu ?? 'unknown'}`),
        ),
      );
      append(body, [section('Inspections', 's-briefs', briefs)]);
      for (const c of answer.comparisons) {
        const sid = `cmp-${c.inspection_id.replace(/[^A-Za-z0-9_-]/g, '')}`;
        const warnings = c.warnings.length ? h('ul', { class: 'warnings', 'aria-label': 'Warnings' }, ...c.warnings.map((w) => h('li', {}, h('span', { 'aria-hidden': 'true' }, '⚠ '), w))) : null;
        body.append(h('section', { 'aria-labelledby': sid, class: 'comparison', 'data-id': c.inspection_id }, h('h2', { id: sid }, `${label(c.inspection_id)} against the ${label(answer.baseline)}`), warnings, comparisonTable(c.metrics)));
      }
      const names = [...new Set(answer.comparisons.flatMap((c) => c.metrics.filter((m) => m.source === 'result' || m.name === 'wall_time').map((m) => m.name)))];
      const plots = h('div', { class: 'plots' });
      for (const name of names) {
        const series = ids.map((id, i) => ({ label: label(id), values: metrics[i]?.metrics[name]?.values ?? [], median: metrics[i]?.metrics[name]?.median ?? null }));
        plots.append(h('figure', { class: 'metric', 'data-metric': name }, h('figcaption', {}, h('strong', {}, name), ': every run of each inspection, the median as a red tick'), comparePlot(name, series)));
      }
      body.append(section('Runs per inspection', 's-plots', plots));
      root.dataset.rendered = 'true';
    })
    .catch((e) => {
      clear(body);
      showError(e, body);
    });
}

// -----------------------------------------------------------------------------------------------
// History
// -----------------------------------------------------------------------------------------------

function historyPage(v: View, identifier: string, params: URLSearchParams): void {
  const root = main();
  const metric = params.get('metric') ?? '';
  clear(root);
  root.append(setTitle(`History of ${identifier}`));
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  root.append(body);
  get<HistoryAnswer>(`/identifiers/${encodeURIComponent(identifier)}/history${query({ metric })}`)
    .then((a) => {
      if (!v.alive) return;
      clear(body);
      const select = h('select', { id: 'h-metric' }, ...a.metrics.map((m) => h('option', { value: m, selected: m === a.metric }, m)));
      select.addEventListener('change', () => {
        location.hash = `#/history/${encodeURIComponent(identifier)}${query({ metric: select.value })}`;
      });
      const regressions = a.points.filter((p) => p.comparison?.verdict === 'slower').length;
      body.append(h('div', { class: 'field inline' }, h('label', { for: 'h-metric' }, 'Metric'), select));
      body.append(
        h(
          'p',
          { class: regressions ? 'summary regression' : 'summary' },
          `${a.points.length} inspections; `,
          regressions ? h('strong', {}, `${regressions} regression${regressions > 1 ? 's' : ''} (slower than the previous inspection on the same hardware)`) : 'no regressions',
          '. Dashed vertical lines mark a hardware change; red triangles mark regressions.',
        ),
      );
      body.append(h('figure', { class: 'metric', 'data-metric': a.metric }, h('figcaption', {}, `Median ${a.metric} over time, with its interquartile range`), historyPlot(a.metric, a.points)));
      const rows = a.points.map((p) =>
        h(
          'tr',
          { 'data-id': p.inspection_id, 'data-verdict': p.comparison?.verdict ?? '', class: p.comparison?.verdict === 'slower' ? 'row-regression' : null },
          h('td', {}, p.created ?? '–'),
          h('td', {}, h('a', { href: `#/inspect/${encodeURIComponent(p.inspection_id)}`, class: 'mono' }, shortId(p.inspection_id))),
          h('td', {}, stateBadge(p.state)),
          h('td', { class: 'num' }, fmt(p.median)),
          h('td', { class: 'num' }, `${fmt(p.q1)} – ${fmt(p.q3)}`),
          h('td', {}, p.hardware.cpu ?? 'unknown', p.hardware_changed ? h('strong', { class: 'hw-changed' }, ' (changed)') : ''),
          h(
            'td',
            {},
            p.comparison ? verdictBadge(p.comparison.verdict) : h('span', { class: 'muted' }, 'no earlier inspection on this hardware'),
            p.comparison ? ` ratio ${fmt(p.comparison.ratio)}, p ${pvalue(p.comparison.p_value)}` : '',
            p.comparison?.verdict === 'slower' ? h('strong', { class: 'regression-label' }, ' regression') : '',
            p.previous ? [' vs ', h('a', { href: `#/compare?ids=${encodeURIComponent(p.previous)},${encodeURIComponent(p.inspection_id)}` }, 'compare')] : '',
          ),
        ),
      );
      body.append(
        h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'history-table' },
            h('caption', {}, 'Each inspection, oldest first, with its verdict against the previous one on the same hardware'),
            h('thead', {}, h('tr', {}, ...['Created', 'Inspection', 'State', 'Median', 'q1 – q3', 'Hardware', 'Against the previous'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, ...rows),
          ),
        ),
      );
      root.dataset.rendered = 'true';
    })
    .catch((e) => {
      clear(body);
      showError(e, body);
    });
}

// -----------------------------------------------------------------------------------------------
// Router
// -----------------------------------------------------------------------------------------------

function route(): void {
  view.alive = false;
  for (const t of view.timers) clearTimeout(t);
  const v: View = { alive: true, timers: [] };
  view = v;
  const root = main();
  delete root.dataset.rendered;
  const hash = location.hash.replace(/^#/, '') || '/';
  const q = hash.indexOf('?');
  const path = q < 0 ? hash : hash.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : hash.slice(q + 1));
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  for (const a of Array.from(document.querySelectorAll('header nav a'))) a.removeAttribute('aria-current');
  if (parts[0] === 'inspect' && parts[1]) inspectionPage(v, parts[1]);
  else if (parts[0] === 'compare') comparePage(v, params);
  else if (parts[0] === 'history' && parts[1]) historyPage(v, parts[1], params);
  else {
    document.querySelector('header nav a[href="#/"]:not(.brand)')?.setAttribute('aria-current', 'page');
    listPage(v, params);
  }
  // Move focus to the new page's heading (keyboard and screen-reader users land on it), but not on the first load.
  if (routed) root.querySelector<HTMLElement>('h1')?.focus();
  routed = true;
}
let routed = false;

window.addEventListener('hashchange', route);
if (token() === '') setToken(null);
route();
