#!/usr/bin/env node
// A stand-in for powershell.exe with `-Command -`, enough for node-powershell and labctl's
// runner: it reads stdin line by line, answers node-powershell's delimiter lines
// ([Console]::Out/Error.WriteLine("...")), and plays templates/hyperv/_invoke.ps1 for
// labctl's invocation lines: decode, "run" the script (it echoes its parameters back, or
// fails when a parameter Fail is given), frame the answer. Anything else it prints to stderr.
//
// Lines are handled one at a time with a short pause, as a real PowerShell takes time to
// run each: node-powershell finds the end of a call by its delimiter arriving in a later
// read than the first one, and an instant shell would deliver both in one read.
import { createInterface } from 'node:readline';
import { setTimeout as pause } from 'node:timers/promises';

const OUT = /^\[Console\]::Out\.WriteLine\("(.*)"\)$/;
const ERR = /^\[Console\]::Error\.WriteLine\("(.*)"\)$/;
const CALL = /^& \(\[System\.Text\.Encoding\]::UTF8\.GetString\(\[System\.Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\) -Request '([A-Za-z0-9+/=]*)'$/;

const rl = createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on('line', (line) => {
  queue = queue.then(async () => {
    await pause(15);
    // a call with a parameter Hang never returns, like a cmdlet stuck on a locked file
    if (CALL.test(line) && JSON.parse(Buffer.from(CALL.exec(line)[2], 'base64').toString('utf8')).params.Hang) await new Promise(() => {});
    handle(line);
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
