# The simulated Hyper-V host, part 4: the host's network. Virtual switches (Get-, New-,
# Remove-VMSwitch) and the host's vEthernet adapters on them (Get-VMNetworkAdapter
# -ManagementOS / -All), NetAdapter, NetTCPIP (addresses, interfaces, routes, neighbours),
# DnsClient, NetNat.
#
# Sources for the rules, cited where each is enforced:
#   [dup-switch]   Hyper-V keeps switches by id, not by name: New-VMSwitch with a name that is
#                  taken makes a second switch of that name (VirtualEngine/Lability#326: "Hyper-V
#                  creates duplicate switches, but then can't decide which one to use"; xHyper-V's
#                  "Sequence contains more than one element"). Microsoft's New-VMSwitch page says
#                  nothing either way. So the simulator allows it, and labctl's net-switch.ps1 is
#                  what refuses a foreign switch of the lab's name.
#   [nat-one]      Microsoft Learn, "Set up a NAT network" (Virtualization-Documentation
#                  virtualization/hyper-v-on-windows/user-guide/setup-nat-network.md): "Currently,
#                  you are limited to one NAT network per host", and under Troubleshooting,
#                  "Multiple NAT networks are not supported ... Windows (WinNAT) only supports one
#                  internal NAT subnet prefix". Later Windows versions accept several NATs whose
#                  internal prefixes do not overlap; config.natLimit = 1 is a host of the older kind.
#   [nat-overlap]  the same page and the WinNAT capabilities and limitations post it links
#                  (Microsoft Tech Community, "Windows NAT (WinNAT) -- Capabilities and
#                  limitations"): one NAT per internal prefix; overlapping internal prefixes are
#                  refused. New-NetNat answers both with WinNAT's bare "The parameter is incorrect."
#   [switch-busy]  Remove-VMSwitch of a switch running VMs use: "The virtual switch '<name>' cannot
#                  be deleted because it is being used by running virtual machines or assigned to
#                  child pools." (eryph-org/eryph#252, the text Hyper-V gives)
#   [dhcp-static]  New-NetIPAddress on an interface that still has DHCP on fails with "Inconsistent
#                  parameters PolicyStore PersistentStore and Dhcp Enabled" (the well-known
#                  message; why labctl's net-host-ip.ps1 turns DHCP off first)

# ---------------------------------------------------------------------------------------
# IPv4 arithmetic
# ---------------------------------------------------------------------------------------

function ConvertTo-SimHostIp([string]$Ip) {
  $parts = $Ip.Split('.')
  if ($parts.Count -ne 4) { return $null }
  [uint32]$v = 0
  foreach ($p in $parts) { $n = 0; if (-not [int]::TryParse($p, [ref]$n) -or $n -lt 0 -or $n -gt 255) { return $null }; $v = [uint32]($v * 256 + $n) }
  return $v
}

function ConvertFrom-SimHostIp([uint32]$V) { '{0}.{1}.{2}.{3}' -f (($V -shr 24) -band 255), (($V -shr 16) -band 255), (($V -shr 8) -band 255), ($V -band 255) }

# (hex literals like 0xFFFFFFFF are Int32 -1 to PowerShell: the masks are computed in decimal)
function Get-SimHostMask([int]$Bits) { if ($Bits -le 0) { return [uint32]0 }; return [uint32]([uint64]4294967296 - [uint64][Math]::Pow(2, 32 - $Bits)) }

<# @{ net; bits } of "a.b.c.d/n", or $null. #>
function ConvertTo-SimHostPrefix([string]$Cidr) {
  if ($Cidr -notmatch '^\s*([0-9.]+)/(\d{1,2})\s*$') { return $null }
  $ip = ConvertTo-SimHostIp $Matches[1]
  $bits = [int]$Matches[2]
  if ($null -eq $ip -or $bits -gt 32) { return $null }
  return @{ net = [uint32]($ip -band (Get-SimHostMask $bits)); bits = $bits; ip = $ip }
}

function Test-SimHostOverlap([hashtable]$A, [hashtable]$B) {
  $bits = [Math]::Min($A.bits, $B.bits)
  $m = Get-SimHostMask $bits
  return ($A.net -band $m) -eq ($B.net -band $m)
}

# ---------------------------------------------------------------------------------------
# the host's adapters
# ---------------------------------------------------------------------------------------

<# Adapters Windows shows: a new switch's vEthernet adapter appears a moment after New-VMSwitch. #>
function Get-SimHostAdapters([hashtable]$S) {
  $now = [DateTime]::UtcNow
  @($S.host.adapters | Where-Object { $null -ne $_ -and (-not $_.visibleAt -or $now -ge (ConvertTo-SimHostTime $_.visibleAt)) })
}

function Find-SimHostAdapter([hashtable]$S, [int]$IfIndex) { @(Get-SimHostAdapters $S | Where-Object { [int]$_.ifIndex -eq $IfIndex }) | Select-Object -First 1 }

function ConvertTo-SimHostNetAdapterObject([hashtable]$A) {
  New-SimCim 'MSFT_NetAdapter' ([ordered]@{
      Name                 = [string]$A.name
      InterfaceAlias       = [string]$A.name
      ifAlias              = [string]$A.name
      InterfaceDescription = [string]$A.description
      ifDesc               = [string]$A.description
      ifIndex              = [uint32]$A.ifIndex
      InterfaceIndex       = [uint32]$A.ifIndex
      Status               = [string]$A.status
      MacAddress           = ConvertTo-SimHostDashedMac $A.mac
      LinkSpeed            = '10 Gbps'
      MediaConnectionState = $(if ($A.status -eq 'Up') { 'Connected' } else { 'Disconnected' })
      Virtual              = ($A.kind -eq 'vnic')
      HardwareInterface    = ($A.kind -ne 'vnic')
    })
}

function ConvertTo-SimHostIpObject([string]$Ip, [int]$Prefix, [int]$IfIndex, [string]$Alias, [string]$Family = 'IPv4', [string]$Origin = 'Manual', [string]$Store = 'ActiveStore') {
  New-SimCim 'MSFT_NetIPAddress' ([ordered]@{
      IPAddress         = $Ip
      InterfaceIndex    = [uint32]$IfIndex
      InterfaceAlias    = $Alias
      AddressFamily     = $Family
      Type              = 'Unicast'
      PrefixLength      = [byte]$Prefix
      PrefixOrigin      = $Origin
      SuffixOrigin      = $(if ($Origin -eq 'WellKnown') { 'WellKnown' } elseif ($Origin -eq 'Dhcp') { 'Dhcp' } elseif ($Origin -eq 'RouterAdvertisement') { 'Link' } else { $Origin })
      AddressState      = 'Preferred'
      ValidLifetime     = [TimeSpan]::MaxValue
      PreferredLifetime = [TimeSpan]::MaxValue
      SkipAsSource      = $false
      PolicyStore       = $Store
    })
}

<# Every address of the host, as Get-NetIPAddress lists them (loopback included). #>
function Get-SimHostIpList([hashtable]$S, [switch]$WithIPv6) {
  $out = New-Object System.Collections.Generic.List[object]
  $out.Add(@{ ip = '127.0.0.1'; prefix = 8; ifIndex = 1; alias = 'Loopback Pseudo-Interface 1'; family = 'IPv4'; origin = 'WellKnown' })
  foreach ($a in (Get-SimHostAdapters $S)) {
    foreach ($x in @($a.ips)) {
      if ($null -eq $x) { continue }
      $origin = $(if ([string]$x.ip -like '169.254.*') { 'WellKnown' } elseif ($a.dhcp) { 'Dhcp' } else { 'Manual' })
      $out.Add(@{ ip = [string]$x.ip; prefix = [int]$x.prefix; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; family = 'IPv4'; origin = $origin })
    }
    if ($WithIPv6) { $out.Add(@{ ip = "$(Get-SimHostLinkLocal $a.mac)%$($a.ifIndex)"; prefix = 64; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; family = 'IPv6'; origin = 'WellKnown' }) }
  }
  if ($WithIPv6) { $out.Add(@{ ip = '::1'; prefix = 128; ifIndex = 1; alias = 'Loopback Pseudo-Interface 1'; family = 'IPv6'; origin = 'WellKnown' }) }
  return $out.ToArray()
}

function New-SimHostApipa { '169.254.{0}.{1}' -f (Get-Random -Minimum 1 -Maximum 254), (Get-Random -Minimum 1 -Maximum 254) }

# ---------------------------------------------------------------------------------------
# switches and the host's vEthernet adapters (-ManagementOS)
# ---------------------------------------------------------------------------------------

function ConvertTo-SimHostSwitchObject([hashtable]$Sw) {
  $o = [Microsoft.HyperV.PowerShell.VMSwitch]::new()
  $o.ComputerName = 'HVHOST'
  $o.Name = [string]$Sw.name
  $o.Id = [guid]$Sw.id
  $o.SwitchType = [string]$Sw.type
  $o.Notes = [string]$Sw.notes
  $o.AllowManagementOS = ($Sw.type -ne 'Private')
  $o.NetAdapterInterfaceDescription = [string]$Sw.netAdapterDescription
  return $o
}

function ConvertTo-SimHostManagementAdapter([hashtable]$S, [hashtable]$Sw) {
  $a = @($S.host.adapters | Where-Object { $null -ne $_ -and $_.kind -eq 'vnic' -and $_.switchId -eq $Sw.id }) | Select-Object -First 1
  if ($null -eq $a) { return $null }
  $o = [Microsoft.HyperV.PowerShell.VMInternalNetworkAdapter]::new()
  $o.ComputerName = 'HVHOST'
  $o.Name = [string]$Sw.name
  $o.Id = 'Microsoft:{0}' -f $a.vnicId
  $o.VMName = ''
  $o.SwitchName = [string]$Sw.name
  $o.SwitchId = [guid]$Sw.id
  $o.MacAddress = ConvertTo-SimHostMac $a.mac
  $o.DynamicMacAddressEnabled = $true
  $o.IsManagementOs = $true
  $o.Connected = $true
  $o.IPAddresses = [string[]]@()
  $o.Status = [string[]]@('Ok')
  return $o
}

Register-SimCmdlet 'Get-VMSwitch' {
  param($c)
  $S = $c.S
  $list = @($S.switches | Where-Object { $_ })
  if ($c.P.ContainsKey('Id')) { $list = @($list | Where-Object { @($c.P.Id | ForEach-Object { [string]$_ }) -contains $_.id }) }
  if ($c.P.ContainsKey('SwitchType')) { $list = @($list | Where-Object { @($c.P.SwitchType | ForEach-Object { [string]$_ }) -contains $_.type }) }
  if ($c.P.ContainsKey('Name')) {
    $list = @($list | Where-Object { Test-SimHostName $_.name $c.P.Name })
    if ($list.Count -eq 0 -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters([string]$c.P.Name)) {
      & $c.Error "Hyper-V was unable to find a virtual switch with name `"$($c.P.Name)`"." 'ObjectNotFound' $c.P.Name
      return
    }
  }
  foreach ($sw in $list) { ConvertTo-SimHostSwitchObject $sw }
}

Register-SimCmdlet 'New-VMSwitch' {
  param($c)
  $S = $c.S
  $name = [string]$c.P.Name
  # [dup-switch] a taken name is not refused
  $type = $(if ($c.P.ContainsKey('SwitchType')) { [string]$c.P.SwitchType } else { 'External' })
  $sw = @{ id = New-SimId; name = $name; type = $type; notes = [string]$c.P.Notes; netAdapterDescription = '' }
  if ($type -eq 'External') {
    $nic = $null
    if ($c.P.NetAdapterName) { $nic = @($S.host.adapters | Where-Object { $null -ne $_ -and $_.name -eq $c.P.NetAdapterName }) | Select-Object -First 1 }
    elseif ($c.P.NetAdapterInterfaceDescription) { $nic = @($S.host.adapters | Where-Object { $null -ne $_ -and $_.description -eq $c.P.NetAdapterInterfaceDescription }) | Select-Object -First 1 }
    if ($null -eq $nic -or $nic.kind -ne 'physical') { Stop-Sim "Failed while adding virtual Ethernet switch connections: no physical network adapter '$($c.P.NetAdapterName)$($c.P.NetAdapterInterfaceDescription)'." 'ObjectNotFound' $name }
    if ($nic.boundSwitchId) { Stop-Sim "Failed while adding virtual Ethernet switch connections. The network adapter '$($nic.name)' is already bound to a virtual switch." 'ResourceBusy' $name 'ObjectInUse' }
    $nic.boundSwitchId = $sw.id
    $sw.netAdapterDescription = $nic.description
  }
  $switches = @($S.switches | Where-Object { $_ })
  Add-SimHostItem $S 'switches' $sw
  if ($type -ne 'Private' -and -not ($type -eq 'External' -and $c.P.ContainsKey('AllowManagementOS') -and -not $c.P.AllowManagementOS)) {
    $ifIndex = [int]$S.host.nextIfIndex
    $S.host.nextIfIndex = $ifIndex + 1
    $same = @($S.host.adapters | Where-Object { $null -ne $_ -and $_.kind -eq 'vnic' -and $_.switchName -eq $name }).Count
    $vnics = @($S.host.adapters | Where-Object { $null -ne $_ -and $_.kind -eq 'vnic' }).Count
    $adapter = @{
      ifIndex = $ifIndex; name = $(if ($same -gt 0) { "vEthernet ($name) $($same + 1)" } else { "vEthernet ($name)" })
      description = $(if ($vnics -gt 0) { "Hyper-V Virtual Ethernet Adapter #$($vnics + 1)" } else { 'Hyper-V Virtual Ethernet Adapter' })
      mac = ConvertTo-SimHostDashedMac (New-SimHostMac $S); status = 'Up'; kind = 'vnic'; switchName = $name; switchId = $sw.id; vnicId = (New-SimId).ToUpperInvariant()
      dhcp = $true; ips = @(@{ ip = (New-SimHostApipa); prefix = 16 }); dns = @(); gateway = $null
      # the adapter shows up in Get-NetAdapter a moment after the switch exists
      visibleAt = [DateTime]::UtcNow.AddSeconds((Get-SimHostTiming $S 'adapterSeconds' 0.3)).ToString('o')
    }
    if ($type -eq 'External') {
      $adapter.ips = @($nic.ips); $adapter.dhcp = $nic.dhcp; $adapter.dns = @($nic.dns); $adapter.gateway = $nic.gateway
      $nic.ips = @(); $nic.gateway = $null
    }
    Add-SimHostItem $S.host 'adapters' $adapter
    $sw.hostIfIndex = $ifIndex
  }
  ConvertTo-SimHostSwitchObject $sw
}

Register-SimCmdlet 'Remove-VMSwitch' {
  param($c)
  $S = $c.S
  $targets = @()
  if ($c.P.ContainsKey('VMSwitch')) { $ids = @($c.P.VMSwitch | ForEach-Object { [string]$_.Id }); $targets = @($S.switches | Where-Object { $null -ne $_ -and $ids -contains $_.id }) }
  else {
    $targets = @($S.switches | Where-Object { $null -ne $_ -and (Test-SimHostName $_.name $c.P.Name) })
    if ($targets.Count -eq 0) { Stop-Sim "Hyper-V was unable to find a virtual switch with name `"$($c.P.Name)`"." 'ObjectNotFound' $c.P.Name 'ObjectNotFound' }
  }
  foreach ($sw in $targets) {
    $busy = @($S.vms | Where-Object { $null -ne $_ -and (Test-SimHostVmOn $_) -and @($_.adapters | Where-Object { $null -ne $_ -and $_.switchName -eq $sw.name }).Count -gt 0 } | ForEach-Object { $_.name })
    if ($busy.Count -gt 0) {
      # [switch-busy]
      Stop-Sim "Failed while removing virtual Ethernet switch. The virtual switch '$($sw.name)' cannot be deleted because it is being used by running virtual machines or assigned to child pools. ($($busy -join ', '))" 'ResourceBusy' $sw.name 'ObjectInUse'
    }
    foreach ($vm in @($S.vms)) { foreach ($a in @($vm.adapters)) { if ($null -ne $a -and $a.switchName -eq $sw.name) { $a.switchName = '' } } }
    $sid = $sw.id
    foreach ($a in @($S.host.adapters)) { if ($null -ne $a -and $a.boundSwitchId -eq $sid) { $a.boundSwitchId = $null } }
    Select-SimHostItems $S.host 'adapters' { param($a) $a.switchId -ne $sid }
    Select-SimHostItems $S 'switches' { param($x) $x.id -ne $sid }
  }
}

Register-SimCmdlet 'Get-VMNetworkAdapter' {
  param($c)
  $S = $c.S
  $name = $c.P.Name
  if ($c.P.ManagementOS -or $c.P.All) {
    foreach ($sw in @($S.switches | Where-Object { $_ })) {
      if ($c.P.SwitchName -and -not (Test-SimHostName $sw.name $c.P.SwitchName)) { continue }
      if ($name -and -not (Test-SimHostName $sw.name $name)) { continue }
      $o = ConvertTo-SimHostManagementAdapter $S $sw
      if ($null -ne $o) { $o }
    }
    if (-not $c.P.All) { return }
    foreach ($vm in @($S.vms | Where-Object { $_ })) { foreach ($a in @($vm.adapters)) { if ($null -ne $a -and (-not $name -or (Test-SimHostName $a.name $name))) { ConvertTo-SimHostAdapterObject $vm $a } } }
    return
  }
  if ($c.P.ContainsKey('VMSnapshot')) { Stop-Sim 'Get-VMNetworkAdapter -VMSnapshot is not simulated' 'NotImplemented' }
  foreach ($vm in (Resolve-SimHostVms $c -Strict -NameParam 'VMName')) {
    foreach ($a in @($vm.adapters)) { if ($null -ne $a -and (-not $name -or (Test-SimHostName $a.name $name))) { ConvertTo-SimHostAdapterObject $vm $a } }
  }
}

# ---------------------------------------------------------------------------------------
# NetAdapter, NetTCPIP, DnsClient
# ---------------------------------------------------------------------------------------

Register-SimCmdlet 'Get-NetAdapter' {
  param($c)
  $S = $c.S
  $list = @(Get-SimHostAdapters $S)
  if ($c.P.Physical) { $list = @($list | Where-Object { $_.kind -eq 'physical' }) }
  if ($c.P.ContainsKey('InterfaceIndex')) {
    foreach ($i in @($c.P.InterfaceIndex)) {
      $hit = @($list | Where-Object { [int]$_.ifIndex -eq [int]$i })
      if ($hit.Count -eq 0) { & $c.Error "No MSFT_NetAdapter objects found with property 'InterfaceIndex' equal to '$i'. Verify the value of the property and retry." 'ObjectNotFound' $i; continue }
      $hit | ForEach-Object { ConvertTo-SimHostNetAdapterObject $_ }
    }
    return
  }
  if ($c.P.ContainsKey('Name')) {
    foreach ($n in @($c.P.Name)) {
      $hit = @($list | Where-Object { Test-SimHostName $_.name $n })
      if ($hit.Count -eq 0 -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters([string]$n)) { & $c.Error "No MSFT_NetAdapter objects found with property 'Name' equal to '$n'. Verify the value of the property and retry." 'ObjectNotFound' $n; continue }
      $hit | ForEach-Object { ConvertTo-SimHostNetAdapterObject $_ }
    }
    return
  }
  foreach ($a in $list) { ConvertTo-SimHostNetAdapterObject $a }
}

Register-SimCmdlet 'Get-NetIPAddress' {
  param($c)
  $S = $c.S
  $family = [string]$c.P.AddressFamily
  $list = @(Get-SimHostIpList $S -WithIPv6)
  $filters = @()
  if ($family) { $list = @($list | Where-Object { $_.family -eq $family }) }
  if ($c.P.ContainsKey('InterfaceIndex')) { $want = @($c.P.InterfaceIndex | ForEach-Object { [int]$_ }); $list = @($list | Where-Object { $want -contains $_.ifIndex }); $filters += "InterfaceIndex = $($want -join ',')" }
  if ($c.P.ContainsKey('InterfaceAlias')) { $list = @($list | Where-Object { Test-SimHostName $_.alias $c.P.InterfaceAlias }); $filters += "InterfaceAlias LIKE '$($c.P.InterfaceAlias)'" }
  if ($c.P.ContainsKey('IPAddress')) { $list = @($list | Where-Object { Test-SimHostName $_.ip $c.P.IPAddress }); $filters += "IPAddress LIKE '$($c.P.IPAddress)'" }
  if ($c.P.ContainsKey('PrefixLength')) { $list = @($list | Where-Object { $_.prefix -eq [int]$c.P.PrefixLength }) }
  if ($list.Count -eq 0 -and $filters.Count -gt 0) {
    $where = $filters -join ') AND ('
    & $c.Error "No matching MSFT_NetIPAddress objects found by CIM query for instances of the ROOT/StandardCimv2/MSFT_NetIPAddress class on the CIM server: SELECT * FROM MSFT_NetIPAddress WHERE (($where))." 'ObjectNotFound' $null
    return
  }
  foreach ($x in $list) { ConvertTo-SimHostIpObject $x.ip $x.prefix $x.ifIndex $x.alias $x.family $x.origin }
}

Register-SimCmdlet 'New-NetIPAddress' {
  param($c)
  $S = $c.S
  $ip = [string]$c.P.IPAddress
  if ($null -eq (ConvertTo-SimHostIp $ip)) { Stop-Sim "New-NetIPAddress: '$ip' is not an IPv4 address (IPv6 is not simulated)." 'InvalidArgument' $ip }
  if ($c.P.ContainsKey('InterfaceIndex')) { $a = Find-SimHostAdapter $S ([int]$c.P.InterfaceIndex) }
  else { $a = @(Get-SimHostAdapters $S | Where-Object { $_.name -eq [string]$c.P.InterfaceAlias }) | Select-Object -First 1 }
  if ($null -eq $a) { Stop-Sim "New-NetIPAddress: no interface $($c.P.InterfaceIndex)$($c.P.InterfaceAlias) (No MSFT_NetIPInterface objects found)." 'ObjectNotFound' "$($c.P.InterfaceIndex)$($c.P.InterfaceAlias)" }
  $prefix = $(if ($c.P.ContainsKey('PrefixLength')) { [int]$c.P.PrefixLength } else { 8 })
  if (@($a.ips | Where-Object { $null -ne $_ -and $_.ip -eq $ip }).Count -gt 0) { Stop-Sim 'New-NetIPAddress: The object already exists.' 'ResourceExists' $ip 'Windows System Error 5010' }
  if ($a.dhcp) {
    # [dhcp-static]
    Stop-Sim 'New-NetIPAddress: Inconsistent parameters PolicyStore PersistentStore and Dhcp Enabled' 'InvalidArgument' $ip 'Windows System Error 87'
  }
  Add-SimHostItem $a 'ips' @{ ip = $ip; prefix = $prefix }
  if ($c.P.DefaultGateway) { $a.gateway = [string]$c.P.DefaultGateway }
  # it answers twice: the address in the active store and in the persistent store
  ConvertTo-SimHostIpObject $ip $prefix ([int]$a.ifIndex) ([string]$a.name) 'IPv4' 'Manual' 'ActiveStore'
  ConvertTo-SimHostIpObject $ip $prefix ([int]$a.ifIndex) ([string]$a.name) 'IPv4' 'Manual' 'PersistentStore'
}

Register-SimCmdlet 'Remove-NetIPAddress' {
  param($c)
  $S = $c.S
  $targets = @()
  if ($c.P.ContainsKey('InputObject')) { $targets = @($c.P.InputObject | ForEach-Object { @{ ip = [string]$_.IPAddress; ifIndex = [int]$_.InterfaceIndex } }) }
  else {
    foreach ($a in (Get-SimHostAdapters $S)) {
      if ($c.P.ContainsKey('InterfaceIndex') -and @($c.P.InterfaceIndex | ForEach-Object { [int]$_ }) -notcontains [int]$a.ifIndex) { continue }
      if ($c.P.ContainsKey('InterfaceAlias') -and -not (Test-SimHostName $a.name $c.P.InterfaceAlias)) { continue }
      foreach ($x in @($a.ips)) { if ($null -ne $x -and (-not $c.P.IPAddress -or (Test-SimHostName $x.ip $c.P.IPAddress))) { $targets += @{ ip = [string]$x.ip; ifIndex = [int]$a.ifIndex } } }
    }
    if ($targets.Count -eq 0) { Stop-Sim 'Remove-NetIPAddress: No matching MSFT_NetIPAddress objects found.' 'ObjectNotFound' $c.P.IPAddress }
  }
  foreach ($t in $targets) {
    $a = @($S.host.adapters | Where-Object { $null -ne $_ -and [int]$_.ifIndex -eq $t.ifIndex }) | Select-Object -First 1
    if ($null -eq $a -or @($a.ips | Where-Object { $null -ne $_ -and $_.ip -eq $t.ip }).Count -eq 0) {
      & $c.Error "Remove-NetIPAddress: the address $($t.ip) is no longer on interface $($t.ifIndex)." 'ObjectNotFound' $t.ip
      continue
    }
    $gone = $t.ip
    Select-SimHostItems $a 'ips' { param($x) $x.ip -ne $gone }
  }
}

Register-SimCmdlet 'Set-NetIPInterface' {
  param($c)
  $S = $c.S
  $targets = @()
  if ($c.P.ContainsKey('InputObject')) { $targets = @($c.P.InputObject | ForEach-Object { Find-SimHostAdapter $S ([int]$_.InterfaceIndex) }) }
  elseif ($c.P.ContainsKey('InterfaceIndex')) { $targets = @($c.P.InterfaceIndex | ForEach-Object { Find-SimHostAdapter $S ([int]$_) }) }
  elseif ($c.P.ContainsKey('InterfaceAlias')) { $targets = @(Get-SimHostAdapters $S | Where-Object { Test-SimHostName $_.name $c.P.InterfaceAlias }) }
  $targets = @($targets | Where-Object { $_ })
  if ($targets.Count -eq 0) { Stop-Sim "Set-NetIPInterface: No MSFT_NetIPInterface objects found with property 'InterfaceIndex' equal to '$($c.P.InterfaceIndex)$($c.P.InterfaceAlias)'." 'ObjectNotFound' $c.P.InterfaceIndex }
  if ($c.P.ContainsKey('AddressFamily') -and [string]$c.P.AddressFamily -ne 'IPv4') { return }
  foreach ($a in $targets) {
    if ($c.P.ContainsKey('Dhcp')) {
      $on = [string]$c.P.Dhcp -eq 'Enabled'
      $a.dhcp = $on
      # without DHCP, the autoconfiguration (169.254) address goes
      if (-not $on) { Select-SimHostItems $a 'ips' { param($x) -not ([string]$x.ip).StartsWith('169.254.') } }
    }
  }
}

<# The host's IPv4 routing table: on-link routes of its addresses, the default route, extra routes (a VPN). #>
function Get-SimHostRoutes([hashtable]$S) {
  $out = New-Object System.Collections.Generic.List[object]
  $out.Add(@{ prefix = '127.0.0.0/8'; ifIndex = 1; alias = 'Loopback Pseudo-Interface 1'; nextHop = '0.0.0.0'; metric = 256 })
  foreach ($a in (Get-SimHostAdapters $S)) {
    foreach ($x in @($a.ips)) {
      if ($null -eq $x) { continue }
      $p = ConvertTo-SimHostPrefix "$($x.ip)/$($x.prefix)"
      if ($null -eq $p) { continue }
      $bcast = [uint32]([uint64]$p.net + (4294967295 - [uint64](Get-SimHostMask $p.bits)))
      $out.Add(@{ prefix = "$(ConvertFrom-SimHostIp $p.net)/$($p.bits)"; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; nextHop = '0.0.0.0'; metric = 256 })
      $out.Add(@{ prefix = "$($x.ip)/32"; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; nextHop = '0.0.0.0'; metric = 256 })
      $out.Add(@{ prefix = "$(ConvertFrom-SimHostIp $bcast)/32"; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; nextHop = '0.0.0.0'; metric = 256 })
    }
    if ($a.gateway) { $out.Add(@{ prefix = '0.0.0.0/0'; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; nextHop = [string]$a.gateway; metric = 0 }) }
  }
  foreach ($r in @($S.host.routes)) {
    if ($null -eq $r) { continue }
    $a = @(Get-SimHostAdapters $S | Where-Object { [int]$_.ifIndex -eq [int]$r.ifIndex }) | Select-Object -First 1
    $out.Add(@{ prefix = [string]$r.prefix; ifIndex = [int]$r.ifIndex; alias = $(if ($null -ne $a) { [string]$a.name } else { [string]$r.alias }); nextHop = $(if ($r.nextHop) { [string]$r.nextHop } else { '0.0.0.0' }); metric = 1 })
  }
  $out.Add(@{ prefix = '224.0.0.0/4'; ifIndex = 1; alias = 'Loopback Pseudo-Interface 1'; nextHop = '0.0.0.0'; metric = 256 })
  $out.Add(@{ prefix = '255.255.255.255/32'; ifIndex = 1; alias = 'Loopback Pseudo-Interface 1'; nextHop = '0.0.0.0'; metric = 256 })
  return $out.ToArray()
}

function ConvertTo-SimHostRouteObject([hashtable]$R) {
  New-SimCim 'MSFT_NetRoute' ([ordered]@{
      DestinationPrefix = [string]$R.prefix; InterfaceIndex = [uint32]$R.ifIndex; InterfaceAlias = [string]$R.alias
      NextHop = [string]$R.nextHop; RouteMetric = [uint16]$R.metric; AddressFamily = 'IPv4'; Protocol = 'Local'; State = 'Alive'
      ifIndex = [uint32]$R.ifIndex; PolicyStore = 'ActiveStore'
    })
}

Register-SimCmdlet 'Get-NetRoute' {
  param($c)
  $S = $c.S
  if ($c.P.ContainsKey('AddressFamily') -and [string]$c.P.AddressFamily -ne 'IPv4') { return }
  $list = @(Get-SimHostRoutes $S)
  if ($c.P.ContainsKey('InterfaceIndex')) { $w = @($c.P.InterfaceIndex | ForEach-Object { [int]$_ }); $list = @($list | Where-Object { $w -contains $_.ifIndex }) }
  if ($c.P.ContainsKey('DestinationPrefix')) { $list = @($list | Where-Object { Test-SimHostName $_.prefix $c.P.DestinationPrefix }) }
  if ($list.Count -eq 0 -and ($c.P.ContainsKey('InterfaceIndex') -or $c.P.ContainsKey('DestinationPrefix'))) { & $c.Error 'No matching MSFT_NetRoute objects found by CIM query.' 'ObjectNotFound' $null; return }
  foreach ($r in $list) { ConvertTo-SimHostRouteObject $r }
}

Register-SimCmdlet 'Find-NetRoute' {
  param($c)
  $S = $c.S
  $target = ConvertTo-SimHostIp ([string]$c.P.RemoteIPAddress)
  if ($null -eq $target) { Stop-Sim "Find-NetRoute: '$($c.P.RemoteIPAddress)' is not an IPv4 address." 'InvalidArgument' $c.P.RemoteIPAddress }
  $best = $null
  foreach ($r in (Get-SimHostRoutes $S)) {
    $p = ConvertTo-SimHostPrefix $r.prefix
    if ($null -eq $p -or ($target -band (Get-SimHostMask $p.bits)) -ne $p.net) { continue }
    if ($c.P.ContainsKey('InterfaceIndex') -and [int]$r.ifIndex -ne [int]$c.P.InterfaceIndex) { continue }
    if ($null -eq $best -or $p.bits -gt $best.bits -or ($p.bits -eq $best.bits -and $r.metric -lt $best.r.metric)) { $best = @{ bits = $p.bits; r = $r } }
  }
  if ($null -eq $best) { & $c.Error "Find-NetRoute: no route to $($c.P.RemoteIPAddress)." 'ObjectNotFound' $c.P.RemoteIPAddress; return }
  # the source address of that interface, then the route (as Windows answers)
  $src = @(Get-SimHostIpList $S | Where-Object { $_.ifIndex -eq [int]$best.r.ifIndex -and $_.family -eq 'IPv4' }) | Select-Object -First 1
  if ($null -ne $src) { ConvertTo-SimHostIpObject $src.ip $src.prefix $src.ifIndex $src.alias 'IPv4' $src.origin }
  ConvertTo-SimHostRouteObject $best.r
}

<# Neighbours: VMs whose OS runs, with an address on a host adapter's subnet, and the physical gateway. #>
Register-SimCmdlet 'Get-NetNeighbor' {
  param($c)
  $S = $c.S
  $out = @()
  foreach ($a in (Get-SimHostAdapters $S)) {
    foreach ($vm in @($S.vms)) {
      if ($null -eq $vm -or [string]$vm.state -ne 'Running' -or $null -eq $vm.guest -or $vm.guest.phase -ne 'ready') { continue }
      foreach (${va} in @($vm.adapters)) {
        if ($null -eq $va -or $va.switchName -ne $a.switchName -or -not $a.switchName) { continue }
        if ((ConvertTo-SimHostMac $va.mac) -ne (ConvertTo-SimHostMac ([string]$vm.guest.mac))) { continue }
        foreach ($gip in @($vm.guest.ipv4)) {
          $g = ConvertTo-SimHostIp ([string]$gip)
          if ($null -eq $g) { continue }
          $onLink = $false
          foreach ($x in @($a.ips)) { $p = ConvertTo-SimHostPrefix "$($x.ip)/$($x.prefix)"; if ($null -ne $p -and ($g -band (Get-SimHostMask $p.bits)) -eq $p.net) { $onLink = $true } }
          if ($onLink) { $out += @{ ip = [string]$gip; mac = ConvertTo-SimHostDashedMac $va.mac; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; state = 'Reachable' } }
        }
      }
    }
    if ($a.kind -eq 'physical' -and $a.gateway) { $out += @{ ip = [string]$a.gateway; mac = '00-11-22-33-44-55'; ifIndex = [int]$a.ifIndex; alias = [string]$a.name; state = 'Reachable' } }
  }
  if ($c.P.ContainsKey('LinkLayerAddress')) { $w = @($c.P.LinkLayerAddress | ForEach-Object { ConvertTo-SimHostMac $_ }); $out = @($out | Where-Object { $w -contains (ConvertTo-SimHostMac $_.mac) }) }
  if ($c.P.ContainsKey('IPAddress')) { $out = @($out | Where-Object { Test-SimHostName $_.ip $c.P.IPAddress }) }
  if ($c.P.ContainsKey('InterfaceIndex')) { $w = @($c.P.InterfaceIndex | ForEach-Object { [int]$_ }); $out = @($out | Where-Object { $w -contains $_.ifIndex }) }
  if ($out.Count -eq 0 -and ($c.P.ContainsKey('LinkLayerAddress') -or $c.P.ContainsKey('IPAddress'))) { & $c.Error 'No matching MSFT_NetNeighbor objects found by CIM query.' 'ObjectNotFound' $null; return }
  foreach ($n in $out) {
    New-SimCim 'MSFT_NetNeighbor' ([ordered]@{ IPAddress = $n.ip; LinkLayerAddress = $n.mac; State = $n.state; InterfaceIndex = [uint32]$n.ifIndex; ifIndex = [uint32]$n.ifIndex; InterfaceAlias = $n.alias; AddressFamily = 'IPv4' })
  }
}

Register-SimCmdlet 'Get-DnsClientServerAddress' {
  param($c)
  $S = $c.S
  $family = $(if ($c.P.AddressFamily) { [string]$c.P.AddressFamily } else { '' })
  $rows = @(@{ ifIndex = 1; alias = 'Loopback Pseudo-Interface 1'; dns = @() })
  foreach ($a in (Get-SimHostAdapters $S)) { $rows += @{ ifIndex = [int]$a.ifIndex; alias = [string]$a.name; dns = @($a.dns | Where-Object { $_ }) } }
  if ($c.P.ContainsKey('InterfaceIndex')) { $w = @($c.P.InterfaceIndex | ForEach-Object { [int]$_ }); $rows = @($rows | Where-Object { $w -contains $_.ifIndex }) }
  if ($c.P.ContainsKey('InterfaceAlias')) { $rows = @($rows | Where-Object { Test-SimHostName $_.alias $c.P.InterfaceAlias }) }
  foreach ($r in $rows) {
    foreach ($f in @('IPv4', 'IPv6')) {
      if ($family -and $family -ne $f) { continue }
      # AddressFamily is a number on Windows (2 = IPv4, 23 = IPv6)
      New-SimCim 'MSFT_DNSClientServerAddress' ([ordered]@{
          InterfaceAlias = $r.alias; InterfaceIndex = [uint32]$r.ifIndex; AddressFamily = [uint16]$(if ($f -eq 'IPv4') { 2 } else { 23 })
          ServerAddresses = [string[]]$(if ($f -eq 'IPv4') { @($r.dns) } else { @() })
        })
    }
  }
}

# ---------------------------------------------------------------------------------------
# NetNat
# ---------------------------------------------------------------------------------------

function ConvertTo-SimHostNatObject([hashtable]$N) {
  New-SimCim 'MSFT_NetNat' ([ordered]@{
      Name = [string]$N.name; InternalIPInterfaceAddressPrefix = [string]$N.prefix; ExternalIPInterfaceAddressPrefix = $null
      InternalRoutingDomainId = '{00000000-0000-0000-0000-000000000000}'; Active = $true; Store = 'Local'
      IcmpQueryTimeout = [uint32]30; TcpEstablishedConnectionTimeout = [uint32]1800; UdpIdleSessionTimeout = [uint32]120
    })
}

Register-SimCmdlet 'Get-NetNat' {
  param($c)
  $list = @($c.S.nats | Where-Object { $_ })
  if ($c.P.ContainsKey('Name')) {
    foreach ($n in @($c.P.Name)) {
      $hit = @($list | Where-Object { Test-SimHostName $_.name $n })
      if ($hit.Count -eq 0) { & $c.Error "No MSFT_NetNat objects found with property 'Name' equal to '$n'. Verify the value of the property and retry." 'ObjectNotFound' $n; continue }
      $hit | ForEach-Object { ConvertTo-SimHostNatObject $_ }
    }
    return
  }
  foreach ($n in $list) { ConvertTo-SimHostNatObject $n }
}

Register-SimCmdlet 'New-NetNat' {
  param($c)
  $S = $c.S
  $name = [string]$c.P.Name
  $prefix = [string]$c.P.InternalIPInterfaceAddressPrefix
  if (-not $prefix) { Stop-Sim 'New-NetNat without -InternalIPInterfaceAddressPrefix is not simulated' 'NotImplemented' }
  $p = ConvertTo-SimHostPrefix $prefix
  if ($null -eq $p) { Stop-Sim 'The parameter is incorrect.' 'InvalidArgument' $prefix 'Windows System Error 87,New-NetNat' }
  $nats = @($S.nats | Where-Object { $_ })
  if (@($nats | Where-Object { $_.name -eq $name }).Count -gt 0) { Stop-Sim 'The object already exists.' 'ResourceExists' $name 'Windows System Error 5010,New-NetNat' }
  # [nat-one] a host that allows a single NetNat
  $limit = $S.config.natLimit
  if ($null -ne $limit -and $nats.Count -ge [int]$limit) { Stop-Sim 'The parameter is incorrect.' 'InvalidArgument' $name 'Windows System Error 87,New-NetNat' }
  # [nat-overlap]
  foreach ($n in $nats) {
    $q = ConvertTo-SimHostPrefix ([string]$n.prefix)
    if ($null -ne $q -and (Test-SimHostOverlap $p $q)) { Stop-Sim 'The parameter is incorrect.' 'InvalidArgument' $name 'Windows System Error 87,New-NetNat' }
  }
  $nat = @{ name = $name; prefix = $prefix }
  Add-SimHostItem $S 'nats' $nat
  ConvertTo-SimHostNatObject $nat
}

Register-SimCmdlet 'Remove-NetNat' {
  param($c)
  $S = $c.S
  $names = $(if ($c.P.ContainsKey('InputObject')) { @($c.P.InputObject | ForEach-Object { [string]$_.Name }) } elseif ($c.P.ContainsKey('Name')) { @($c.P.Name) } else { @($S.nats | Where-Object { $_ } | ForEach-Object { $_.name }) })
  foreach ($n in $names) {
    $hit = @($S.nats | Where-Object { $null -ne $_ -and (Test-SimHostName $_.name $n) })
    if ($hit.Count -eq 0) { Stop-Sim "No MSFT_NetNat objects found with property 'Name' equal to '$n'. Verify the value of the property and retry." 'ObjectNotFound' $n 'CmdletizationQuery_NotFound_Name,Remove-NetNat' }
    $gone = @($hit | ForEach-Object { $_.name })
    Select-SimHostItems $S 'nats' { param($x) $gone -notcontains $x.name }
  }
}
