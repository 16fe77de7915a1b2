/**
 * A minimal ISO 9660 image writer with Joliet names: one root folder of small files. It
 * makes the NoCloud seed (volume label CIDATA, files user-data and meta-data) in memory,
 * so the Windows host needs no oscdimg (Windows ADK), IMAPI2 or mounted VHD to make one.
 *
 * Layout (2048-byte sectors): 0-15 system area, 16 primary descriptor, 17 Joliet
 * descriptor, 18 terminator, 19-22 path tables (primary L/M, Joliet L/M), 23 primary root,
 * 24 Joliet root, then each file's data. Both trees point at the same file data.
 */

const SECTOR = 2048;

export interface IsoFile {
  /** the name as the guest sees it through Joliet, e.g. "user-data" */
  name: string;
  data: Buffer;
}

export interface IsoOptions {
  /** primary volume identifier: A-Z, 0-9 and _ (e.g. CIDATA) */
  volumeId: string;
  /** fixed for reproducible images; default: now */
  date?: Date;
}

function both16(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(n, 0);
  b.writeUInt16BE(n, 2);
  return b;
}

function both32(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(n, 0);
  b.writeUInt32BE(n, 4);
  return b;
}

function padded(text: string, length: number, fill = ' '): Buffer {
  return Buffer.from(text.padEnd(length, fill).slice(0, length), 'ascii');
}

function ucs2be(text: string): Buffer {
  const le = Buffer.from(text, 'utf16le');
  const be = Buffer.alloc(le.length);
  for (let i = 0; i < le.length; i += 2) {
    be[i] = le[i + 1]!;
    be[i + 1] = le[i]!;
  }
  return be;
}

function ucs2bePadded(text: string, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i + 1 < bytes; i += 2) out.writeUInt16BE(0x20, i);
  ucs2be(text).copy(out, 0, 0, bytes);
  return out;
}

/** 7-byte directory record date */
function recordDate(d: Date): Buffer {
  return Buffer.from([d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0]);
}

/** 17-byte volume descriptor date */
function volumeDate(d: Date | undefined): Buffer {
  if (!d) return Buffer.concat([Buffer.from('0'.repeat(16), 'ascii'), Buffer.from([0])]);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const text = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
  return Buffer.concat([Buffer.from(text, 'ascii'), Buffer.from([0])]);
}

function directoryRecord(name: Buffer, extent: number, size: number, isDir: boolean, date: Date): Buffer {
  const length = 33 + name.length + (name.length % 2 === 0 ? 1 : 0);
  const r = Buffer.alloc(length);
  r[0] = length;
  r[1] = 0;
  both32(extent).copy(r, 2);
  both32(size).copy(r, 10);
  recordDate(date).copy(r, 18);
  r[25] = isDir ? 2 : 0;
  r[26] = 0;
  r[27] = 0;
  both16(1).copy(r, 28);
  r[32] = name.length;
  name.copy(r, 33);
  return r;
}

/** 8.3 upper-case d-characters for the primary tree (Joliet carries the real names). */
function primaryName(name: string, used: Set<string>): string {
  const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  const dot = name.lastIndexOf('.');
  const base = clean(dot > 0 ? name.slice(0, dot) : name).slice(0, 8) || 'FILE';
  const ext = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : '';
  let candidate = `${base}.${ext}`;
  for (let i = 1; used.has(candidate); i++) candidate = `${base.slice(0, 8 - String(i).length)}${i}.${ext}`;
  used.add(candidate);
  return candidate;
}

function pathTable(rootExtent: number, bigEndian: boolean): Buffer {
  const t = Buffer.alloc(10);
  t[0] = 1; // name length
  t[1] = 0;
  if (bigEndian) t.writeUInt32BE(rootExtent, 2);
  else t.writeUInt32LE(rootExtent, 2);
  if (bigEndian) t.writeUInt16BE(1, 6);
  else t.writeUInt16LE(1, 6);
  t[8] = 0; // root's name is a single 0 byte
  t[9] = 0; // padding to even length
  return t;
}

function volumeDescriptor(opts: {
  type: 1 | 2;
  volumeId: Buffer;
  systemId: Buffer;
  totalSectors: number;
  pathTableSize: number;
  lTable: number;
  mTable: number;
  root: Buffer;
  date: Date;
  joliet: boolean;
  textField: (text: string, bytes: number) => Buffer;
}): Buffer {
  const d = Buffer.alloc(SECTOR);
  d[0] = opts.type;
  d.write('CD001', 1, 'ascii');
  d[6] = 1;
  opts.systemId.copy(d, 8);
  opts.volumeId.copy(d, 40);
  both32(opts.totalSectors).copy(d, 80);
  if (opts.joliet) d.write('%/E', 88, 'ascii'); // UCS-2 level 3
  both16(1).copy(d, 120); // volume set size
  both16(1).copy(d, 124); // volume sequence number
  both16(SECTOR).copy(d, 128);
  both32(opts.pathTableSize).copy(d, 132);
  d.writeUInt32LE(opts.lTable, 140);
  d.writeUInt32BE(opts.mTable, 148);
  opts.root.copy(d, 156);
  opts.textField('', 128).copy(d, 190); // volume set
  opts.textField('', 128).copy(d, 318); // publisher
  opts.textField('LABCTL', 128).copy(d, 446); // data preparer
  opts.textField('LABCTL', 128).copy(d, 574); // application
  opts.textField('', 37).copy(d, 702);
  opts.textField('', 37).copy(d, 739);
  opts.textField('', 37).copy(d, 776);
  volumeDate(opts.date).copy(d, 813);
  volumeDate(opts.date).copy(d, 830);
  volumeDate(undefined).copy(d, 847);
  volumeDate(opts.date).copy(d, 864);
  d[881] = 1; // file structure version
  return d;
}

export function buildIso(files: IsoFile[], opts: IsoOptions): Buffer {
  if (!/^[A-Z0-9_]{1,32}$/.test(opts.volumeId)) throw new Error(`ISO volume id must be 1-32 of A-Z, 0-9, _: ${opts.volumeId}`);
  const date = opts.date ?? new Date();
  const names = new Set<string>();
  for (const f of files) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(f.name)) throw new Error(`unsupported ISO file name: ${f.name}`);
    if (names.has(f.name)) throw new Error(`duplicate ISO file name: ${f.name}`);
    names.add(f.name);
  }

  const PRIMARY_ROOT = 23;
  const JOLIET_ROOT = 24;
  let next = 25;
  const used = new Set<string>();
  const placed = files.map((f) => {
    const extent = next;
    next += Math.max(1, Math.ceil(f.data.length / SECTOR));
    return { ...f, extent, primary: `${primaryName(f.name, used)};1` };
  });
  const total = next;

  const rootEntries = (joliet: boolean, self: number) => {
    const sorted = [...placed].sort((a, b) => {
      const ka = joliet ? a.name : a.primary;
      const kb = joliet ? b.name : b.primary;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const records = [
      directoryRecord(Buffer.from([0]), self, SECTOR, true, date),
      directoryRecord(Buffer.from([1]), self, SECTOR, true, date),
      ...sorted.map((f) => directoryRecord(joliet ? ucs2be(f.name) : Buffer.from(f.primary, 'ascii'), f.extent, f.data.length, false, date)),
    ];
    const body = Buffer.concat(records);
    if (body.length > SECTOR) throw new Error('too many files for a one-sector ISO root folder');
    return body;
  };

  const image = Buffer.alloc(total * SECTOR);
  const at = (sector: number) => sector * SECTOR;

  volumeDescriptor({
    type: 1,
    volumeId: padded(opts.volumeId, 32),
    systemId: padded('', 32),
    totalSectors: total,
    pathTableSize: 10,
    lTable: 19,
    mTable: 20,
    root: directoryRecord(Buffer.from([0]), PRIMARY_ROOT, SECTOR, true, date),
    date,
    joliet: false,
    textField: (t, n) => padded(t, n),
  }).copy(image, at(16));
  volumeDescriptor({
    type: 2,
    volumeId: ucs2bePadded(opts.volumeId.toLowerCase(), 32),
    systemId: ucs2bePadded('', 32),
    totalSectors: total,
    pathTableSize: 10,
    lTable: 21,
    mTable: 22,
    root: directoryRecord(Buffer.from([0]), JOLIET_ROOT, SECTOR, true, date),
    date,
    joliet: true,
    textField: (t, n) => Buffer.concat([ucs2bePadded(t, n - (n % 2)), Buffer.alloc(n % 2, 0x20)]),
  }).copy(image, at(17));
  const terminator = Buffer.alloc(SECTOR);
  terminator[0] = 255;
  terminator.write('CD001', 1, 'ascii');
  terminator[6] = 1;
  terminator.copy(image, at(18));

  pathTable(PRIMARY_ROOT, false).copy(image, at(19));
  pathTable(PRIMARY_ROOT, true).copy(image, at(20));
  pathTable(JOLIET_ROOT, false).copy(image, at(21));
  pathTable(JOLIET_ROOT, true).copy(image, at(22));
  rootEntries(false, PRIMARY_ROOT).copy(image, at(PRIMARY_ROOT));
  rootEntries(true, JOLIET_ROOT).copy(image, at(JOLIET_ROOT));
  for (const f of placed) f.data.copy(image, at(f.extent));
  return image;
}
