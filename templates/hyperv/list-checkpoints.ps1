# The checkpoints of the lab's VMs: one entry per VM and checkpoint, with its name and when it
# was taken. A VM that does not exist has none. Changes nothing.
param(
  [Parameter(Mandatory = $true)][string[]]$VMName
)
$ErrorActionPreference = 'Stop'

$out = New-Object System.Collections.Generic.List[object]
foreach ($name in $VMName) {
  $vm = @(Get-VM | Where-Object { $_.Name -eq $name }) | Select-Object -First 1
  if ($null -eq $vm) { continue }
  foreach ($snapshot in @(Get-VMSnapshot -VM $vm -ErrorAction SilentlyContinue)) {
    $out.Add(@{
        vm      = $name
        id      = [string]$snapshot.Id
        name    = [string]$snapshot.Name
        created = $snapshot.CreationTime.ToUniversalTime().ToString('o')
      })
  }
}
@{ checkpoints = $out.ToArray() }
