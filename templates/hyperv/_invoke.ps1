# labctl's fixed entry point for every host-side script (see src/transports/powershell.ts).
#
# The TypeScript side never splices a value into PowerShell text: it sends one line whose
# only variable parts are two base64 strings, this file's path and -Request. -Request
# decodes to UTF-8 JSON {id, script, params}; the params are splatted onto the script by
# name. The answer is one line, base64 of UTF-8 JSON, between markers that carry the
# request's random id, so warnings, progress or a stray Write-Host cannot be mistaken for
# it, and no console code page can mangle a non-ASCII path on the way back.
param(
  [Parameter(Mandatory = $true)][string]$Request
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# Windows PowerShell 5.1's ConvertFrom-Json gives PSCustomObjects; splatting needs a hashtable.
function ConvertTo-LabctlValue($value) {
  if ($null -eq $value) { return $null }
  if ($value -is [System.Management.Automation.PSCustomObject]) {
    $table = @{}
    foreach ($p in $value.PSObject.Properties) { $table[$p.Name] = ConvertTo-LabctlValue $p.Value }
    return $table
  }
  if ($value -is [System.Array]) {
    return , @($value | ForEach-Object { ConvertTo-LabctlValue $_ })
  }
  return $value
}

$id = ''
$ok = $true
$result = $null
$failure = $null
$logs = New-Object System.Collections.Generic.List[string]
try {
  $json = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String($Request))
  $req = ConvertFrom-Json -InputObject $json
  $id = [string]$req.id
  $splat = @{}
  if ($null -ne $req.params) {
    foreach ($p in $req.params.PSObject.Properties) { $splat[$p.Name] = ConvertTo-LabctlValue $p.Value }
  }
  # every stream is merged so that messages are kept as log lines, in order, and only
  # ordinary output objects can become the result (the last one wins)
  & $req.script @splat *>&1 | ForEach-Object {
    $item = $_
    if ($item -is [System.Management.Automation.WarningRecord]) { $logs.Add('warning: ' + $item.Message) }
    elseif ($item -is [System.Management.Automation.VerboseRecord]) { $logs.Add('verbose: ' + $item.Message) }
    elseif ($item -is [System.Management.Automation.DebugRecord]) { $logs.Add('debug: ' + $item.Message) }
    elseif ($item -is [System.Management.Automation.InformationRecord]) { $logs.Add([string]$item.MessageData) }
    elseif ($item -is [System.Management.Automation.ErrorRecord]) { $logs.Add('error: ' + $item.ToString()) }
    else { $result = $item }
  }
} catch {
  $ok = $false
  $failure = @{
    message  = $_.Exception.Message
    type     = $_.Exception.GetType().FullName
    errorId  = [string]$_.FullyQualifiedErrorId
    category = [string]$_.CategoryInfo.Category
    position = [string]$_.InvocationInfo.PositionMessage
  }
}

$answer = @{ id = $id; ok = $ok; result = $result; logs = $logs.ToArray(); error = $failure }
$text = ConvertTo-Json -InputObject $answer -Depth 12 -Compress
$encoded = [System.Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes($text))
[System.Console]::Out.WriteLine('<<labctl:' + $id + ':begin>>' + $encoded + '<<labctl:' + $id + ':end>>')
