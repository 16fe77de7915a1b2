export interface AptEntry {
  uri: string;
  suite: string;
  components: string[];
  signedBy?: string;
}

/**
 * Parsers for apt's package sources ("deb" entries), in the one-line format (*.list)
 * and deb822 (*.sources): labctl asks the same mirrors, with the same keys, for sources.
 */
export function parseOneLine(text: string): AptEntry[] {
  const out: AptEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const options = m[1] ?? '';
    const signedBy = /signed-by=(\S+)/.exec(options)?.[1];
    out.push({ uri: m[2]!, suite: m[3]!, components: (m[4] ?? '').split(/\s+/).filter(Boolean), signedBy });
  }
  return out;
}

export function parseDeb822(text: string): AptEntry[] {
  const out: AptEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || !line.trim()) continue;
      if (/^\s/.test(line) && last) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const i = line.indexOf(':');
      if (i < 0) continue;
      last = line.slice(0, i).trim().toLowerCase();
      fields.set(last, line.slice(i + 1).trim());
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const signedBy = fields.get('signed-by');
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) {
      for (const suite of (fields.get('suites') ?? '').split(/\s+/).filter(Boolean)) {
        out.push({
          uri,
          suite,
          components: (fields.get('components') ?? '').split(/\s+/).filter(Boolean),
          // an inline key block cannot go on a one-line entry; apt then uses its trusted keys
          signedBy: signedBy && !signedBy.includes('\n') ? signedBy : undefined,
        });
      }
    }
  }
  return out;
}

export function debSrcLines(entries: AptEntry[]): string {
  return entries
    .map((e) => `deb-src ${e.signedBy ? `[signed-by=${e.signedBy}] ` : ''}${e.uri} ${e.suite} ${e.components.join(' ')}`.trim())
    .join('\n');
}
