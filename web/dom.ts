/** Plain DOM helpers: elements built with text nodes only (nothing the API answers is parsed as HTML). */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Array<Child | Child[]>): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

/** Announces a message to screen readers (the polite live region). */
export function announce(text: string): void {
  const live = document.getElementById('live');
  if (live) live.textContent = text;
}

export function fmt(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(2);
  return Number(value.toPrecision(digits + 1)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

export function pvalue(p: number): string {
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

/** "3 min ago" from an ISO time (zone-less times are UTC). */
export function age(iso: string | null | undefined, now = Date.now()): string {
  const t = parseTime(iso);
  if (t === null) return '–';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`;
  const t = Date.parse(zoned);
  return Number.isNaN(t) ? null : t;
}

export function shortId(id: string): string {
  return id.length > 24 ? `${id.slice(0, 22)}…` : id;
}

export function verdictBadge(verdict: string): HTMLElement {
  const kind = verdict === 'slower' ? 'bad' : verdict === 'faster' ? 'good' : 'neutral';
  const icon = verdict === 'slower' ? '▼ ' : verdict === 'faster' ? '▲ ' : '= ';
  return h('span', { class: `verdict verdict-${kind}` }, h('span', { 'aria-hidden': 'true' }, icon), verdict);
}

export function stateBadge(state: string): HTMLElement {
  return h('span', { class: `state state-${state}` }, state);
}
