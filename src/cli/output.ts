let jsonErrors = false;

export function setJsonErrorMode(on: boolean): void {
  jsonErrors = on;
}

export function jsonMode(): boolean {
  return jsonErrors;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
