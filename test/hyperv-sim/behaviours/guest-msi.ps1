# Windows Installer inside a guest: the native msiexec.exe (also through Start-Process
# -FilePath msiexec.exe -ArgumentList ... -Wait -PassThru) and icacls.exe.
#
# A simulated installer package is a small file whose first line reads
#   LABCTL-SIM-MSI <product> {"exitCode": 0}
# (product: webdeploy, rewrite, node, iisnode; the JSON is optional). What each one installs is
# below: the files labctl's checks look for, as real files in the guest's C: folder.
#
# msiexec's exit codes (Microsoft Learn "MsiExec.exe and InstMsi.exe Error Messages",
# MicrosoftDocs/win32 desktop-src/Msi/error-codes.md):
#   0     ERROR_SUCCESS; 3010 ERROR_SUCCESS_REBOOT_REQUIRED (a package that says so)
#   1603  ERROR_INSTALL_FAILURE "A fatal error occurred during installation."
#   1618  ERROR_INSTALL_ALREADY_RUNNING "Another installation is already in progress." — one
#         install per machine (the _MSIExecute mutex): an install holds the guest for
#         timing.msiSeconds (and while config.failures.msiHold names the VM), taking the state
#         at its start and its end and sleeping in between, so a second session that starts
#         one meanwhile gets 1618
#   1619  ERROR_INSTALL_PACKAGE_OPEN_FAILED (no such package file)
#   1620  ERROR_INSTALL_PACKAGE_INVALID (a file that is not a package)
#   1622  ERROR_INSTALL_LOG_FAILURE "There was an error opening installation log file. Verify that
#         the specified log file location exists and is writable." — msiexec does not create the
#         folder of its /L log: a missing folder ends it before anything is installed
#   1639  ERROR_INVALID_COMMAND_LINE
# The command line is the one Windows would build: Start-Process joins -ArgumentList with
# spaces (quotes are the caller's), a direct call quotes arguments that contain spaces.

$script:SimMsiProducts = @{
  webdeploy = @{
    name = 'Microsoft Web Deploy 3.6'; version = '3.1238.1962'; manufacturer = 'Microsoft Corporation'
    files = @('Program Files\IIS\Microsoft Web Deploy V3\msdeploy.exe', 'Program Files\IIS\Microsoft Web Deploy V3\Microsoft.Web.Deployment.dll')
    features = @('MSDeployFeature', 'MSDeployAgentFeature', 'MSDeployUIFeature', 'DelegationUIFeature', 'MSDeployWMSVCHandlerFeature')
    defaultFeatures = @('MSDeployFeature', 'MSDeployUIFeature')
  }
  rewrite = @{
    name = 'IIS URL Rewrite Module 2'; version = '7.2.1993'; manufacturer = 'Microsoft Corporation'
    files = @('Windows\System32\inetsrv\rewrite.dll', 'Windows\System32\inetsrv\config\schema\rewrite_schema.xml')
    features = @('DefaultFeature'); defaultFeatures = @('DefaultFeature'); module = 'RewriteModule'
  }
  node = @{
    name = 'Node.js'; version = '22.12.0'; manufacturer = 'Node.js Foundation'
    files = @('Program Files\nodejs\node.exe', 'Program Files\nodejs\npm.cmd', 'Program Files\nodejs\npx.cmd')
    features = @('NodeRuntime', 'corepack', 'npm', 'DocumentationShortcuts', 'EnvironmentPath'); defaultFeatures = @('NodeRuntime', 'corepack', 'npm', 'DocumentationShortcuts', 'EnvironmentPath')
  }
  iisnode = @{
    name = 'iisnode for iis 7.x (x64) full'; version = '0.2.26'; manufacturer = 'Tomasz Janczuk'
    files = @('Program Files\iisnode\iisnode.dll', 'Program Files\iisnode\interceptor.js', 'Program Files\iisnode\LICENSE.txt', 'Windows\System32\inetsrv\config\schema\iisnode_schema.xml')
    features = @('iisnode4iis'); defaultFeatures = @('iisnode4iis'); module = 'iisnode'
  }
}

<#
  The Management Service delegation rules a full install of Web Deploy with its WMSVC handler
  sets up: "AddDelegationRules.ps1 ... is run automatically at setup time by the installer during
  a full install" (iis-docs iis/publish/using-web-deploy/powershell-scripts-for-automating-web-
  deploy-setup.md), creating local accounts for the runAs identities of some rules (v3 readme:
  "the Web Deploy installer and the .\AddDelegationRules.ps1 script creates local machine user
  accounts and sets them as the runAs identity on certain delegation rules"). The rule that
  matters for publishing is "Deploy Applications with Content": the contentPath and iisApp
  providers, for every WMSVC-authorized user, within that user's scope ({userScope}, path prefix)
  (iis-docs configure-the-web-deployment-handler.md, Part 2). Kept in $g.iis.delegation.
#>
function Add-SimWebDeployDelegation([hashtable]$g) {
  Initialize-SimIis $g
  $g.iis.delegation = @(
    @{ providers = @('contentPath', 'iisApp'); actions = '*'; path = '{userScope}'; pathType = 'PathPrefix'; runAs = 'CurrentUser'; users = '*' }
    @{ providers = @('setAcl'); actions = '*'; path = '{userScope}'; pathType = 'PathPrefix'; runAs = 'CurrentUser'; users = '*' }
    @{ providers = @('createApp'); actions = '*'; path = '{userScope}'; pathType = 'PathPrefix'; runAs = 'WDeployConfigWriter'; users = '*' }
    @{ providers = @('recycleApp'); actions = '*'; path = '{userScope}'; pathType = 'PathPrefix'; runAs = 'WDeployAdmin'; users = '*' }
  )
  $users = Get-SimGuestUsers $g
  foreach ($n in @('WDeployConfigWriter', 'WDeployAdmin')) {
    if ($null -eq $users[$n.ToLowerInvariant()]) {
      $users[$n.ToLowerInvariant()] = @{ name = $n; password = [guid]::NewGuid().ToString('N') + 'aA1!'; enabled = $true; description = 'Web Deploy delegation rule runAs account'; fullName = ''; passwordNeverExpires = $true; userMayChangePassword = $false; groups = @($(if ($n -eq 'WDeployAdmin') { 'Administrators' } else { 'Users' })); sid = ('S-1-5-21-1004336348-1177238915-682003330-{0}' -f (900 + $users.Count)) }
    }
  }
}

<# Splits a Windows command line as msiexec reads it: spaces separate, double quotes group (and are dropped). #>
function Split-SimCommandLine([string]$Line) {
  $tokens = New-Object System.Collections.Generic.List[string]
  $cur = New-Object System.Text.StringBuilder
  $inQuotes = $false
  $any = $false
  foreach ($ch in $Line.ToCharArray()) {
    if ($ch -eq '"') { $inQuotes = -not $inQuotes; $any = $true; continue }
    if (-not $inQuotes -and [char]::IsWhiteSpace($ch)) {
      if ($any) { $tokens.Add($cur.ToString()); [void]$cur.Clear(); $any = $false }
      continue
    }
    [void]$cur.Append($ch); $any = $true
  }
  if ($any) { $tokens.Add($cur.ToString()) }
  return , $tokens.ToArray()
}

function Join-SimCommandLine([string[]]$Arguments) {
  (@($Arguments | ForEach-Object { if ($_ -match '\s' -and $_ -notmatch '"') { '"' + $_ + '"' } else { $_ } }) -join ' ')
}

<# msiexec's command line: @{ package; log; properties; ui; error } #>
function ConvertFrom-SimMsiexecLine([string[]]$Tokens) {
  $r = @{ package = $null; log = $null; properties = [ordered]@{}; ui = 'full'; restart = 'default'; error = $null }
  for ($i = 0; $i -lt $Tokens.Count; $i++) {
    $t = $Tokens[$i]
    if ($t -match '^[/-](?i:i|package)$') { $i++; $r.package = $Tokens[$i]; continue }
    if ($t -match '^[/-](?i:l[iwearucmopvx+!*]*|log)$') { $i++; $r.log = $Tokens[$i]; continue }
    if ($t -match '^[/-](?i:qn|q|quiet|qb|qr|qf|passive|qn\+|qb\-)$') { $r.ui = $t.TrimStart('/', '-').ToLowerInvariant(); continue }
    if ($t -match '^[/-](?i:norestart|forcerestart|promptrestart)$') { $r.restart = $t.TrimStart('/', '-').ToLowerInvariant(); continue }
    if ($t -match '^([A-Za-z_][A-Za-z0-9_.]*)=(.*)$') { $r.properties[$Matches[1].ToUpperInvariant()] = $Matches[2]; continue }
    $r.error = "unsupported msiexec argument: $t"
  }
  if (-not $r.error -and -not $r.package) { $r.error = 'no /i <package>' }
  return $r
}

function Get-SimMsiStamp { (Get-SimNow).ToString('HH:mm:ss:fff') }

<# Whether the process that started an install still runs (every simulated session is a process here). #>
function Test-SimProcessAlive($ProcessId) {
  if ($null -eq $ProcessId) { return $false }
  try { return -not [System.Diagnostics.Process]::GetProcessById([int]$ProcessId).HasExited } catch { return $false }
}

function Add-SimMsiLog([string]$LogFile, [string[]]$Lines) {
  if (-not $LogFile) { return }
  [System.IO.File]::AppendAllLines($LogFile, [string[]]$Lines)
}

<#
  The install itself. Returns the exit code; writes the verbose log like Windows Installer (its
  last lines carry the product, the result and "MainEngineThread is returning <code>").
#>
function Invoke-SimMsiexec([hashtable]$Ctx, [string[]]$Tokens) {
  if ($Ctx.kind -ne 'guest') { throw 'the simulated host runs msiexec.exe only inside Windows guests' }
  $cmd = ConvertFrom-SimMsiexecLine $Tokens
  if ($cmd.error) { return 1639 }
  $logFile = $null
  $result = Use-SimState {
    param($S)
    $vm = Get-SimGuestVm $S $Ctx 'msiexec.exe'
    $g = $vm.guest
    $r = @{ code = 0; log = $null; product = $null; package = $null }
    if ($cmd.log) {
      $r.log = ConvertTo-SimGuestLocalPath $vm $cmd.log
      if (-not [System.IO.Directory]::Exists([System.IO.Path]::GetDirectoryName($r.log))) { $r.code = 1622; return $r }
      [System.IO.File]::WriteAllLines($r.log, [string[]]@("=== Verbose logging started: $((Get-SimNow).ToString('M/d/yyyy  HH:mm:ss'))  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\Windows\system32\msiexec.exe ===", "MSI (c) ($(Get-SimMsiStamp)): Command Line: $($Tokens -join ' ')"))
    }
    $pkg = ConvertTo-SimGuestLocalPath $vm $cmd.package
    if (-not [System.IO.File]::Exists($pkg)) {
      Add-SimMsiLog $r.log @("MSI (c) ($(Get-SimMsiStamp)): Note: 1: 2203 2: $($cmd.package) 3: -2147287038", 'MainEngineThread is returning 1619')
      $r.code = 1619; return $r
    }
    $first = @([System.IO.File]::ReadLines($pkg) | Select-Object -First 1)[0]
    if ($first -notmatch '^LABCTL-SIM-MSI (\w+)(?: (.*))?$' -or -not $script:SimMsiProducts.ContainsKey($Matches[1])) {
      Add-SimMsiLog $r.log @("MSI (c) ($(Get-SimMsiStamp)): Note: 1: 2203 2: $($cmd.package) 3: -2147286960", 'MainEngineThread is returning 1620')
      $r.code = 1620; return $r
    }
    $r.product = $Matches[1]
    $r.package = $(if ($Matches[2]) { ConvertFrom-Json -InputObject $Matches[2] -AsHashtable } else { @{} })
    $running = $g.msi.running
    if ($null -ne $running -and (Test-SimProcessAlive $running.pid)) {
      Add-SimMsiLog $r.log @("MSI (c) ($(Get-SimMsiStamp)): Error 1618. Another installation is already in progress. Complete that installation before proceeding with this install. ($($running.product) since $($running.since))", 'MainEngineThread is returning 1618')
      $r.code = 1618; return $r
    }
    $seconds = Get-SimTiming $S 'msiSeconds'
    # held by this process while it runs: a session that dies (a timed-out call) holds nothing
    $g.msi.running = @{ product = $r.product; package = $cmd.package; since = (Get-SimNow).ToString('o'); pid = $PID; boot = $g.boot.count }
    $r.seconds = $seconds
    $r.boot = $g.boot.count
    Add-SimMsiLog $r.log @("MSI (s) ($(Get-SimMsiStamp)): Grabbed execution mutex.", "Action start $(Get-SimMsiStamp): INSTALL.")
    return $r
  }
  if ($result.code -ne 0) { return $result.code }
  # the install runs: another session may look now (and gets 1618). A test can hold it running
  # (config.failures.msiHold names the VM) to start a second one meanwhile, whatever the load.
  Start-Sleep -Milliseconds ([int]([double]$result.seconds * 1000))
  while ($true) {
    $peek = Read-SimState
    $vm = Get-SimVmById $peek $Ctx.vmId
    if (@($peek.config.failures.msiHold) -notcontains $vm.name) { break }
    Start-Sleep -Milliseconds 200
  }
  $done = Use-SimState {
    param($S)
    $vm = Get-SimGuestVm $S $Ctx 'msiexec.exe'
    $g = $vm.guest
    if ([int]$g.boot.count -ne [int]$result.boot) { return 1603 }   # the guest restarted under the install
    $g.msi.running = $null
    $p = $script:SimMsiProducts[$result.product]
    $lines = New-Object System.Collections.Generic.List[string]
    $code = 0
    $features = @($p.defaultFeatures)
    $addlocal = $cmd.properties['ADDLOCAL']
    if ($addlocal) { $features = $(if ($addlocal -eq 'ALL') { @($p.features) } else { @($addlocal -split ',' | Where-Object { $_ -in $p.features }) }) }
    switch ($result.product) {
      'iisnode' {
        # iisnode.wxs's launch condition only checks the Windows version; what needs IIS is its
        # deferred custom action AddIisnodeSection (Return="check"), which opens applicationHost.config
        # through Microsoft.ApplicationHost.WritableAdminManager: without IIS it fails and the
        # install rolls back (Azure/iisnode src/setup/iisnode-msi/iisnode.wxs, customactions.wxi,
        # addiisnodesection.js; app-side.md section 2.4)
        if (-not $g.features['Web-Server']) {
          $lines.Add("CustomAction AddIisnodeSection returned actual error code 1720 (note this may not be 100% accurate if translation happened inside sandbox)")
          $lines.Add("Error 1720. There is a problem with this Windows Installer package. A script required for this install to complete could not be run. Contact your support personnel or package vendor.  Custom action AddIisnodeSection script main, : Automation server can't create object")
          $code = 1603
        }
      }
      'webdeploy' {
        # "The MSI will not install the Web Management Service handler component if the Web
        # Management Service is not installed" (iis-docs iis/install/installing-publishing-technologies/
        # installing-and-configuring-web-deploy-on-iis-80-or-later.md): the rest installs
        if (-not $g.features['Web-Mgmt-Service'] -and $features -contains 'MSDeployWMSVCHandlerFeature') {
          $features = @($features | Where-Object { $_ -ne 'MSDeployWMSVCHandlerFeature' })
          $lines.Add("MSI (s) ($(Get-SimMsiStamp)): Feature: MSDeployWMSVCHandlerFeature; Installed: Absent;   Request: Local;   Action: Null (the Web Management Service is not installed)")
        }
      }
    }
    if ($code -eq 0) {
      $root = $g.drives.C
      foreach ($f in $p.files) {
        $file = Join-Path -Path $root -ChildPath ($f -replace '\\', '/')
        [void][System.IO.Directory]::CreateDirectory([System.IO.Path]::GetDirectoryName($file))
        [System.IO.File]::WriteAllText($file, "LABCTL-SIM installed by $($p.name) $($p.version)`n")
      }
      if ($p.module -and $g.iis) { $g.iis.globalModules = @(@($g.iis.globalModules | Where-Object { $_ -ne $p.module }) + @($p.module)) }
      if ($result.product -eq 'webdeploy' -and $features -contains 'MSDeployAgentFeature') {
        Add-SimService $g 'MsDepSvc' 'Web Deployment Agent Service' 'Automatic' 'Running' @()
      }
      if ($result.product -eq 'webdeploy' -and $features -contains 'MSDeployWMSVCHandlerFeature') { Add-SimWebDeployDelegation $g }
      $g.msi.installed[$result.product] = @{ name = $p.name; version = $p.version; features = @($features); package = $cmd.package; at = (Get-SimNow).ToString('o') }
      if ($null -ne $result.package.exitCode) { $code = [int]$result.package.exitCode }
      $lines.Add("MSI (s) ($(Get-SimMsiStamp)): Product: $($p.name) -- Installation completed successfully.")
    } else {
      $lines.Add("MSI (s) ($(Get-SimMsiStamp)): Product: $($p.name) -- Installation failed.")
    }
    $lines.Add("MSI (s) ($(Get-SimMsiStamp)): Windows Installer installed the product. Product Name: $($p.name). Product Version: $($p.version). Product Language: 1033. Manufacturer: $($p.manufacturer). Installation success or error status: $code.")
    $lines.Add("=== Verbose logging stopped: $((Get-SimNow).ToString('M/d/yyyy  HH:mm:ss')) ===")
    $lines.Add("MainEngineThread is returning $code")
    Add-SimMsiLog $result.log $lines.ToArray()
    return $code
  }
  return $done
}

Register-SimNative 'msiexec.exe' {
  param($c)
  $line = $(if ($c.CommandLine) { $c.CommandLine } else { Join-SimCommandLine $c.Args })
  Invoke-SimMsiexec $c.Ctx (Split-SimCommandLine $line)
}

# Start-Process of a program the simulator stands in for (msiexec.exe in a guest, msdeploy.exe
# on the host): the command line Windows would build from -ArgumentList (joined with spaces), run
# to its end (the simulator always waits: without -Wait it still returns after the program), and
# with -PassThru a process object whose ExitCode is the program's. A -FilePath with a folder must
# name a file that exists there ("This command cannot be run due to the error: The system cannot
# find the file specified.", Start-Process's own error); a bare name is found on the PATH
# (msiexec.exe is in System32). -RedirectStandardOutput / -RedirectStandardError write what the
# program printed to those files.
Register-SimIntercept 'Start-Process' {
  param($b)
  $leaf = ([string]$b['FilePath'] -split '[\\/]')[-1].ToLowerInvariant()
  $script:Natives.ContainsKey($leaf) -or $script:Natives.ContainsKey("$leaf.exe")
}

Register-SimCmdlet 'Start-Process' -Unlocked {
  param($c)
  $leaf = ([string]$c.P.FilePath -split '[\\/]')[-1].ToLowerInvariant()
  if (-not $script:Natives.ContainsKey($leaf)) { $leaf = "$leaf.exe" }
  if ([string]$c.P.FilePath -match '[\\/]') {
    $file = Use-SimState { param($S) if ($c.Ctx.kind -eq 'guest') { ConvertTo-SimGuestLocalPath (Get-SimGuestVm $S $c.Ctx 'Start-Process') ([string]$c.P.FilePath) } else { ConvertTo-SimLocalPath ([string]$c.P.FilePath) $S } }
    if (-not [System.IO.File]::Exists($file)) { Stop-Sim 'This command cannot be run due to the error: The system cannot find the file specified.' 'InvalidOperation' $c.P.FilePath 'InvalidOperationException' }
  }
  $body = $script:Natives[$leaf]
  $argv = @($c.P.ArgumentList | ForEach-Object { [string]$_ })
  $out = New-Object System.Collections.Generic.List[string]
  $err = New-Object System.Collections.Generic.List[string]
  $started = Get-SimNow
  $code = & $body @{ Args = $argv; CommandLine = ($argv -join ' '); Ctx = $c.Ctx; Out = $out; Err = $err }
  Sync-SimDrives
  foreach ($pair in @(@('RedirectStandardOutput', $out), @('RedirectStandardError', $err))) {
    if (-not $c.P.ContainsKey($pair[0])) { continue }
    $target = Use-SimState { param($S) if ($c.Ctx.kind -eq 'guest') { ConvertTo-SimGuestLocalPath (Get-SimGuestVm $S $c.Ctx 'Start-Process') ([string]$c.P[$pair[0]]) } else { ConvertTo-SimLocalPath ([string]$c.P[$pair[0]]) $S } }
    [System.IO.File]::WriteAllLines($target, [string[]]@($pair[1]))
  }
  if ($c.P.PassThru) {
    New-SimObject @('System.Diagnostics.Process') ([ordered]@{
        Id = Get-Random -Minimum 1000 -Maximum 65000; ProcessName = [System.IO.Path]::GetFileNameWithoutExtension($leaf)
        ExitCode = [int]$code; HasExited = $true; StartTime = $started; ExitTime = (Get-SimNow)
      })
  }
}

# ---------------------------------------------------------------------------------------
# icacls.exe <file> [/inheritance:e|d|r] [/grant[:r] Sid:perm ...] [/remove[:g|d] Sid ...], and
# icacls.exe <file> alone, which prints the ACL (Microsoft Learn "icacls", MicrosoftDocs/
# windowsserverdocs WindowsServerDocs/administration/windows-commands/icacls.md). A permission is
# a simple right (F, M, RX, R, W) or a list of specific rights in parentheses, after any
# inheritance flags: (OI) object inherit, (CI) container inherit, (IO) inherit only, (NP) do not
# propagate; e.g. user:(OI)(CI)M or user:(OI)(CI)(M). The file must exist and every account must
# resolve: the well-known groups, a local user of the guest (name, .\name or COMPUTER\name, see
# guest-accounts.ps1), and "IIS AppPool\<name>" while that application pool exists. It prints
# what it processed, and its exit code is 0, or the Windows error of the failure (2: the file is
# not there, 1332: "No mapping between account names and security IDs was done." — the codes are
# this simulator's reading, not a documented list). The ACL is recorded in $vm.guest.acl as
# { inheritance, grants: [ { account, rights, inherit: "OI,CI" } ] } (explicit entries only).
# ---------------------------------------------------------------------------------------

$script:SimKnownAccounts = @('administrators', 'administrator', 'system', 'users', 'everyone', 'iis_iusrs', 'iusr', 'authenticated users', 'creator owner', 'network service', 'local service')

function Test-SimAccount([hashtable]$g, [string]$Account) {
  $a = $Account.ToLowerInvariant() -replace '^(builtin|nt authority)\\', ''
  if ($a -in $script:SimKnownAccounts) { return $true }
  if ($a -match '^iis apppool\\(.+)$') {
    $pool = $Matches[1]
    return $null -ne $g.iis -and @($g.iis.appPools | Where-Object { $_.name -eq $pool }).Count -gt 0
  }
  return $null -ne (Find-SimGuestUser $g $Account)
}

<# The name icacls shows for an account: BUILTIN\ and NT AUTHORITY\ groups, COMPUTER\user for a local user. #>
function Get-SimAccountDisplay([hashtable]$g, [string]$Account) {
  $a = $Account -replace '^(?i)(builtin|nt authority)\\', ''
  if ($a -in @('Administrators', 'Users', 'IIS_IUSRS')) { return "BUILTIN\$a" }
  if ($a -in @('SYSTEM', 'Authenticated Users', 'NETWORK SERVICE', 'LOCAL SERVICE', 'IUSR')) { return "NT AUTHORITY\$a" }
  if ($a -match '^(?i)iis apppool\\') { return $Account }
  $u = Find-SimGuestUser $g $Account
  if ($null -ne $u) { return "$($g.computerName)\$($u.name)" }
  return $Account
}

<# 'user:(OI)(CI)M' -> @{ account; rights = 'M'; inherit = 'OI,CI' }, or $null when it is not a permission. #>
function ConvertFrom-SimIcaclsGrant([string]$Text) {
  if ($Text -notmatch '^(?<account>[^:]+):(?<flags>(\((?:OI|CI|IO|NP|I)\))*)(?:\((?<list>[A-Z,]+)\)|(?<simple>[A-Z]+))$') { return $null }
  $flags = @([regex]::Matches($Matches.flags, '\(([A-Z]+)\)') | ForEach-Object { $_.Groups[1].Value })
  $rights = $(if ($Matches.list) { $Matches.list } else { $Matches.simple })
  return @{ account = $Matches.account; rights = $rights; inherit = ($flags -join ',') }
}

Register-SimNative 'icacls.exe' {
  param($c)
  $argv = @($c.Args)
  if ($argv.Count -lt 1) { $c.Out.Add('The syntax of this command is incorrect.'); return 87 }
  $target = $argv[0]
  Use-SimState {
    param($S)
    $vm = Get-SimGuestVm $S $c.Ctx 'icacls.exe'
    $g = $vm.guest
    $local = ConvertTo-SimGuestLocalPath $vm $target
    if (-not ([System.IO.File]::Exists($local) -or [System.IO.Directory]::Exists($local))) {
      $c.Out.Add("${target}: The system cannot find the file specified.")
      $c.Out.Add('Successfully processed 0 files; Failed processing 1 files')
      return 2
    }
    $acl = @{ inheritance = 'enabled'; grants = @() }
    $key = Get-SimPathKey $target
    if ($null -ne $g.acl[$key]) { $acl = $g.acl[$key] }
    if ($argv.Count -eq 1) {
      # display: the explicit entries, then what an entry inherited from C:\ gives everyone
      $lines = @($acl.grants | ForEach-Object {
          $flags = (@(([string]$_.inherit) -split ',' | Where-Object { $_ }) | ForEach-Object { "($_)" }) -join ''
          '{0}:{1}({2})' -f (Get-SimAccountDisplay $g $_.account), $flags, $_.rights
        })
      if ($acl.inheritance -eq 'enabled') { $lines += @('BUILTIN\Administrators:(I)(OI)(CI)(F)', 'NT AUTHORITY\SYSTEM:(I)(OI)(CI)(F)', 'BUILTIN\Users:(I)(OI)(CI)(RX)') }
      $pad = ' ' * ($target.Length + 1)
      for ($i = 0; $i -lt $lines.Count; $i++) { $c.Out.Add($(if ($i -eq 0) { "$target $($lines[$i])" } else { "$pad$($lines[$i])" })) }
      $c.Out.Add('')
      $c.Out.Add('Successfully processed 1 files; Failed processing 0 files')
      return 0
    }
    $grants = [System.Collections.Generic.List[object]]::new()
    foreach ($x in @($acl.grants)) { $grants.Add($x) }
    for ($i = 1; $i -lt $argv.Count; $i++) {
      $a = $argv[$i]
      if ($a -match '^/inheritance:([edr])$') { $acl.inheritance = @{ e = 'enabled'; d = 'disabled (copied)'; r = 'removed' }[$Matches[1]]; continue }
      if ($a -match '^/grant(:r)?$') {
        $replace = [bool]$Matches[1]
        while ($i + 1 -lt $argv.Count -and $argv[$i + 1] -notmatch '^/') {
          $i++
          $grant = ConvertFrom-SimIcaclsGrant $argv[$i]
          if ($null -eq $grant) { $c.Out.Add("Invalid parameter `"$($argv[$i])`""); return 87 }
          if (-not (Test-SimAccount $g $grant.account)) {
            $c.Out.Add("$($grant.account): No mapping between account names and security IDs was done.")
            $c.Out.Add('Successfully processed 0 files; Failed processing 1 files')
            return 1332
          }
          if ($replace) { foreach ($old in @($grants | Where-Object { $_.account -eq $grant.account })) { [void]$grants.Remove($old) } }
          # granting what an entry already grants adds nothing (Windows merges an ACE into the one
          # of the same account and inheritance; the simulator keeps them whole)
          if (@($grants | Where-Object { $_.account -eq $grant.account -and [string]$_.inherit -eq $grant.inherit -and $_.rights -eq $grant.rights }).Count -eq 0) { $grants.Add($grant) }
        }
        continue
      }
      if ($a -match '^/remove(:[gd])?$') {
        while ($i + 1 -lt $argv.Count -and $argv[$i + 1] -notmatch '^/') { $i++; $acc = $argv[$i]; foreach ($old in @($grants | Where-Object { $_.account -eq $acc })) { [void]$grants.Remove($old) } }
        continue
      }
      $c.Out.Add("Invalid parameter `"$a`""); return 87
    }
    $acl.grants = @($grants)
    $g.acl[$key] = $acl
    $c.Out.Add("processed file: $target")
    $c.Out.Add('Successfully processed 1 files; Failed processing 0 files')
    return 0
  }
}
