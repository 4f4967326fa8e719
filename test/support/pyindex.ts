/**
 * A Python package index on the loopback interface, for builds that cannot reach PyPI: wheels
 * written here byte by byte (a wheel is a zip with METADATA, WHEEL and RECORD; stored entries,
 * fixed timestamps, so equal inputs give equal bytes) and served as a PEP 503 simple index over
 * node:http. Builds reach it with host networking.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';

export interface Wheel {
  /** Normalized project name (PEP 503), e.g. `amun-hello`. */
  project: string;
  version: string;
  filename: string;
  bytes: Buffer;
  sha256: string;
}

/** A zip archive of stored (uncompressed) entries. */
export function zip(entries: ReadonlyArray<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const dosTime = 0; // 00:00:00
  const dosDate = (1 << 5) | 1; // 1980-01-01
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, nameBytes, data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external: regular file, 0644
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

function recordHash(data: Buffer): string {
  return `sha256=${createHash('sha256').update(data).digest('base64url')}`;
}

/** A pure-Python wheel of one module: `files` are paths inside the wheel (e.g. `amun_hello/__init__.py`). */
export function buildWheel(project: string, version: string, files: Record<string, string>): Wheel {
  const distName = project.replace(/[-_.]+/g, '_');
  const distInfo = `${distName}-${version}.dist-info`;
  const entries: Array<{ name: string; data: Buffer }> = Object.entries(files).map(([name, text]) => ({ name, data: Buffer.from(text, 'utf8') }));
  entries.push({ name: `${distInfo}/METADATA`, data: Buffer.from(`Metadata-Version: 2.1\nName: ${project}\nVersion: ${version}\nSummary: a test package served on the loopback interface\n`) });
  entries.push({ name: `${distInfo}/WHEEL`, data: Buffer.from('Wheel-Version: 1.0\nGenerator: amun-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n') });
  const record = [...entries.map((e) => `${e.name},${recordHash(e.data)},${e.data.length}`), `${distInfo}/RECORD,,`].join('\n') + '\n';
  entries.push({ name: `${distInfo}/RECORD`, data: Buffer.from(record) });
  const bytes = zip(entries);
  return { project: project.toLowerCase().replace(/[-_.]+/g, '-'), version, filename: `${distName}-${version}-py3-none-any.whl`, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export interface LoopbackIndex {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The simple index URL of a named set of wheels: `<origin>/<name>/simple`. */
  url(name: string): string;
  /** Requests served, for assertions (`GET /good/files/...`). */
  requests: string[];
  close(): Promise<void>;
}

/** Serves each named set of wheels as its own simple index under `/<name>/simple/`. */
export async function startLoopbackIndex(sets: Record<string, ReadonlyArray<Wheel>>): Promise<LoopbackIndex> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push(`${req.method ?? 'GET'} ${path}`);
    const parts = path.split('/').filter(Boolean);
    const wheels = sets[parts[0] ?? ''];
    const html = (body: string): void => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!DOCTYPE html>\n<html><body>\n${body}\n</body></html>\n`);
    };
    if (!wheels) {
      res.writeHead(404).end();
    } else if (parts[1] === 'simple' && parts.length === 2) {
      html([...new Set(wheels.map((w) => w.project))].map((p) => `<a href="${p}/">${p}</a>`).join('\n'));
    } else if (parts[1] === 'simple' && parts.length === 3) {
      const project = (parts[2] ?? '').toLowerCase().replace(/[-_.]+/g, '-');
      const files = wheels.filter((w) => w.project === project);
      if (files.length === 0) res.writeHead(404).end();
      else html(files.map((w) => `<a href="/${parts[0]}/files/${w.filename}#sha256=${w.sha256}">${w.filename}</a>`).join('\n'));
    } else if (parts[1] === 'files' && parts.length === 3) {
      const wheel = wheels.find((w) => w.filename === parts[2]);
      if (!wheel) res.writeHead(404).end();
      else {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(wheel.bytes.length) });
        res.end(wheel.bytes);
      }
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: (name) => `${origin}/${name}/simple`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
