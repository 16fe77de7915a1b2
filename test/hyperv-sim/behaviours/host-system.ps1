# The simulated Hyper-V host, part 5: the host system itself. Get-CimInstance
# Win32_OperatingSystem and Get-ExecutionPolicy. Each is the host's side
# only: the same cmdlet inside a Windows guest goes to behaviours/guest-*.ps1 when they
# register it (Register-SimHostCmdlet keeps both).
#
#   [exec-policy]  Microsoft Learn, about_Execution_Policies: scopes in order of precedence
#                  MachinePolicy, UserPolicy (both set by Group Policy), Process (what
#                  powershell.exe -ExecutionPolicy sets), CurrentUser, LocalMachine; "the Group
#                  Policy settings ... take precedence over the execution policy that is set for
#                  the current session (Process scope)"
#                  https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_execution_policies

Register-SimHostCmdlet 'Get-CimInstance' {
  param($c)
  $S = $c.S
  $class = [string]$c.P.ClassName
  if (-not $class -and $c.P.Query -match '(?i)from\s+(\w+)') { $class = $Matches[1] }
  switch ($class) {
    'Win32_OperatingSystem' {
      $used = 0
      foreach ($vm in @($S.vms)) { if ($null -ne $vm -and (Test-SimHostVmOn $vm)) { $used += [long]$vm.memoryStartupBytes } }
      $free = [Math]::Max([long]0, [long]$S.host.freeMemoryBytes - $used)
      $o = [pscustomobject][ordered]@{
        Caption                = [string]$S.host.caption
        BuildNumber            = [string]$S.host.build
        Version                = "10.0.$($S.host.build)"
        CSName                 = [string]$S.host.computerName
        OSArchitecture         = '64-bit'
        # in kilobytes, as WMI gives them
        FreePhysicalMemory     = [uint64][Math]::Floor($free / 1024)
        TotalVisibleMemorySize = [uint64][Math]::Floor(([long]$S.host.freeMemoryBytes + 8GB) / 1024)
        ProductType            = [uint32]3
      }
      $o.PSObject.TypeNames.Insert(0, 'Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem')
      $o.PSObject.TypeNames.Insert(1, 'Microsoft.Management.Infrastructure.CimInstance')
      return $o
    }
    'Win32_ComputerSystem' {
      $o = [pscustomobject][ordered]@{ Name = [string]$S.host.computerName; Domain = 'WORKGROUP'; PartOfDomain = $false; TotalPhysicalMemory = [uint64]([long]$S.host.freeMemoryBytes + 8GB); HypervisorPresent = $true }
      $o.PSObject.TypeNames.Insert(0, 'Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_ComputerSystem')
      return $o
    }
    default { Stop-Sim "Get-CimInstance: the simulated host has no class '$class' (Invalid class)" 'ObjectNotFound' $class 'HRESULT 0x80041010' }
  }
}

# Get-Service (vmms on the host) is behaviours/guest-windows.ps1's: it answers for the host and the guests.

# PowerShell on Linux does not enforce execution policies; on the simulated host the
# policies of the state answer (the Process scope is the session's own: labctl starts
# PowerShell with -ExecutionPolicy Bypass)
Register-SimHostIntercept 'Get-ExecutionPolicy' { param($bound) $true }

Register-SimHostCmdlet 'Get-ExecutionPolicy' {
  param($c)
  $S = $c.S
  $policies = $S.host.executionPolicy
  if ($null -eq $policies) { $policies = @{} }
  $process = [string]$policies.Process
  # the session's own: what powershell.exe -ExecutionPolicy gave (pwsh-sim passes it on)
  if (-not $process -or $process -eq 'Undefined') { $process = $(if ($env:LABCTL_SIM_PROCESS_POLICY) { $env:LABCTL_SIM_PROCESS_POLICY } else { 'Undefined' }) }
  $scopes = [ordered]@{
    MachinePolicy = $(if ($policies.MachinePolicy) { [string]$policies.MachinePolicy } else { 'Undefined' })
    UserPolicy    = $(if ($policies.UserPolicy) { [string]$policies.UserPolicy } else { 'Undefined' })
    Process       = $process
    CurrentUser   = $(if ($policies.CurrentUser) { [string]$policies.CurrentUser } else { 'Undefined' })
    LocalMachine  = $(if ($policies.LocalMachine) { [string]$policies.LocalMachine } else { 'Undefined' })
  }
  if ($c.P.List) {
    foreach ($k in $scopes.Keys) {
      [pscustomobject][ordered]@{ Scope = [Microsoft.PowerShell.ExecutionPolicyScope]$k; ExecutionPolicy = [Microsoft.PowerShell.ExecutionPolicy]$scopes[$k] }
    }
    return
  }
  if ($c.P.ContainsKey('Scope')) { return [Microsoft.PowerShell.ExecutionPolicy]$scopes[[string]$c.P.Scope] }
  # [exec-policy] the first scope that sets one wins; none: Restricted (client) / RemoteSigned (Server)
  foreach ($k in $scopes.Keys) { if ($scopes[$k] -ne 'Undefined') { return [Microsoft.PowerShell.ExecutionPolicy]$scopes[$k] } }
  return [Microsoft.PowerShell.ExecutionPolicy]'RemoteSigned'
}
