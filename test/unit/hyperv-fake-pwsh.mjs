#!/usr/bin/env node
// A stand-in for powershell.exe with `-Command -`, enough for labctl's
// runner: it reads stdin line by line, answers the end-marker lines
// ([Console]::Out/Error.WriteLine("...")), and plays templates/hyperv/_invoke.ps1 for
// labctl's invocation lines: decode, "run" the script (it echoes its parameters back, or
// fails when a parameter Fail is given), frame the answer. Anything else it prints to stderr.
//
// Lines are handled one at a time with a short pause, as a real PowerShell takes time to
// run each. With FAKE_PWSH_VT=1 it is instant and behaves as PowerShell 7 does on Linux: each
// time it reads its next line it writes the escape codes ESC[?1h ESC[?1l to stdout, so a whole
// call arrives in one read with bytes after its end marker (node-powershell missed its second
// delimiter then and waited for ever: test/unit/hyperv-powershell.test.ts).
import { createInterface } from 'node:readline';
import { setTimeout as pause } from 'node:timers/promises';

const OUT = /^\[Console\]::Out\.WriteLine\("(.*)"\)$/;
const ERR = /^\[Console\]::Error\.WriteLine\("(.*)"\)$/;
const CALL = /^& \(\[System\.Text\.Encoding\]::UTF8\.GetString\(\[System\.Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\) -Request '([A-Za-z0-9+/=]*)'$/;

const rl = createInterface({ input: process.stdin });
let queue = Promise.resolve();
const vt = process.env.FAKE_PWSH_VT === '1';
rl.on('line', (line) => {
  queue = queue.then(async () => {
    if (!vt) await pause(15);
    // a call with a parameter Hang never returns, like a cmdlet stuck on a locked file
    if (CALL.test(line) && JSON.parse(Buffer.from(CALL.exec(line)[2], 'base64').toString('utf8')).params.Hang) await new Promise(() => {});
    handle(line);
    if (vt) process.stdout.write('\x1b[?1h\x1b[?1l');
  });
});
rl.on('close', () => queue.then(() => process.exit(0)));

function handle(line) {
  let m;
  if ((m = OUT.exec(line))) process.stdout.write(`${m[1]}\r\n`);
  else if ((m = ERR.exec(line))) process.stderr.write(`${m[1]}\r\n`);
  else if ((m = CALL.exec(line))) {
    const wrapper = Buffer.from(m[1], 'base64').toString('utf8');
    const request = JSON.parse(Buffer.from(m[2], 'base64').toString('utf8'));
    process.stdout.write('WARNING: a warning the host printed\r\n');
    const failed = request.params.Fail !== undefined;
    const answer = {
      id: request.id,
      ok: !failed,
      result: failed ? null : { wrapper, script: request.script, params: request.params, pid: process.pid },
      logs: ['information: hello'],
      error: failed ? { message: String(request.params.Fail), position: 'At line:3 char:1' } : null,
    };
    const payload = Buffer.from(JSON.stringify(answer), 'utf8').toString('base64');
    process.stdout.write(`<<labctl:${request.id}:begin>>${payload}<<labctl:${request.id}:end>>\r\n`);
  } else if (line.trim() === 'exit') process.exit(0);
  else if (line.trim()) process.stderr.write(`unexpected: ${line}\r\n`);
}
