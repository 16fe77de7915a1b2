# Runs at the start of every simulated-host session (the session configuration's
# ScriptsToProcess): the runtime, then the intercepted core cmdlets over the real ones.
# The Windows-only modules (Hyper-V, Storage, …) load on first use from PSModulePath.
Import-Module -Name (Join-Path -Path $env:LABCTL_SIM_RUNTIME -ChildPath 'LabctlSim.psm1') -Global -DisableNameChecking
Import-Module -Name (Join-Path -Path $env:LABCTL_SIM_HOME -ChildPath '.generated/LabctlSimCore.psm1') -Global -DisableNameChecking
Write-SimTrace 'session started'
