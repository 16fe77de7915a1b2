/**
 * An execution policy set by Group Policy (MachinePolicy or UserPolicy) overrides the
 * -ExecutionPolicy Bypass labctl starts Windows PowerShell with (about_Execution_Policies), so
 * under AllSigned or Restricted Windows refuses labctl's first script outright: the wrapper
 * never writes its answer and PowerShell's refusal is all the session prints. Preflight then
 * says what happened and what to do, instead of "PowerShell gave no answer". (When the policy
 * still lets the scripts run, preflight.ps1 reports it and preflightProblems decides: the
 * simulated host's test covers that, host-templates.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { HypervProvider } from '../../src/providers/hyperv/index.js';
import { executionPolicyProblem } from '../../src/providers/hyperv/preflight.js';
import { FramedRunner, type LineChannel } from '../../src/transports/powershell.js';
import { PreflightError } from '../../src/util/errors.js';
import { testLab, type TestLab } from './hyperv-fakes.js';

const labs: TestLab[] = [];
after(() => labs.forEach((l) => l.cleanup()));

/** What powershell.exe prints when the policy refuses the wrapper script. */
const REFUSAL = [
  '& : File C:\\labctl\\templates\\hyperv\\_invoke.ps1 cannot be loaded. The file C:\\labctl\\templates\\hyperv\\_invoke.ps1 is not digitally signed. You cannot run this script on the current system. For more information about running scripts and setting execution policy, see about_Execution_Policies at https:/go.microsoft.com/fwlink/?LinkID=135170.',
  '    + CategoryInfo          : SecurityError: (:) [], PSSecurityException',
  '    + FullyQualifiedErrorId : UnauthorizedAccess',
].join('\r\n');

test('a preflight script refused by the execution policy: the problem and its fix, not "no answer"', async () => {
  const l = testLab();
  labs.push(l);
  const channel: LineChannel = { send: async () => ({ stdout: 'PS> ', stderr: REFUSAL }), reset: async () => {} };
  const provider = new HypervProvider({ runner: new FramedRunner(channel) });
  const err = await provider.preflight(l.lab).catch((e) => e);
  assert.ok(err instanceof PreflightError, String(err));
  assert.match(err.message, /execution policy set by Group Policy \(MachinePolicy or UserPolicy scope\) overrides the -ExecutionPolicy Bypass/);
  assert.match(err.message, /Get-ExecutionPolicy -List/);
  assert.match(err.details.join('\n'), /is not digitally signed/);
});

test('which Group Policy execution policies stop labctl', () => {
  const p = (machinePolicy: string, userPolicy = 'Undefined') => executionPolicyProblem({ machinePolicy, userPolicy, process: 'Bypass', effective: machinePolicy });
  assert.match(p('AllSigned')!, /AllSigned \(MachinePolicy scope\)/);
  assert.match(p('Undefined', 'Restricted')!, /Restricted \(UserPolicy scope\)/);
  assert.equal(p('RemoteSigned'), undefined, 'labctl\'s own files are local: RemoteSigned runs them');
  assert.equal(p('Unrestricted'), undefined);
  assert.equal(p('Undefined'), undefined);
  assert.equal(executionPolicyProblem(undefined), undefined);
});
