import { MAX_NAME_LENGTH, MAX_TEXT_LENGTH, type Refusal, type RefusalCode } from './protocol.js';

export type Checked<T> = { ok: true; value: T } | Refusal;

function refuse(code: RefusalCode, error: string): Refusal {
  return { ok: false, code, error };
}

// Control characters in a name would let one sender fake line breaks or hide text in other
// people's message lists, even though the page renders everything as text.
const CONTROL = /\p{Cc}/u;

export function checkName(raw: unknown): Checked<string> {
  if (typeof raw !== 'string') return refuse('bad_request', 'The name must be text.');
  const name = raw.trim();
  if (name.length === 0) return refuse('empty', 'Please enter a name.');
  if (name.length > MAX_NAME_LENGTH) {
    return refuse('too_long', `Names are limited to ${MAX_NAME_LENGTH} characters.`);
  }
  if (CONTROL.test(name)) return refuse('bad_request', 'The name contains control characters.');
  return { ok: true, value: name };
}

/**
 * The text is kept exactly as sent (no trimming or normalising): what a sender typed is what every
 * receiver gets, byte for byte. Only a message that is nothing but white space counts as empty.
 */
export function checkChat(raw: unknown): Checked<string> {
  if (typeof raw !== 'object' || raw === null || typeof (raw as { text?: unknown }).text !== 'string') {
    return refuse('bad_request', 'A message must be { text: string }.');
  }
  const text = (raw as { text: string }).text;
  if (text.trim().length === 0) return refuse('empty', 'Empty messages are not sent.');
  if (text.length > MAX_TEXT_LENGTH) {
    return refuse(
      'too_long',
      `Message not sent: ${text.length} characters, the limit is ${MAX_TEXT_LENGTH}.`,
    );
  }
  return { ok: true, value: text };
}
