# Windows Defender Firewall rules (NetSecurity): New-/Get-/Remove-NetFirewallRule and
# Get-NetFirewallPortFilter through the pipeline, on a guest ($vm.guest.firewall) or the host
# ($S.host.firewall). Rules are CIM objects (MSFT_NetFirewallRule), so a rule piped into
# Get-NetFirewallPortFilter binds -AssociatedNetFirewallRule as on Windows
# (MicrosoftDocs/windows-powershell-docs docset/winserver2022-ps/NetSecurity/Get-NetFirewallPortFilter.md,
# example "Get-NetFirewallRule ... | Get-NetFirewallPortFilter").
# A -Name that matches nothing is the CDXML module's non-terminating error ("No {2} objects found
# with property '{0}' equal to '{1}'.  Verify the value of the property and retry.",
# PowerShell/PowerShell resources CimJob_NotFound_SimpleGranularCase_Equality). A rule Name is
# unique (the firewall's INetFwRules is keyed by name, wixtoolset/issues issue 6450): a second
# New-NetFirewallRule with the same -Name fails; its text here is Windows' ERROR_ALREADY_EXISTS
# (unverified for this cmdlet).

function Get-SimFirewall([hashtable]$S, [hashtable]$Ctx) {
  if ($Ctx.kind -eq 'guest') {
    $vm = Get-SimGuestVm $S $Ctx 'the firewall'
    if ($null -eq $vm.guest.firewall) { $vm.guest.firewall = @() }
    return $vm.guest
  }
  if ($null -eq $S.host.firewall) { $S.host.firewall = @() }
  return $S.host
}

function New-SimFirewallRuleObject([hashtable]$r) {
  New-SimCim 'MSFT_NetFirewallRule' ([ordered]@{
      Name          = $r.name
      ID            = $r.name
      DisplayName   = $r.displayName
      Description   = $r.description
      Enabled       = $r.enabled
      Direction     = $r.direction
      Action        = $r.action
      Profile       = $r.profile
      PrimaryStatus = 'OK'
      InstanceID    = $r.name
    })
}

function Find-SimFirewallRules($c, [hashtable]$Holder) {
  $rules = @($Holder.firewall)
  if ($c.P.ContainsKey('Name')) {
    $out = @()
    foreach ($n in @($c.P.Name)) {
      $m = @($rules | Where-Object { $_.name -like $n })
      if ($m.Count -eq 0) {
        $how = $(if ([System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($n)) { 'matching' } else { 'equal to' })
        & $c.Error "No MSFT_NetFirewallRule objects found with property 'Name' $how '$n'.  Verify the value of the property and retry." 'ObjectNotFound' $n
      }
      $out += $m
    }
    return , $out
  }
  if ($c.P.ContainsKey('DisplayName')) {
    $out = @()
    foreach ($n in @($c.P.DisplayName)) {
      $m = @($rules | Where-Object { $_.displayName -like $n })
      if ($m.Count -eq 0) { & $c.Error "No MSFT_NetFirewallRule objects found with property 'DisplayName' equal to '$n'.  Verify the value of the property and retry." 'ObjectNotFound' $n }
      $out += $m
    }
    return , $out
  }
  if ($c.P.ContainsKey('InputObject')) { $names = @($c.P.InputObject | ForEach-Object { [string]$_.Name }); return , @($rules | Where-Object { $_.name -in $names }) }
  return , $rules
}

Register-SimCmdlet 'New-NetFirewallRule' {
  param($c)
  $h = Get-SimFirewall $c.S $c.Ctx
  $name = $(if ($c.P.Name) { [string]$c.P.Name } else { '{' + [guid]::NewGuid().ToString() + '}' })
  if (@($h.firewall | Where-Object { $_.name -eq $name }).Count -gt 0) {
    Stop-Sim 'Cannot create a file when that file already exists.' 'ResourceExists' $name 'Windows System Error 183,New-NetFirewallRule'
  }
  $rule = @{
    name        = $name
    displayName = [string]$c.P.DisplayName
    description = [string]$c.P.Description
    enabled     = $(if ($c.P.Enabled) { [string]$c.P.Enabled } else { 'True' })
    direction   = $(if ($c.P.Direction) { [string]$c.P.Direction } else { 'Inbound' })
    action      = $(if ($c.P.Action) { [string]$c.P.Action } else { 'Allow' })
    profile     = $(if ($c.P.Profile) { [string]($c.P.Profile -join ',') } else { 'Any' })
    protocol    = $(if ($c.P.Protocol) { [string]$c.P.Protocol } else { 'Any' })
    localPort   = $(if ($c.P.LocalPort) { @($c.P.LocalPort | ForEach-Object { [string]$_ }) } else { @('Any') })
    remotePort  = $(if ($c.P.RemotePort) { @($c.P.RemotePort | ForEach-Object { [string]$_ }) } else { @('Any') })
  }
  $h.firewall = @($h.firewall) + @($rule)
  New-SimFirewallRuleObject $rule
}

Register-SimCmdlet 'Get-NetFirewallRule' {
  param($c)
  $h = Get-SimFirewall $c.S $c.Ctx
  foreach ($r in (Find-SimFirewallRules $c $h)) { New-SimFirewallRuleObject $r }
}

Register-SimCmdlet 'Remove-NetFirewallRule' {
  param($c)
  $h = Get-SimFirewall $c.S $c.Ctx
  $gone = @((Find-SimFirewallRules $c $h) | ForEach-Object { $_.name })
  $h.firewall = @($h.firewall | Where-Object { $_.name -notin $gone })
}

Register-SimCmdlet 'Get-NetFirewallPortFilter' {
  param($c)
  $h = Get-SimFirewall $c.S $c.Ctx
  $rules = @($h.firewall)
  if ($c.P.ContainsKey('AssociatedNetFirewallRule')) {
    $names = @($c.P.AssociatedNetFirewallRule | ForEach-Object { [string]$_.Name })
    $rules = @($rules | Where-Object { $_.name -in $names })
  }
  foreach ($r in $rules) {
    New-SimCim 'MSFT_NetProtocolPortFilter' ([ordered]@{
        InstanceID = $r.name
        Protocol   = $r.protocol
        LocalPort  = $(if (@($r.localPort).Count -eq 1) { [string]@($r.localPort)[0] } else { @($r.localPort) })
        RemotePort = $(if (@($r.remotePort).Count -eq 1) { [string]@($r.remotePort)[0] } else { @($r.remotePort) })
      })
  }
}
