/**
 * The whole Windows web role (webWindowsSteps, through labctl's Hyper-V provider and the engine's
 * runSteps with deploy's concurrency) against simulated Windows guests in real PowerShell 7:
 * IIS and its features, WMSvc, the four MSIs copied in from the host's package cache (small
 * stand-ins pinned by sha256: nothing is downloaded), the chat site — published here with
 * hyperv.publish: copy (over PowerShell Direct); Web Deploy publishing, the default, has its own
 * tests (guest-webdeploy.test.ts, and end to end through the CLI in webdeploy.test.ts).
 *
 * The app itself does not run in the simulator (iisnode and node are files here, not
 * processes): the role's health check is a stub that answers once the site is published. A
 * later bridge will run the app for real behind the simulated IIS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { planSteps, runSteps, type RunEvent } from '../../src/engine/runner.js';
import type { Step } from '../../src/engine/step.js';
import { SITE } from '../../src/roles/web-windows/index.js';
import { SimHost } from './host.js';
import { guestState, rebootGuest, simLab, type SimLab } from './guest-helpers.js';

const REDIS: Step = { id: 'redis:redis:service', title: 'Redis (not part of this test)', apply: async () => {} };

let host: SimHost;
let l: SimLab;
before(() => {
  host = new SimHost({ timing: { bootSeconds: 0.5, msiSeconds: 0.6 } });
  // the health check is simLab's stub: the chat site started in the guest's IIS
  l = simLab(host, { publish: 'copy' });
});
after(async () => {
  await host?.dispose();
  l?.cleanup();
});

const roleSteps = (machines: string[], change: (s: Step) => Step = (s) => s): Step[] => [
  REDIS,
  ...machines.flatMap((m) => l.provider.webSteps(l.lab, l.machine(m), REDIS.id)!.map(change)),
];

/** [start, end] of every MSI step, by machine */
function msiWindows(events: RunEvent[]): Map<string, [string, number, number][]> {
  const started = new Map<string, number>();
  const out = new Map<string, [string, number, number][]>();
  for (const e of events) {
    if (!/^web:[^:]+:msi:/.test(e.step.id)) continue;
    if (e.type === 'start') started.set(e.step.id, (e as any).at);
    if (e.type === 'done' || e.type === 'fail') {
      const m = e.step.id.split(':')[1]!;
      out.set(m, [...(out.get(m) ?? []), [e.step.id, started.get(e.step.id)!, (e as any).at]]);
    }
  }
  return out;
}

const record = (events: RunEvent[]) => (e: RunEvent) => {
  if (e.type !== 'log' && e.type !== 'progress') events.push({ ...e, at: Date.now() } as RunEvent);
};

describe('the Windows web role on simulated guests, through the engine (hyperv.publish: copy)', () => {
  test('web1 and web2 deploy with deploy\'s concurrency: the MSIs of one guest one at a time (msiexec allows one install per machine), a re-run applies nothing', async () => {
    l.addGuest('web1');
    l.addGuest('web2');
    const events: RunEvent[] = [];
    const r = await runSteps(roleSteps(['web1', 'web2']), { store: l.lab.store, onEvent: record(events) });
    const expected = ['iis', 'wmsvc', 'msi:webdeploy', 'msi:rewrite', 'msi:node', 'msi:iisnode', 'app'];
    for (const m of ['web1', 'web2']) {
      for (const s of expected) assert.ok(r.applied.includes(`web:${m}:${s}`), `web:${m}:${s} applied`);
      // the health stub answers as soon as the site is published: the check finds it done
      assert.ok(r.skipped.includes(`web:${m}:service`) || r.applied.includes(`web:${m}:service`));
    }

    for (const [m, windows] of msiWindows(events)) {
      const sorted = windows.sort((a, b) => a[1] - b[1]);
      for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i]![1] >= sorted[i - 1]![2], `${m}: ${sorted[i]![0]} started before ${sorted[i - 1]![0]} ended`);
    }

    for (const vm of [l.vm('web1'), l.vm('web2')]) {
      const g = guestState(host, vm);
      assert.deepEqual(Object.keys(g.msi.installed).sort(), ['iisnode', 'node', 'rewrite', 'webdeploy']);
      assert.ok(g.msi.installed.webdeploy.features.includes('MSDeployWMSVCHandlerFeature'), 'Web Deploy after WMSVC has its handler');
      assert.deepEqual(g.iis.globalModules.sort(), ['RewriteModule', 'iisnode']);
      const site = g.iis.sites.find((s: any) => s.name === SITE);
      assert.equal(site.state, 'Started');
      assert.match(site.physicalPath, /^C:\\labctl\\app\\[0-9a-f]{12}$/);
      assert.deepEqual([g.services.wmsvc.status, g.services.wmsvc.startType, g.services.wmsvc.running.remoteManagement], ['Running', 'Automatic', true]);
    }

    const again = await runSteps(roleSteps(['web1', 'web2']), { store: l.lab.store });
    assert.deepEqual(again.applied, []);
  });

  test('after web1 restarts, plan finds the whole role still done (the chat site has port 80, WMSvc came back)', async () => {
    // web1 as the first test left it
    rebootGuest(host, l.vm('web1'));
    const plan = await planSteps(roleSteps(['web1']), l.lab.store);
    const todo = plan.filter((p) => p.status !== 'done').map((p) => `${p.id}: ${p.reason}`);
    assert.deepEqual(todo, []);
    assert.equal(guestState(host, l.vm('web1')).boot.count, 2);
  });

  test('without a step\'s exclusive key the MSI steps of one guest run at once and one of them fails with 1618', async () => {
    l.addGuest('web1');
    const stripped = roleSteps(['web1'], (s) => {
      const { exclusive: _drop, ...rest } = s;
      return rest as Step;
    });
    // an install takes 3 s here: long beside the moment between the two steps' starts, whatever the load
    host.update((s) => (s.config.timing.msiSeconds = 3));
    try {
      await assert.rejects(runSteps(stripped, { store: l.lab.store }), (e: Error) => {
        assert.match(e.message, /install-msi\.ps1 on labctl-simweb-web1: msiexec .* exited with 1618 \(another installation is already in progress\)/);
        return true;
      });
    } finally {
      host.update((s) => (s.config.timing.msiSeconds = 0.6));
    }
  });
});

describe('the web role on a Windows VM that labctl created on the simulated host', () => {
  test('create (network, base image from the ISO, VM, unattend.xml, first boot through setup) then the whole role: the guest is the one Windows setup made', async () => {
    const h = new SimHost({ timing: { bootSeconds: 0.2, heartbeatSeconds: 0.2, installSeconds: 0.4, setupSeconds: 0.3, shutdownSeconds: 0.1, msiSeconds: 0.2, isoLetterSeconds: 0.2, adapterSeconds: 0.2 } });
    const lab = simLab(h, { publish: 'copy' });
    try {
      h.putWindowsIso('C:\\iso\\windows-server-2022.iso');
      // labctl's own create steps for the network, the base image and web1 (the Ubuntu VM and web2
      // are not needed here, nor the Ubuntu golden disk: this host has no Ubuntu ISO)
      lab.lab.imageCache = false;
      const create = lab.provider.createSteps(lab.lab).filter((s) => !/^machine:(redis|web2):/.test(s.id));
      await runSteps(create, { store: lab.lab.store });
      const g = guestState(h, lab.vm('web1'));
      assert.deepEqual([g.os, g.phase, g.computerName], ['windows', 'ready', 'WEB1'], 'Windows setup finished from the injected unattend.xml');
      assert.equal(g.initialized, true, 'PowerShell Direct answered the ready probe inside the guest');

      const r = await runSteps([REDIS, ...lab.provider.webSteps(lab.lab, lab.machine('web1'), REDIS.id)!], { store: lab.lab.store });
      for (const s of ['iis', 'wmsvc', 'msi:webdeploy', 'msi:rewrite', 'msi:node', 'msi:iisnode', 'app']) assert.ok(r.applied.includes(`web:web1:${s}`), s);
      const after = guestState(h, lab.vm('web1'));
      assert.equal(after.iis.sites.find((s: any) => s.name === SITE).state, 'Started');
      assert.equal(after.drives.C, g.drives.C, "the role's files are on the system partition setup made");
    } finally {
      await h.dispose();
      lab.cleanup();
    }
  });
});
