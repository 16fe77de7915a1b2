# Everything labctl checks or reports about one VM: state, heartbeat, firmware, drives,
# adapters, the addresses the guest reports and the host's neighbour entries for its MAC.
# A check and a diagnosis; changes nothing.
param(
  [Parameter(Mandatory = $true)][string]$Name,
  [string]$MacAddress = ''
)
$ErrorActionPreference = 'Stop'

$found = @(Get-VM | Where-Object { $_.Name -eq $Name })
if ($found.Count -eq 0) { return @{ exists = $false; count = 0 } }
$vm = $found[0]

$firmware = $null
if ($vm.Generation -eq 2) {
  $fw = Get-VMFirmware -VM $vm
  $first = @($fw.BootOrder) | Select-Object -First 1
  $firstBoot = $null
  if ($null -ne $first) {
    # a File entry (a boot loader the guest registered, e.g. "ubuntu") has no device
    $device = ''
    $devicePath = ''
    if ($null -ne $first.Device) { $device = [string]$first.Device.GetType().Name; $devicePath = [string]$first.Device.Path }
    $firstBoot = @{ type = [string]$first.BootType; path = $devicePath; device = $device; description = [string]$first.Description }
  }
  $firmware = @{ secureBoot = [string]$fw.SecureBoot; template = [string]$fw.SecureBootTemplate; firstBoot = $firstBoot }
}

$adapters = @(Get-VMNetworkAdapter -VM $vm | ForEach-Object {
    @{ mac = ([string]$_.MacAddress).ToUpperInvariant(); switch = [string]$_.SwitchName; addresses = @($_.IPAddresses | ForEach-Object { [string]$_ }) }
  })
$neighbours = @()
if ($MacAddress) {
  $dashed = ($MacAddress.ToUpperInvariant() -split '(..)' | Where-Object { $_ }) -join '-'
  $neighbours = @(Get-NetNeighbor -LinkLayerAddress $dashed -ErrorAction SilentlyContinue | ForEach-Object { @{ ip = [string]$_.IPAddress; state = [string]$_.State } })
}
$com1 = Get-VMComPort -VM $vm -Number 1 -ErrorAction SilentlyContinue
# a VM with checkpoints writes to .avhdx files over its disks: each drive is listed with the
# disks below it down to the VM's own (so a check for the VM's disk still finds it)
$disks = New-Object System.Collections.Generic.List[string]
foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) {
  $path = [string]$drive.Path
  for ($i = 0; $path -and $i -lt 64; $i++) {
    $disks.Add($path)
    if (-not $path.ToLowerInvariant().EndsWith('.avhdx')) { break }
    $path = [string](Get-VHD -Path $path).ParentPath
  }
}

@{
  exists         = $true
  count          = $found.Count
  id             = [string]$vm.Id
  notes          = [string]$vm.Notes
  state          = [string]$vm.State
  status         = [string]$vm.Status
  heartbeat      = [string]$vm.Heartbeat
  uptimeSeconds  = [int]$vm.Uptime.TotalSeconds
  generation     = [int]$vm.Generation
  processorCount = [int]$vm.ProcessorCount
  memoryBytes    = [long]$vm.MemoryStartup
  path           = [string]$vm.Path
  firmware       = $firmware
  disks          = $disks.ToArray()
  dvds           = @(Get-VMDvdDrive -VM $vm | ForEach-Object { [string]$_.Path })
  adapters       = $adapters
  neighbours     = $neighbours
  com1           = $(if ($null -ne $com1) { [string]$com1.Path } else { '' })
  checkpoints    = @(Get-VMSnapshot -VM $vm -ErrorAction SilentlyContinue).Count
}
