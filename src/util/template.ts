import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's templates/ folder, from src/ (tsx) or dist/ (built) alike. */
export const TEMPLATES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates');

export function templatePath(name: string): string {
  return path.join(TEMPLATES_DIR, name);
}

export type Escape = (value: string) => string;

export const escapeXml: Escape = (v) =>
  v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** A value on one config line: refuse line breaks, which would smuggle in another directive. */
export const oneLine: Escape = (v) => {
  if (/[\r\n]/.test(v)) throw new Error(`template value may not contain a line break: ${JSON.stringify(v)}`);
  return v;
};

/**
 * Renders `{{name}}` placeholders. Every placeholder must have a value and every value
 * must be used, so a renamed field cannot silently leave a placeholder behind.
 */
export function renderTemplate(name: string, values: Record<string, string | number>, escape: Escape = oneLine): string {
  const text = readFileSync(templatePath(name), 'utf8');
  return renderText(text, values, escape, name);
}

export function renderText(text: string, values: Record<string, string | number>, escape: Escape = oneLine, name = 'template'): string {
  const used = new Set<string>();
  const out = text.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`${name}: no value for {{${key}}}`);
    used.add(key);
    return escape(String(values[key]));
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`${name}: values not used by the template: ${unused.join(', ')}`);
  return out;
}
