# msdeploy.exe on the simulated host (Web Deploy's command line, installed on the host under
# %ProgramFiles%\IIS\Microsoft Web Deploy V3\), publishing to a Windows guest through the
# guest's Web Management Service (WMSvc) and Web Deploy's handler there, as a non-administrator
# user. It is a stand-in for the program (Register-SimNative, reached through the Start-Process
# intercept of guest-msi.ps1 or a direct call): it reads the guest's state for what the remote
# side would decide, and syncs real files into the guest's site folder. The host's file
# C:\Program Files\IIS\Microsoft Web Deploy V3\msdeploy.exe must exist (a test puts it there: it
# is "Web Deploy installed on the host"; Start-Process fails without it, as on Windows).
#
# Supported command line (what labctl's publish-webdeploy.ps1 sends; anything else exits -1
# saying so): -verb:sync -source:contentPath=<local folder>
#   -dest:contentPath=<site>[/<path>],publishSettings=<file> [-allowUntrusted] [-useChecksum]
#   [-skip:objectName=dirPath|filePath,absolutePath=<regex>]... [-enableRule:DoNotDeleteRule]
# A -dest with computerName=/userName=/password= instead of publishSettings is refused here (the
# simulator only speaks the publish-settings form labctl uses). Every run is recorded with its
# command line in $S.host.msdeploy.runs, so a test can see what was on it.
#
# The .publishsettings file is the ecosystem's own XML (publishData/publishProfile with
# publishMethod="MSDeploy", publishUrl, msdeploySite, userName, userPWD, destinationAppUrl: the
# file Web Deploy's SetupSiteForPublish.ps1 writes, iis-docs iis/publish/using-web-deploy/
# powershell-scripts-for-automating-web-deploy-setup.md, sample3.xml); msdeploy connects to
# https://<publishUrl>/msdeploy.axd?site=<msdeploySite> (port 8172 when publishUrl has none: the
# WMSvc default, v3 readme: "the publishing URL to https://myserver:8172/msdeploy.axd").
#
# What the remote side decides, in order, each refusal with Web Deploy's own error code and text
# (iis-docs iis/publish/troubleshooting-web-deploy/web-deploy-error-codes.md; the "More
# Information" texts as msdeploy prints them, e.g. in the logs quoted in microsoft/azure-
# pipelines-tasks issues and the ERROR_* anchors of go.microsoft.com/fwlink/?LinkId=221672):
#  1. the address is a running VM whose guest is up, reached from the host through an adapter
#     in its subnet; its firewall allows inbound TCP 8172; WMSvc runs: else
#     ERROR_DESTINATION_NOT_REACHABLE ("Web Management Service or Remote Agent is not installed
#     or unreachable on the remote computer ... ensure that a firewall is not interrupting").
#  2. WMSvc accepts remote connections only if EnableRemoteManagement was 1 when it started
#     ("WMSVC cannot be configured while running", remote-administration-for-iis-manager.md):
#     else it answers 403 and msdeploy reports ERROR_DESTINATION_NOT_REACHABLE (the status code
#     is this simulator's reading: the docs do not say what a remote client sees).
#  3. its certificate is self-signed ("WMSVC is bound to all unassigned IP addresses on port 8172
#     using a self-signed certificate", same page): without -allowUntrusted,
#     ERROR_CERTIFICATE_VALIDATION_FAILED.
#  4. Web Deploy's WMSVC handler is installed (msdeploy.axd; the MSI leaves it out when the
#     Management Service was not installed first, installing-and-configuring-web-deploy-on-iis-80-
#     or-later.md): else 404, ERROR_DESTINATION_NOT_REACHABLE.
#  5. the user exists, is enabled, the password is right, the site exists and the user has IIS
#     Manager Permissions for it (administrators need none): else ERROR_USER_UNAUTHORIZED (401),
#     whose diagnosis lists exactly these ("User does not exist; User does not have IIS Manager
#     access to site ...; Site does not exist; Password is incorrect").
#  6. a delegation rule allows contentPath for the user within the site's scope (the "Deploy
#     Applications with Content" rule Web Deploy's full install adds; configure-the-web-
#     deployment-handler.md): a destination outside the site (a drive path, another site) or no
#     rule: ERROR_USER_NOT_AUTHORIZED_FOR_CONTENTPATH.
#  7. the rule runs as the user (runAs CurrentUser), who must be able to write the site's
#     folder: a grant with F, M or W that objects and folders inherit ((OI)(CI)) on the folder
#     (icacls in the guest) — else ERROR_INSUFFICIENT_ACCESS_TO_SITE_FOLDER ("If connecting using
#     Windows credentials, the Windows user needs Full Control over the site's root folder to be
#     able to create files and folders underneath"; the page asks for Full Control, the simulator
#     takes Modify or Write as enough: creating, changing and deleting files is what they allow,
#     and a content sync without setAcl changes no ACL — only a real host can confirm this).
# Then the sync: files added, changed (by size and last write time, or by content with
# -useChecksum, TechNet "Web Deploy Operation Settings") and removed (unless DoNotDeleteRule),
# except what a -skip rule matches (a dirPath rule skips the folder and everything in it, on
# both sides); one "Info: Adding/Updating/Deleting file (...)" line each and the closing
# "Total changes: N (a added, d deleted, u updated, 0 parameters changed, B bytes copied)".
# On failure: "Error Code: ...", "More Information: ...", "Error: ...", "Error count: 1." on
# stderr and exit code -1.

# the host's own environment: Windows defines these for every process (the simulator runs on
# Linux, where they are missing; a guest's runspace gets its own, guest-psdirect.ps1)
if ((Get-SimContext).kind -eq 'host') {
  foreach ($pair in @(@('ProgramFiles', 'C:\Program Files'), @('ProgramFiles(x86)', 'C:\Program Files (x86)'), @('SystemDrive', 'C:'), @('SystemRoot', 'C:\Windows'), @('windir', 'C:\Windows'))) {
    if (-not [System.Environment]::GetEnvironmentVariable($pair[0])) { [System.Environment]::SetEnvironmentVariable($pair[0], $pair[1]) }
  }
}

<# msdeploy's command line: whitespace outside quotes separates arguments; quotes are kept here and taken off each value. #>
function Split-SimMsdeployLine([string]$Line) {
  $tokens = New-Object System.Collections.Generic.List[string]
  $cur = New-Object System.Text.StringBuilder
  $quote = $null
  foreach ($ch in $Line.ToCharArray()) {
    if ($null -ne $quote) { if ($ch -eq $quote) { $quote = $null }; [void]$cur.Append($ch); continue }
    if ($ch -eq '"' -or $ch -eq "'") { $quote = $ch; [void]$cur.Append($ch); continue }
    if ([char]::IsWhiteSpace($ch)) { if ($cur.Length) { $tokens.Add($cur.ToString()); [void]$cur.Clear() }; continue }
    [void]$cur.Append($ch)
  }
  if ($cur.Length) { $tokens.Add($cur.ToString()) }
  return , $tokens.ToArray()
}

function Remove-SimQuotes([string]$Value) {
  if ($Value.Length -ge 2 -and (($Value[0] -eq '"' -and $Value[-1] -eq '"') -or ($Value[0] -eq "'" -and $Value[-1] -eq "'"))) { return $Value.Substring(1, $Value.Length - 2) }
  return $Value
}

<# 'contentPath="a,b",publishSettings=x' -> ordered @{ contentPath = 'a,b'; publishSettings = 'x' } (the first key is the provider) #>
function ConvertFrom-SimProviderSettings([string]$Text) {
  $parts = New-Object System.Collections.Generic.List[string]
  $cur = New-Object System.Text.StringBuilder
  $quote = $null
  foreach ($ch in $Text.ToCharArray()) {
    if ($null -ne $quote) { if ($ch -eq $quote) { $quote = $null }; [void]$cur.Append($ch); continue }
    if ($ch -eq '"' -or $ch -eq "'") { $quote = $ch; [void]$cur.Append($ch); continue }
    if ($ch -eq ',') { $parts.Add($cur.ToString()); [void]$cur.Clear(); continue }
    [void]$cur.Append($ch)
  }
  $parts.Add($cur.ToString())
  $r = [ordered]@{}
  foreach ($p in $parts) {
    $i = $p.IndexOf('=')
    if ($i -lt 0) { $r[$p] = ''; continue }
    $r[$p.Substring(0, $i)] = Remove-SimQuotes $p.Substring($i + 1)
  }
  return $r
}

function Add-SimMsdeployError($c, [string]$Code, [string]$More, [string]$Detail) {
  $c.Err.Add("Error Code: $Code")
  $c.Err.Add("More Information: $More  Learn more at: https://go.microsoft.com/fwlink/?LinkId=221672#$Code.")
  if ($Detail) { $c.Err.Add("Error: $Detail") }
  $c.Err.Add('Error count: 1.')
}

<# The files (relative paths, '/' separated) and folders under a folder, minus what a skip rule matches ($Shown turns a relative path into the absolutePath the rules see). #>
function Get-SimSyncTree([string]$Root, [scriptblock]$Shown, [object[]]$Skips) {
  $files = [ordered]@{}
  $dirs = New-Object System.Collections.Generic.List[string]
  if (-not [System.IO.Directory]::Exists($Root)) { return @{ files = $files; dirs = $dirs } }
  $walk = $null
  $walk = {
    param([string]$dir, [string]$rel)
    foreach ($d in [System.IO.Directory]::GetDirectories($dir) | Sort-Object) {
      $r = $(if ($rel) { "$rel/" } else { '' }) + [System.IO.Path]::GetFileName($d)
      if (@($Skips | Where-Object { $_.objectName -eq 'dirPath' -and (& $Shown $r) -match $_.absolutePath }).Count) { continue }
      $dirs.Add($r)
      & $walk $d $r
    }
    foreach ($f in [System.IO.Directory]::GetFiles($dir) | Sort-Object) {
      $r = $(if ($rel) { "$rel/" } else { '' }) + [System.IO.Path]::GetFileName($f)
      if (@($Skips | Where-Object { $_.objectName -eq 'filePath' -and (& $Shown $r) -match $_.absolutePath }).Count) { continue }
      $files[$r] = $f
    }
  }
  & $walk $Root ''
  return @{ files = $files; dirs = $dirs }
}

function Test-SimSameFile([string]$A, [string]$B, [bool]$Checksum) {
  $ia = [System.IO.FileInfo]::new($A); $ib = [System.IO.FileInfo]::new($B)
  if ($ia.Length -ne $ib.Length) { return $false }
  if (-not $Checksum) { return $ia.LastWriteTimeUtc -eq $ib.LastWriteTimeUtc }
  $h = [System.Security.Cryptography.SHA256]::Create()
  try {
    $x = [System.Convert]::ToBase64String($h.ComputeHash([System.IO.File]::ReadAllBytes($A)))
    $y = [System.Convert]::ToBase64String($h.ComputeHash([System.IO.File]::ReadAllBytes($B)))
    return $x -eq $y
  } finally { $h.Dispose() }
}

<# Whether an icacls grant on the folder lets this user write there and below (F, M or W, inherited by files and folders). #>
function Test-SimFolderWritable([hashtable]$g, [string]$FolderKey, [hashtable]$User) {
  $acl = $g.acl[$FolderKey]
  if ($null -eq $acl) { return $false }
  foreach ($x in @($acl.grants)) {
    $who = Find-SimGuestUser $g ([string]$x.account)
    if ($null -eq $who -or $who.name -ne $User.name) { continue }
    $rights = @(([string]$x.rights) -split ',')
    $inherit = @(([string]$x.inherit) -split ',')
    if (@($rights | Where-Object { $_ -in @('F', 'M', 'W', 'GA', 'GW') }).Count -and $inherit -contains 'OI' -and $inherit -contains 'CI') { return $true }
  }
  return $false
}

Register-SimNative 'msdeploy.exe' {
  param($c)
  if ($c.Ctx.kind -ne 'host') { throw 'the simulated msdeploy.exe runs on the host only' }
  $line = $(if ($c.CommandLine) { $c.CommandLine } else { ($c.Args | ForEach-Object { if ($_ -match '\s' -and $_ -notmatch '"') { '"' + $_ + '"' } else { $_ } }) -join ' ' })
  $record = { param([int]$code, [string]$summary) Use-SimState { param($S) if ($null -eq $S.host.msdeploy) { $S.host.msdeploy = @{ runs = @() } }; $S.host.msdeploy.runs = @($S.host.msdeploy.runs) + @(@{ at = (Get-SimNow).ToString('o'); commandLine = $line; exitCode = $code; summary = $summary }) } }
  $fail = { param([string]$code, [string]$more, [string]$detail) Add-SimMsdeployError $c $code $more $detail; & $record -1 $code; return -1 }

  # the command line
  $verb = $null; $source = $null; $dest = $null; $untrusted = $false; $checksum = $false; $noDelete = $false
  $skips = New-Object System.Collections.Generic.List[object]
  foreach ($t in (Split-SimMsdeployLine $line)) {
    if ($t -notmatch '^-(?<name>[A-Za-z]+)(?::(?<value>.*))?$') { $c.Err.Add("Error: Unrecognized argument '$t'. All arguments must begin with `"-`"."); $c.Err.Add('Error count: 1.'); & $record -1 'bad argument'; return -1 }
    $value = $Matches.value
    switch ($Matches.name.ToLowerInvariant()) {
      'verb' { $verb = $value }
      'source' { $source = ConvertFrom-SimProviderSettings $value }
      'dest' { $dest = ConvertFrom-SimProviderSettings $value }
      'allowuntrusted' { $untrusted = $value -ne 'false' }
      'usechecksum' { $checksum = $true }
      'enablerule' { if ($value -match '^(?i)DoNotDeleteRule$') { $noDelete = $true } }
      'skip' { $skips.Add((ConvertFrom-SimProviderSettings $value)) }
      default { $c.Err.Add("Error: the simulated msdeploy.exe does not take -$($Matches.name) (labctl's publish-webdeploy.ps1 does not use it)"); $c.Err.Add('Error count: 1.'); & $record -1 'unsupported'; return -1 }
    }
  }
  if ($verb -ne 'sync' -or $null -eq $source -or $null -eq $dest -or -not $source.Contains('contentPath') -or -not $dest.Contains('contentPath')) {
    $c.Err.Add('Error: the simulated msdeploy.exe syncs -source:contentPath=... to -dest:contentPath=...,publishSettings=... with -verb:sync only'); $c.Err.Add('Error count: 1.'); & $record -1 'unsupported'; return -1
  }
  if (-not $dest.Contains('publishSettings') -or $dest.Contains('computerName') -or $dest.Contains('password') -or $dest.Contains('userName')) {
    $c.Err.Add('Error: the simulated msdeploy.exe connects with publishSettings=<file> only (no computerName/userName/password on the command line)'); $c.Err.Add('Error count: 1.'); & $record -1 'unsupported'; return -1
  }
  $srcDir = ConvertTo-SimLocalPath ([string]$source.contentPath) $null
  if (-not [System.IO.Directory]::Exists($srcDir)) { $c.Err.Add("Error: Source (contentPath) does not exist: $($source.contentPath)"); $c.Err.Add('Error count: 1.'); & $record -1 'no source'; return -1 }

  # the publish settings
  $settingsFile = ConvertTo-SimLocalPath ([string]$dest.publishSettings) $null
  if (-not [System.IO.File]::Exists($settingsFile)) { $c.Err.Add("Error: Could not find file '$($dest.publishSettings)'."); $c.Err.Add('Error count: 1.'); & $record -1 'no publish settings'; return -1 }
  $pub = $null
  try {
    $xml = [xml][System.IO.File]::ReadAllText($settingsFile)
    $pub = @($xml.publishData.publishProfile | Where-Object { $_.publishMethod -eq 'MSDeploy' }) | Select-Object -First 1
  } catch { }
  if ($null -eq $pub) { $c.Err.Add("Error: The publish settings file '$($dest.publishSettings)' has no publishProfile with publishMethod MSDeploy."); $c.Err.Add('Error count: 1.'); & $record -1 'bad publish settings'; return -1 }
  $hostPart = ([string]$pub.publishUrl) -replace '^https?://', '' -replace '/.*$', ''
  $ip = ($hostPart -split ':')[0]
  $port = $(if ($hostPart -match ':(\d+)$') { [int]$Matches[1] } else { 8172 })
  $siteName = [string]$pub.msdeploySite
  $c.Out.Add("Info: Using ID '$([guid]::NewGuid())' for connections to the remote server.")

  $decision = Use-SimState {
    param($S)
    $unreachable = "Could not connect to the remote computer (`"$ip`"). On the remote computer, make sure that Web Deploy is installed and that the required process (`"Web Management Service`") is started."
    $vm = @($S.vms | Where-Object { $_.state -eq 'Running' -and $_.guest.phase -eq 'ready' -and @($_.guest.ipv4) -contains $ip }) | Select-Object -First 1
    $routed = $false
    foreach ($a in @($S.host.adapters)) {
      foreach ($x in @($a.ips)) {
        $mask = [int64]0; if ([int]$x.prefix -gt 0) { $mask = ([int64]4294967295 -shl (32 - [int]$x.prefix)) -band [int64]4294967295 }
        $toInt = { param($t) $b = ([System.Net.IPAddress]::Parse($t)).GetAddressBytes(); ([int64]$b[0] -shl 24) -bor ([int64]$b[1] -shl 16) -bor ([int64]$b[2] -shl 8) -bor [int64]$b[3] }
        if ($ip -match '^\d+\.\d+\.\d+\.\d+$' -and ((& $toInt $x.ip) -band $mask) -eq ((& $toInt $ip) -band $mask)) { $routed = $true }
      }
    }
    if ($null -eq $vm -or -not $routed -or $port -ne 8172) { return @{ code = 'ERROR_DESTINATION_NOT_REACHABLE'; more = $unreachable; error = 'Unable to connect to the remote server' } }
    $g = $vm.guest
    Initialize-SimGuest $S $vm
    $open = @($g.firewall | Where-Object { [string]$_.enabled -eq 'True' -and $_.direction -eq 'Inbound' -and $_.action -eq 'Allow' -and $_.protocol -in @('TCP', 'Any') -and (@($_.localPort) -contains '8172' -or @($_.localPort) -contains 'Any') }).Count -gt 0
    if (-not $open) { return @{ code = 'ERROR_DESTINATION_NOT_REACHABLE'; more = $unreachable; error = "Unable to connect to the remote server (no answer from ${ip}:8172: the guest's firewall drops it)" } }
    $wmsvc = $g.services['wmsvc']
    if ($null -eq $wmsvc -or $wmsvc.status -ne 'Running') { return @{ code = 'ERROR_DESTINATION_NOT_REACHABLE'; more = $unreachable; error = "Unable to connect to the remote server: No connection could be made because the target machine actively refused it ${ip}:8172" } }
    if (-not $wmsvc.running.remoteManagement) { return @{ code = 'ERROR_DESTINATION_NOT_REACHABLE'; more = $unreachable; error = 'The remote server returned an error: (403) Forbidden.' } }
    if (-not $untrusted) { return @{ code = 'ERROR_CERTIFICATE_VALIDATION_FAILED'; more = "Connected to the remote computer (`"$ip`") using the specified process (`"Web Management Service`"), but could not verify the server's certificate. If you trust the server, connect again and allow untrusted certificates."; error = 'The remote certificate is invalid according to the validation procedure.' } }
    $wd = $g.msi.installed['webdeploy']
    if ($null -eq $wd -or @($wd.features) -notcontains 'MSDeployWMSVCHandlerFeature') { return @{ code = 'ERROR_DESTINATION_NOT_REACHABLE'; more = $unreachable; error = 'The remote server returned an error: (404) Not Found.' } }
    $unauthorized = @{ code = 'ERROR_USER_UNAUTHORIZED'; more = "Connected to the remote computer (`"$ip`") using the Web Management Service, but could not authorize. Make sure that you are using the correct user name and password, that the site you are connecting to exists, and that the credentials represent a user who has permissions to access the site."; error = 'The remote server returned an error: (401) Unauthorized.' }
    $user = Find-SimGuestUser $g ([string]$pub.userName)
    if ($null -eq $user -or -not $user.enabled -or [string]$user.password -cne [string]$pub.userPWD) { return $unauthorized }
    Initialize-SimIis $g
    $site = Get-SimSite $g $siteName
    if ($null -eq $site) { return $unauthorized }
    $admin = @($user.groups) -contains 'Administrators'
    $who = "$($g.computerName)\$($user.name)"
    $granted = @($g.iis.authorization | Where-Object { $_.path -eq $siteName -and $_.name -eq $who }).Count -gt 0
    if (-not $admin -and -not $granted) { return $unauthorized }
    # the destination must lie within the site (the delegation rule's {userScope}, a path prefix)
    $destPath = ([string]$dest.contentPath) -replace '/', '\'
    $inScope = $destPath -eq $siteName -or $destPath.StartsWith("$siteName\", [System.StringComparison]::OrdinalIgnoreCase)
    $rule = @($g.iis.delegation | Where-Object { @($_.providers) -contains 'contentPath' }).Count -gt 0
    if (-not $admin -and (-not $rule -or -not $inScope)) {
      return @{ code = 'ERROR_USER_NOT_AUTHORIZED_FOR_CONTENTPATH'; more = "Could not complete an operation with the specified provider (`"contentPath`") when connecting using the Web Management Service. This can occur if the server administrator has not authorized the user for this operation. contentPath http://go.microsoft.com/fwlink/?LinkId=178034"; error = '' }
    }
    if (-not $inScope) { return @{ code = 'ERROR_INVALID_PATH'; more = "The path '$($dest.contentPath)' is not a path of site '$siteName'."; error = '' } }
    $rest = $destPath.Substring($siteName.Length).TrimStart('\')
    $folderWin = ([string]$site.physicalPath -replace '%SystemDrive%', 'C:').TrimEnd('\') + $(if ($rest) { "\$rest" } else { '' })
    if (-not $admin -and -not (Test-SimFolderWritable $g (Get-SimPathKey ([string]$site.physicalPath -replace '%SystemDrive%', 'C:')) $user)) {
      return @{ code = 'ERROR_INSUFFICIENT_ACCESS_TO_SITE_FOLDER'; more = "Unable to perform the operation (`"Create Directory`") for the specified directory (`"$folderWin`"). This can occur if the server administrator has not authorized this operation for the user credentials you are using."; error = '' }
    }
    return @{ ok = $true; folderWin = $folderWin; folder = (ConvertTo-SimGuestLocalPath $vm $folderWin); shown = "$siteName$(if ($rest) { "\$rest" })" }
  }
  if (-not $decision.ok) { return (& $fail $decision.code $decision.more $decision.error) }

  # the sync, as the user on the guest's files
  $rules = @($skips | ForEach-Object { @{ objectName = [string]$_.objectName; absolutePath = [string]$_.absolutePath } })
  $srcShown = { param($rel) ([string]$source.contentPath).TrimEnd('\', '/') + '\' + ($rel -replace '/', '\') }.GetNewClosure()
  $destWin = $decision.folderWin
  $dstShown = { param($rel) $destWin + '\' + ($rel -replace '/', '\') }.GetNewClosure()
  $from = Get-SimSyncTree $srcDir $srcShown $rules
  $to = Get-SimSyncTree $decision.folder $dstShown $rules
  $added = 0; $updated = 0; $deleted = 0; [long]$bytes = 0
  $shownRoot = $decision.shown
  [void][System.IO.Directory]::CreateDirectory($decision.folder)
  foreach ($d in $from.dirs) {
    if ($to.dirs -contains $d) { continue }
    [void][System.IO.Directory]::CreateDirectory((Join-Path $decision.folder $d))
    $c.Out.Add("Info: Adding directory ($shownRoot\$($d -replace '/', '\')).")
    $added++
  }
  foreach ($rel in $from.files.Keys) {
    $src = $from.files[$rel]
    $target = Join-Path $decision.folder $rel
    if ($to.files.Contains($rel)) {
      if (Test-SimSameFile $src $target $checksum) { continue }
      $c.Out.Add("Info: Updating file ($shownRoot\$($rel -replace '/', '\')).")
      $updated++
    } else {
      $c.Out.Add("Info: Adding file ($shownRoot\$($rel -replace '/', '\')).")
      $added++
    }
    [System.IO.File]::Copy($src, $target, $true)
    [System.IO.File]::SetLastWriteTimeUtc($target, [System.IO.File]::GetLastWriteTimeUtc($src))
    $bytes += [System.IO.FileInfo]::new($src).Length
  }
  if (-not $noDelete) {
    foreach ($rel in @($to.files.Keys)) {
      if ($from.files.Contains($rel)) { continue }
      [System.IO.File]::Delete($to.files[$rel])
      $c.Out.Add("Info: Deleting file ($shownRoot\$($rel -replace '/', '\')).")
      $deleted++
    }
    foreach ($d in @($to.dirs | Sort-Object -Descending)) {
      if ($from.dirs -contains $d) { continue }
      $full = Join-Path $decision.folder $d
      if ([System.IO.Directory]::Exists($full)) { [System.IO.Directory]::Delete($full, $true) }
      $c.Out.Add("Info: Deleting directory ($shownRoot\$($d -replace '/', '\')).")
      $deleted++
    }
  }
  $summary = "Total changes: $($added + $updated + $deleted) ($added added, $deleted deleted, $updated updated, 0 parameters changed, $bytes bytes copied)"
  $c.Out.Add($summary)
  & $record 0 $summary
  return 0
}
