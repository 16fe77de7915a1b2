#!/usr/bin/env node
/**
 * Generates the simulated host's cmdlets from test/fixtures/powershell-cmdlets.json (a copy of
 * shared/data/powershell-cmdlets.json, read from Microsoft's own cmdlet reference): one
 * PowerShell function per cmdlet with the documented parameter sets, mandatory and positional
 * parameters, aliases, switches, pipeline input and, where the reference gives them, types and
 * accepted values. So PowerShell's own parameter binder judges every call a template makes, as
 * the real module would: an unknown parameter, a parameter of another set, a missing mandatory
 * value or an object of the wrong kind is refused before the simulator sees the call.
 *
 *   node test/hyperv-sim/generate.mjs OUT_DIR
 *
 * OUT_DIR/modules/<Module>/<Module>.psd1|.psm1  the Windows-only modules (Hyper-V, Storage, …),
 *                                               found by PowerShell's module autoloading
 * OUT_DIR/LabctlSimCore.psm1                    cmdlets that exist in PowerShell on Linux too
 *                                               and that the simulator must intercept (PowerShell
 *                                               Direct, registry and IIS: paths, msiexec), plus the
 *                                               Windows-only core ones (services, CIM)
 *
 * Every generated function hands its call to LabctlSim\Invoke-SimCmdlet (runtime/LabctlSim.psm1).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = path.join(here, '..', 'fixtures', 'powershell-cmdlets.json');

/** Modules that exist only on Windows: every cmdlet of theirs becomes a simulated one. */
export const WINDOWS_MODULES = [
  'Hyper-V',
  'Storage',
  'NetNat',
  'NetTCPIP',
  'NetAdapter',
  'NetSecurity',
  'Dism',
  'ServerManager',
  'WebAdministration',
  'IISAdministration',
  'DnsClient',
  'PKI',
  'CimCmdlets',
  'Microsoft.PowerShell.LocalAccounts',
];

/**
 * Cmdlets the reference data (test/fixtures/powershell-cmdlets.json) does not list, declared
 * here by hand from their own documentation pages, in the reference's shape and marked
 * `declared` with the page they were read from. Microsoft.PowerShell.LocalAccounts is a
 * Windows PowerShell 5.1 module (Windows 10 / Server 2016 and later) that the reference data
 * was not generated from; the web role's publishing user needs it. The lint of the templates
 * (test/unit/hyperv-pslint.ts) and the 5.1 check (ps51.test.ts) read these too.
 */
const LOCAL_ACCOUNTS = 'MicrosoftDocs/PowerShell-Docs reference/5.1/Microsoft.PowerShell.LocalAccounts';
const byName = 'True (ByPropertyName, ByValue)';
export const DECLARED_CMDLETS = {
  'New-LocalUser': {
    module: 'Microsoft.PowerShell.LocalAccounts',
    declared: `${LOCAL_ACCOUNTS}/New-LocalUser.md (SYNTAX: sets Password (default) and NoPassword)`,
    parameterSets: [
      ['AccountExpires', 'AccountNeverExpires', 'Description', 'Disabled', 'FullName', 'Name', 'Password', 'PasswordNeverExpires', 'UserMayNotChangePassword', 'WhatIf', 'Confirm'],
      ['AccountExpires', 'AccountNeverExpires', 'Description', 'Disabled', 'FullName', 'Name', 'NoPassword', 'UserMayNotChangePassword', 'WhatIf', 'Confirm'],
    ],
    parameterSetInfo: [
      { name: 'Password', default: true, mandatory: ['Name', 'Password'], positional: ['Name'] },
      { name: 'NoPassword', default: false, mandatory: ['Name', 'NoPassword'], positional: ['Name'] },
    ],
    switches: ['AccountNeverExpires', 'Disabled', 'NoPassword', 'PasswordNeverExpires', 'UserMayNotChangePassword'],
    parameterAliases: {},
    parameterTypes: { AccountExpires: 'System.DateTime', Description: 'System.String', FullName: 'System.String', Name: 'System.String', Password: 'System.Security.SecureString' },
    pipelineInput: { Name: byName, AccountExpires: 'True (ByPropertyName)', Description: 'True (ByPropertyName)', FullName: 'True (ByPropertyName)', Password: 'True (ByPropertyName)' },
    versions: ['5.1'],
    source: 'declared',
  },
  'Get-LocalUser': {
    module: 'Microsoft.PowerShell.LocalAccounts',
    declared: `${LOCAL_ACCOUNTS}/Get-LocalUser.md (SYNTAX: sets Default and SecurityIdentifier)`,
    parameterSets: [['Name'], ['SID']],
    parameterSetInfo: [
      { name: 'Default', default: true, mandatory: [], positional: ['Name'] },
      { name: 'SecurityIdentifier', default: false, mandatory: [], positional: ['SID'] },
    ],
    switches: [],
    parameterAliases: {},
    parameterTypes: { Name: 'System.String[]', SID: 'System.Security.Principal.SecurityIdentifier[]' },
    pipelineInput: { Name: byName, SID: byName },
    versions: ['5.1'],
    source: 'declared',
  },
  'Set-LocalUser': {
    module: 'Microsoft.PowerShell.LocalAccounts',
    declared: `${LOCAL_ACCOUNTS}/Set-LocalUser.md (SYNTAX: sets Name (default), InputObject and SecurityIdentifier)`,
    parameterSets: [
      ['AccountExpires', 'AccountNeverExpires', 'Description', 'FullName', 'Name', 'Password', 'PasswordNeverExpires', 'UserMayChangePassword', 'WhatIf', 'Confirm'],
      ['AccountExpires', 'AccountNeverExpires', 'Description', 'FullName', 'InputObject', 'Password', 'PasswordNeverExpires', 'UserMayChangePassword', 'WhatIf', 'Confirm'],
      ['AccountExpires', 'AccountNeverExpires', 'Description', 'FullName', 'Password', 'PasswordNeverExpires', 'SID', 'UserMayChangePassword', 'WhatIf', 'Confirm'],
    ],
    parameterSetInfo: [
      { name: 'Name', default: true, mandatory: ['Name'], positional: ['Name'] },
      { name: 'InputObject', default: false, mandatory: ['InputObject'], positional: ['InputObject'] },
      { name: 'SecurityIdentifier', default: false, mandatory: ['SID'], positional: ['SID'] },
    ],
    switches: ['AccountNeverExpires'],
    parameterAliases: {},
    parameterTypes: {
      AccountExpires: 'System.DateTime', Description: 'System.String', FullName: 'System.String', InputObject: 'LocalUser', Name: 'System.String',
      Password: 'System.Security.SecureString', PasswordNeverExpires: 'System.Boolean', SID: 'System.Security.Principal.SecurityIdentifier', UserMayChangePassword: 'System.Boolean',
    },
    pipelineInput: { Name: byName, InputObject: byName, SID: byName },
    versions: ['5.1'],
    source: 'declared',
  },
};

/** The reference data and the cmdlets declared above, as one cmdlet table. */
export function cmdletReference(data = JSON.parse(readFileSync(DATA, 'utf8'))) {
  return { ...data, cmdlets: { ...data.cmdlets, ...DECLARED_CMDLETS } };
}

/**
 * Core cmdlets PowerShell on Linux has, which the simulator intercepts for some arguments
 * (PowerShell Direct, HKLM:/IIS: paths, msiexec.exe) and otherwise hands to the real cmdlet.
 */
export const CORE_INTERCEPTED = [
  'Invoke-Command',
  'New-PSSession',
  'Remove-PSSession',
  'Enter-PSSession',
  'Copy-Item',
  'Start-Process',
  'Get-ItemProperty',
  'Set-ItemProperty',
  'New-ItemProperty',
  'Test-Path',
  // the host: a disk or ISO file that is open cannot be deleted; execution policies of the state
  'Remove-Item',
  'Get-ExecutionPolicy',
  // a guest: Add-Type -Path of Microsoft.Web.Management.dll (IIS's management API, a stand-in type here)
  'Add-Type',
];

/**
 * Core cmdlets that exist only in Windows PowerShell / PowerShell on Windows, and
 * Restart-Computer, which PowerShell on Linux has too but which must never act on this machine.
 */
export const CORE_WINDOWS_ONLY = ['Get-Service', 'Set-Service', 'Start-Service', 'Stop-Service', 'Restart-Service', 'Restart-Computer'];

/** .NET types PowerShell on Linux has, by the short or full name the reference writes. */
const PRIMITIVES = {
  String: 'string',
  Int16: 'int16',
  Int32: 'int',
  Int64: 'long',
  UInt16: 'uint16',
  UInt32: 'uint32',
  UInt64: 'uint64',
  Byte: 'byte',
  SByte: 'sbyte',
  Char: 'char',
  Double: 'double',
  Single: 'single',
  Decimal: 'decimal',
  Boolean: 'bool',
  Guid: 'guid',
  Hashtable: 'hashtable',
  'Collections.Hashtable': 'hashtable',
  IDictionary: 'System.Collections.IDictionary',
  'Collections.IDictionary': 'System.Collections.IDictionary',
  Object: 'object',
  PSObject: 'psobject',
  'Management.Automation.PSObject': 'psobject',
  DateTime: 'datetime',
  TimeSpan: 'timespan',
  Uri: 'uri',
  SecureString: 'securestring',
  'Security.SecureString': 'securestring',
  PSCredential: 'pscredential',
  'Management.Automation.PSCredential': 'pscredential',
  ScriptBlock: 'scriptblock',
  'Management.Automation.ScriptBlock': 'scriptblock',
  'Text.Encoding': 'object',
  IPAddress: 'ipaddress',
  'Net.IPAddress': 'ipaddress',
};

/** Hyper-V object types: checked by PSTypeName, the way the real module's objects are typed. */
const HYPERV_TYPES = new Set([
  'VirtualMachine',
  'VMSnapshot',
  'VMSwitch',
  'VMNetworkAdapterBase',
  'VMNetworkAdapter',
  'HardDiskDrive',
  'DvdDrive',
  'VMDriveController',
  'VMComPort',
  'VMIntegrationComponent',
  'VMGroup',
  'VMFirmware',
  'VMHost',
  'VirtualMachineBase',
]);

/**
 * CIM parameters, typed only "CimInstance" in the reference; the real cdxml modules type them
 * by class (e.g. CimInstance#MSFT_Partition), which is how one pipeline object picks one set.
 * Parameter name -> class; InputObject takes the class of the cmdlet's noun.
 */
const CIM_CLASS_BY_PARAM = {
  Disk: 'MSFT_Disk',
  Partition: 'MSFT_Partition',
  Volume: 'MSFT_Volume',
  VirtualDisk: 'MSFT_VirtualDisk',
  StoragePool: 'MSFT_StoragePool',
  StorageSubSystem: 'MSFT_StorageSubSystem',
  StorageNode: 'MSFT_StorageNode',
  StorageJob: 'MSFT_StorageJob',
  PhysicalDisk: 'MSFT_PhysicalDisk',
  DiskImage: 'MSFT_DiskImage',
  iSCSISession: 'MSFT_iSCSISession',
  iSCSIConnection: 'MSFT_iSCSIConnection',
  AssociatedNetFirewallRule: 'MSFT_NetFirewallRule',
  AssociatedNetFirewallPortFilter: 'MSFT_NetProtocolPortFilter',
  // NetSecurity's other pipeline inputs, by the CIM classes of its cdxml: untyped, each of them
  // would take a firewall rule too, and `$rule | Get-NetFirewallPortFilter` would be ambiguous
  AssociatedNetIPsecRule: 'MSFT_NetConSecRule',
  AssociatedNetFirewallAddressFilter: 'MSFT_NetAddressFilter',
  AssociatedNetFirewallApplicationFilter: 'MSFT_NetApplicationFilter',
  AssociatedNetFirewallInterfaceFilter: 'MSFT_NetInterfaceFilter',
  AssociatedNetFirewallInterfaceTypeFilter: 'MSFT_NetInterfaceTypeFilter',
  AssociatedNetFirewallSecurityFilter: 'MSFT_NetNetworkLayerSecurityFilter',
  AssociatedNetFirewallServiceFilter: 'MSFT_NetServiceFilter',
  AssociatedNetFirewallProfile: 'MSFT_NetFirewallProfile',
};
const CIM_CLASS_BY_NOUN = {
  Disk: 'MSFT_Disk',
  Partition: 'MSFT_Partition',
  Volume: 'MSFT_Volume',
  DiskImage: 'MSFT_DiskImage',
  PartitionAccessPath: 'MSFT_Partition',
  NetIPAddress: 'MSFT_NetIPAddress',
  NetIPInterface: 'MSFT_NetIPInterface',
  NetRoute: 'MSFT_NetRoute',
  NetNeighbor: 'MSFT_NetNeighbor',
  NetNat: 'MSFT_NetNat',
  NetAdapter: 'MSFT_NetAdapter',
  NetFirewallRule: 'MSFT_NetFirewallRule',
  NetFirewallPortFilter: 'MSFT_NetProtocolPortFilter',
  DnsClientServerAddress: 'MSFT_DNSClientServerAddress',
};
export const CIM_PREFIX = 'Microsoft.Management.Infrastructure.CimInstance#';
export const HYPERV_PREFIX = 'Microsoft.HyperV.PowerShell.';

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

function stripSystem(type) {
  return type.replace(/^System\./, '');
}

/** The PowerShell type constraint for one documented parameter type. */
export function typeConstraint(cmdlet, param, docType, accepted) {
  if (!docType) return { attrs: [], type: '' };
  let t = stripSystem(docType.trim());
  const array = t.endsWith('[]');
  if (array) t = t.slice(0, -2);
  if (t === 'SwitchParameter' || t === 'Management.Automation.SwitchParameter') return { attrs: [], type: '[switch]' };
  const arr = array ? '[]' : '';
  if (PRIMITIVES[t]) return { attrs: [], type: `[${PRIMITIVES[t]}${arr}]` };
  if (t === 'Management.Automation.Runspaces.PSSession') {
    return { attrs: [`[PSTypeName('System.Management.Automation.Runspaces.PSSession')]`], type: `[object${arr}]` };
  }
  if (HYPERV_TYPES.has(t)) return { attrs: [`[PSTypeName('${HYPERV_PREFIX}${t}')]`], type: `[object${arr}]` };
  if (t === 'CimInstance' || t === 'Microsoft.Management.Infrastructure.CimInstance') {
    const noun = cmdlet.split('-').slice(1).join('-');
    // a CIM parameter of a class not listed is typed by its name (MSFT_StorageFileServer for
    // -StorageFileServer): left untyped it would take any object from the pipeline, and
    // `Get-DiskImage | Get-Volume` would be ambiguous between -DiskImage and -StorageFileServer
    const cls = CIM_CLASS_BY_PARAM[param] ?? (param === 'InputObject' ? CIM_CLASS_BY_NOUN[noun] : `MSFT_${param.replace(/^Associated/, '')}`);
    if (cls) return { attrs: [`[PSTypeName('${CIM_PREFIX}${cls}')]`], type: `[object${arr}]` };
    return { attrs: [], type: `[object${arr}]` };
  }
  // an enum or a class this machine lacks: its documented values, when the reference lists them
  if (accepted && accepted.length > 0) {
    return { attrs: [`[ValidateSet(${accepted.map(q).join(', ')})]`], type: `[string${arr}]` };
  }
  return { attrs: [], type: `[object${arr}]` };
}

/** Parameter sets with provider variants of one set ("Path - FileSystem provider") merged. */
function mergedSets(c) {
  const sets = [];
  const byName = new Map();
  c.parameterSets.forEach((params, i) => {
    const info = c.parameterSetInfo?.[i] ?? { name: null, default: false, mandatory: [], positional: [] };
    const base = info.name ? info.name.replace(/\s+-\s+.*provider.*$/i, '').trim() : `Set${i + 1}`;
    const existing = byName.get(base);
    if (existing) {
      for (const p of params) if (!existing.params.includes(p)) existing.params.push(p);
      existing.mandatory = existing.mandatory.filter((m) => info.mandatory.includes(m));
      existing.isDefault ||= info.default;
      return;
    }
    const set = { name: base, params: [...params], mandatory: [...info.mandatory], positional: [...info.positional], isDefault: info.default };
    byName.set(base, set);
    sets.push(set);
  });
  return sets;
}

const COMMON = new Set(['WhatIf', 'Confirm']);

/** One function with the cmdlet's documented parameters. */
export function renderFunction(name, c, body) {
  const sets = mergedSets(c);
  const shouldProcess = sets.some((s) => s.params.includes('WhatIf') || s.params.includes('Confirm'));
  const switches = new Set(c.switches ?? []);
  const types = c.parameterTypes ?? {};
  const aliases = c.parameterAliases ?? {};
  const accepted = c.acceptedValues ?? {};
  const pipeline = c.pipelineInput ?? {};
  const order = [];
  for (const s of sets) for (const p of s.params) if (!COMMON.has(p) && !order.includes(p)) order.push(p);
  const onlyOne = sets.length === 1;
  const defaultSet = sets.find((s) => s.isDefault)?.name ?? sets[0]?.name;
  const lines = [];
  lines.push(`function ${name} {`);
  const binding = [`DefaultParameterSetName = ${q(defaultSet ?? '__AllParameterSets')}`];
  if (shouldProcess) binding.push('SupportsShouldProcess = $true');
  lines.push(`  [CmdletBinding(${binding.join(', ')})]`);
  lines.push('  param(');
  const params = [];
  for (const p of order) {
    const attrs = [];
    for (const s of sets) {
      if (!s.params.includes(p)) continue;
      const parts = [];
      if (!onlyOne || sets.length > 1) parts.push(`ParameterSetName = ${q(s.name)}`);
      if (s.mandatory.includes(p)) parts.push('Mandatory = $true');
      const pos = s.positional.indexOf(p);
      if (pos >= 0 && !switches.has(p)) parts.push(`Position = ${pos}`);
      const pipe = pipeline[p] ?? '';
      if (/ByValue/.test(pipe)) parts.push('ValueFromPipeline = $true');
      if (/ByPropertyName/.test(pipe)) parts.push('ValueFromPipelineByPropertyName = $true');
      attrs.push(`    [Parameter(${parts.join(', ')})]`);
    }
    const al = (aliases[p] ?? []).filter((a) => a.toLowerCase() !== p.toLowerCase());
    if (al.length) attrs.push(`    [Alias(${al.map(q).join(', ')})]`);
    const tc = switches.has(p) ? { attrs: [], type: '[switch]' } : typeConstraint(name, p, types[p], accepted[p]);
    for (const a of tc.attrs) attrs.push(`    ${a}`);
    params.push(`${attrs.join('\n')}\n    ${tc.type}$${p}`);
  }
  lines.push(params.join(',\n'));
  lines.push('  )');
  lines.push(body);
  lines.push('}');
  return lines.join('\n');
}

const simBody = (name, module) =>
  `  process { LabctlSim\\Invoke-SimCmdlet -Name ${q(name)} -Module ${q(module)} -Cmdlet $PSCmdlet -Bound $PSBoundParameters }`;

/** Intercepted core cmdlets: the simulator decides, else the real cmdlet runs with the same arguments. */
const interceptBody = (name, module) => `  process {
    if (LabctlSim\\Test-SimIntercept -Name ${q(name)} -Bound $PSBoundParameters) {
      LabctlSim\\Invoke-SimCmdlet -Name ${q(name)} -Module ${q(module)} -Cmdlet $PSCmdlet -Bound $PSBoundParameters
    } else {
      # the real cmdlet, with the preference of the script that called (not of the global scope)
      if (-not $PSBoundParameters.ContainsKey('ErrorAction')) { $ErrorActionPreference = $PSCmdlet.SessionState.PSVariable.GetValue('ErrorActionPreference') }
      $real = Get-Command -Name ${q(`${module}\\${name}`)} -CommandType Cmdlet
      & $real @PSBoundParameters
    }
  }`;

export function generate(outDir, data = cmdletReference()) {
  const cmdlets = data.cmdlets;
  rmSync(outDir, { recursive: true, force: true });
  const byModule = new Map();
  for (const [name, c] of Object.entries(cmdlets)) {
    if (!WINDOWS_MODULES.includes(c.module)) continue;
    if (!byModule.has(c.module)) byModule.set(c.module, []);
    byModule.get(c.module).push(name);
  }
  const header = (what) =>
    `# GENERATED by test/hyperv-sim/generate.mjs from test/fixtures/powershell-cmdlets.json (${what}); do not edit.\nSet-StrictMode -Off\n`;
  for (const [module, names] of byModule) {
    const dir = path.join(outDir, 'modules', module);
    mkdirSync(dir, { recursive: true });
    const fns = names.sort().map((n) => renderFunction(n, cmdlets[n], simBody(n, module)));
    writeFileSync(path.join(dir, `${module}.psm1`), `${header(`module ${module}`)}\n${fns.join('\n\n')}\n\nExport-ModuleMember -Function ${names.map(q).join(', ')}\n`);
    writeFileSync(
      path.join(dir, `${module}.psd1`),
      `@{\n  RootModule = '${module}.psm1'\n  ModuleVersion = '1.0.0'\n  GUID = '${guidFor(module)}'\n  Description = 'labctl simulated ${module}'\n  FunctionsToExport = @(${names.map(q).join(', ')})\n  CmdletsToExport = @()\n  AliasesToExport = @()\n  VariablesToExport = @()\n}\n`,
    );
  }
  const core = [];
  for (const n of CORE_INTERCEPTED) {
    const c = cmdlets[n];
    if (!c) throw new Error(`${n} is not in the cmdlet reference`);
    core.push(renderFunction(n, c, interceptBody(n, c.module)));
  }
  for (const n of CORE_WINDOWS_ONLY) {
    const c = cmdlets[n];
    if (!c) throw new Error(`${n} is not in the cmdlet reference`);
    core.push(renderFunction(n, c, simBody(n, c.module)));
  }
  const all = [...CORE_INTERCEPTED, ...CORE_WINDOWS_ONLY];
  writeFileSync(path.join(outDir, 'LabctlSimCore.psm1'), `${header('core cmdlets')}\n${core.join('\n\n')}\n\nExport-ModuleMember -Function ${all.map(q).join(', ')}\n`);
  return { modules: [...byModule.keys()], core: all };
}

function guidFor(text) {
  let h = 0n;
  for (const ch of text) h = (h * 131n + BigInt(ch.codePointAt(0))) % 2n ** 128n;
  const hex = h.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node test/hyperv-sim/generate.mjs OUT_DIR');
    process.exit(2);
  }
  const r = generate(path.resolve(out));
  console.log(`generated ${r.modules.length} modules and ${r.core.length} core cmdlets in ${out}`);
}
