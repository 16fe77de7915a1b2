# Accounts inside a Windows guest: local users (Microsoft.PowerShell.LocalAccounts: Get-, New-,
# Set-LocalUser) and the IIS Manager Permissions of a site (Microsoft.Web.Management.Server.
# ManagementAuthorization, the .NET API of IIS's management service, stood in by a small type
# loaded when a script does Add-Type -Path ...\inetsrv\Microsoft.Web.Management.dll).
#
# State: $vm.guest.users = { "<name lower>": { name, password, enabled, description, fullName,
# passwordNeverExpires, userMayChangePassword, groups: [..], sid } } (made the first time it is
# needed: Administrator with the guest's password, Guest, DefaultAccount, WDAGUtilityAccount, the
# accounts of a new Windows Server 2022); $vm.guest.iis.authorization = [ { path, name, isRole } ]
# (administration.config's system.webServer/management/authorization).
#
# Rules, each with its source:
# - a user name has at most 20 characters, none of " / \ [ ] : ; | = , + * ? < > @, and is not
#   only periods or spaces; it cannot be another user's (New-LocalUser.md, NOTES; PowerShell-Docs
#   reference/5.1/Microsoft.PowerShell.LocalAccounts). The error texts are the module's own
#   (UserExistsException "User {0} already exists.", UserNotFoundException "User {0} was not found.",
#   InvalidPasswordException: Windows' NERR_PasswordTooShort text).
# - a password must meet the complexity policy a Windows Server has on by default (Microsoft
#   Learn, "Password must meet complexity requirements": enabled by default on domain controllers
#   and stand-alone servers); the check is the host's (host-vm.ps1, Test-SimHostPasswordComplexity).
# - a new local user is a member of Users only (NetUserAdd's default; not an administrator):
#   what Web Deploy's SetupSiteForPublish.ps1 calls "a non-administrator local Windows user".
# - ManagementAuthorization.Grant(name, configurationPath, isRole) gives a user IIS Manager
#   Permissions on a site ("the IIS Manager Permissions feature ... to grant users the right to
#   connect remotely to their Web sites": iis-docs iis/publish/using-web-deploy/
#   configure-the-web-deployment-handler.md, Part 1; the call as Web Deploy's own
#   SetupSiteForPublish.ps1 makes it, GrantAccessToSiteScope: Grant("$env:computername\$user",
#   $siteName, $false), after looking through GetAuthorizedUsers($siteName, $false, 0, MaxValue)
#   first). A Windows user is named DOMAIN\user (the machine's name for a local one), and WMSvc
#   compares that name with whom it authenticated. Modelled strictly (the texts are this
#   simulator's, unverified): the site must exist, a Windows account must exist, and granting an
#   entry that is there already fails as IIS's configuration does for a duplicate collection entry.

# ---------------------------------------------------------------------------------------
# local users
# ---------------------------------------------------------------------------------------

<# The guest's local users, made on first use as a new Windows Server 2022 has them. #>
function Get-SimGuestUsers([hashtable]$g) {
  if ($null -eq $g.users) {
    $g.users = @{}
    $next = 500
    foreach ($u in @(
        @{ name = 'Administrator'; password = [string]$g.adminPassword; enabled = $true; description = 'Built-in account for administering the computer/domain'; groups = @('Administrators') }
        @{ name = 'Guest'; password = ''; enabled = $false; description = 'Built-in account for guest access to the computer/domain'; groups = @('Guests') }
        @{ name = 'DefaultAccount'; password = ''; enabled = $false; description = 'A user account managed by the system.'; groups = @('System Managed Accounts Group') }
        @{ name = 'WDAGUtilityAccount'; password = ''; enabled = $false; description = 'A user account managed and used by the system for Windows Defender Application Guard scenarios.'; groups = @() }
      )) {
      $u.fullName = ''; $u.passwordNeverExpires = $true; $u.userMayChangePassword = $true
      $u.sid = 'S-1-5-21-1004336348-1177238915-682003330-{0}' -f $next
      $next = $(if ($next -eq 500) { 501 } elseif ($next -eq 501) { 503 } else { $next + 1 })
      $g.users[$u.name.ToLowerInvariant()] = $u
    }
  }
  # the Administrator's password is the one setup gave it (the host side keeps it in adminPassword)
  $admin = $g.users['administrator']
  if ($null -ne $admin -and $g.adminPassword) { $admin.password = [string]$g.adminPassword }
  return $g.users
}

<# A user by name ('name', '.\name' or 'COMPUTER\name'), or $null. #>
function Find-SimGuestUser([hashtable]$g, [string]$Name) {
  $n = $Name
  if ($n -match '^(?<domain>[^\\]+)\\(?<user>.+)$') {
    if ($Matches.domain -ne '.' -and $Matches.domain -ne [string]$g.computerName) { return $null }
    $n = $Matches.user
  }
  return (Get-SimGuestUsers $g)[$n.ToLowerInvariant()]
}

function ConvertFrom-SimSecureString($Secure) {
  if ($null -eq $Secure) { return $null }
  if ($Secure -is [string]) { return $Secure }
  return [System.Net.NetworkCredential]::new('', $Secure).Password
}

function New-SimLocalUserObject([hashtable]$u) {
  New-SimObject @('Microsoft.PowerShell.Commands.LocalUser', 'Microsoft.PowerShell.Commands.LocalPrincipal') ([ordered]@{
      Name                  = $u.name
      Enabled               = [bool]$u.enabled
      Description           = $u.description
      FullName              = $u.fullName
      SID                   = $u.sid
      PrincipalSource       = 'Local'
      ObjectClass           = 'User'
      PasswordRequired      = $true
      UserMayChangePassword = [bool]$u.userMayChangePassword
      PasswordExpires       = $null
      PasswordLastSet       = $u.passwordLastSet
    })
}

<# Why a name cannot be a user name (New-LocalUser.md, NOTES), or $null. #>
function Test-SimUserName([string]$Name) {
  if ($Name.Length -gt 20) { return "it has $($Name.Length) characters (at most 20)" }
  if ($Name -match '["/\\\[\]:;|=,+*?<>@]') { return 'it contains one of " / \ [ ] : ; | = , + * ? < > @' }
  if ($Name -match '^[. ]+$') { return 'it consists only of periods or spaces' }
  return $null
}

$script:SimPasswordPolicyText = 'The password does not meet the password policy requirements. Check the minimum password length, password complexity and password history requirements.'

Register-SimCmdlet 'Get-LocalUser' {
  param($c)
  $vm = Get-SimGuestVm $c.S $c.Ctx 'Get-LocalUser'
  $users = Get-SimGuestUsers $vm.guest
  if ($c.P.ContainsKey('SID')) {
    foreach ($sid in @($c.P.SID)) {
      $u = @($users.Values | Where-Object { $_.sid -eq [string]$sid }) | Select-Object -First 1
      if ($null -eq $u) { & $c.Error "User $sid was not found." 'ObjectNotFound' $sid; continue }
      New-SimLocalUserObject $u
    }
    return
  }
  if (-not $c.P.ContainsKey('Name')) {
    foreach ($u in @($users.Values | Sort-Object { $_.name })) { New-SimLocalUserObject $u }
    return
  }
  foreach ($n in @($c.P.Name)) {
    $m = @($users.Values | Where-Object { $_.name -like $n } | Sort-Object { $_.name })
    if ($m.Count -eq 0 -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($n)) {
      & $c.Error "User $n was not found." 'ObjectNotFound' $n
      continue
    }
    foreach ($u in $m) { New-SimLocalUserObject $u }
  }
}

Register-SimCmdlet 'New-LocalUser' {
  param($c)
  $vm = Get-SimGuestVm $c.S $c.Ctx 'New-LocalUser'
  $g = $vm.guest
  $users = Get-SimGuestUsers $g
  $name = [string]$c.P.Name
  $bad = Test-SimUserName $name
  if ($bad) { Stop-Sim "The name $name is not a valid user name: $bad." 'InvalidArgument' $name 'InvalidName' }
  if ($null -ne $users[$name.ToLowerInvariant()]) { Stop-Sim "User $name already exists." 'ResourceExists' $name 'UserExists' }
  $password = ConvertFrom-SimSecureString $c.P.Password
  if ($null -ne $password -and (Test-SimHostPasswordComplexity $password $name)) {
    Stop-Sim $script:SimPasswordPolicyText 'InvalidArgument' $name 'InvalidPassword'
  }
  $next = 1000 + @($users.Values | Where-Object { $_.sid -match '-(\d+)$' -and [int]$Matches[1] -ge 1000 }).Count
  $u = @{
    name = $name; password = $(if ($null -ne $password) { $password } else { '' }); enabled = -not [bool]$c.P.Disabled
    description = [string]$c.P.Description; fullName = [string]$c.P.FullName
    passwordNeverExpires = [bool]$c.P.PasswordNeverExpires; userMayChangePassword = -not [bool]$c.P.UserMayNotChangePassword
    groups = @('Users'); sid = ('S-1-5-21-1004336348-1177238915-682003330-{0}' -f $next); passwordLastSet = (Get-SimNow).ToString('o')
  }
  $users[$name.ToLowerInvariant()] = $u
  New-SimLocalUserObject $u
}

Register-SimCmdlet 'Set-LocalUser' {
  param($c)
  $vm = Get-SimGuestVm $c.S $c.Ctx 'Set-LocalUser'
  $g = $vm.guest
  $users = Get-SimGuestUsers $g
  $u = $null
  if ($c.P.ContainsKey('InputObject')) { $u = $users[([string]$c.P.InputObject.Name).ToLowerInvariant()]; $shown = [string]$c.P.InputObject.Name }
  elseif ($c.P.ContainsKey('SID')) { $u = @($users.Values | Where-Object { $_.sid -eq [string]$c.P.SID }) | Select-Object -First 1; $shown = [string]$c.P.SID }
  else { $u = $users[([string]$c.P.Name).ToLowerInvariant()]; $shown = [string]$c.P.Name }
  if ($null -eq $u) { Stop-Sim "User $shown was not found." 'ObjectNotFound' $shown 'UserNotFound' }
  if ($c.P.ContainsKey('Password')) {
    $password = ConvertFrom-SimSecureString $c.P.Password
    if (Test-SimHostPasswordComplexity $password $u.name) { Stop-Sim $script:SimPasswordPolicyText 'InvalidArgument' $u.name 'InvalidPassword' }
    $u.password = $password
    $u.passwordLastSet = (Get-SimNow).ToString('o')
    # the Administrator's password is also what PowerShell Direct checks
    if ($u.name -eq 'Administrator') { $g.adminPassword = $password }
  }
  if ($c.P.ContainsKey('Description')) { $u.description = [string]$c.P.Description }
  if ($c.P.ContainsKey('FullName')) { $u.fullName = [string]$c.P.FullName }
  if ($c.P.ContainsKey('PasswordNeverExpires')) { $u.passwordNeverExpires = [bool]$c.P.PasswordNeverExpires }
  if ($c.P.ContainsKey('UserMayChangePassword')) { $u.userMayChangePassword = [bool]$c.P.UserMayChangePassword }
}

# ---------------------------------------------------------------------------------------
# Microsoft.Web.Management: Add-Type -Path of the assembly loads a stand-in type whose static
# methods come back here (PowerShell.Create(RunspaceMode.CurrentRunspace): the calling guest
# runspace, so the guest's own state changes)
# ---------------------------------------------------------------------------------------

Register-SimIntercept 'Add-Type' {
  param($b)
  foreach ($p in @(@($b['Path']) + @($b['LiteralPath']) | Where-Object { $_ })) { if ([string]$p -match '(?i)[\\/]Microsoft\.Web\.Management\.dll$') { return $true } }
  return $false
}

$script:SimWebManagementSource = @'
using System;
using System.Collections.Generic;
using System.Management.Automation;
namespace Microsoft.Web.Management.Server {
  public sealed class ManagementAuthorizationInfo {
    public string Name { get; set; }
    public string ConfigurationPath { get; set; }
    public bool IsRole { get; set; }
  }
  /* labctl's simulated Windows guest: a stand-in for IIS's ManagementAuthorization; each call
     goes back to the simulator in the calling runspace (the guest's) */
  public static class ManagementAuthorization {
    static System.Collections.ObjectModel.Collection<PSObject> Call(string operation, string name, string path, bool isRole) {
      using (var ps = System.Management.Automation.PowerShell.Create(System.Management.Automation.RunspaceMode.CurrentRunspace)) {
        ps.AddCommand("LabctlSim\\Invoke-SimManagementAuthorization")
          .AddParameter("Operation", operation).AddParameter("UserName", name ?? "")
          .AddParameter("ConfigurationPath", path ?? "").AddParameter("IsRole", isRole);
        var result = ps.Invoke();
        if (ps.HadErrors && ps.Streams.Error.Count > 0) throw new InvalidOperationException(ps.Streams.Error[0].ToString());
        return result;
      }
    }
    public static ManagementAuthorizationInfo Grant(string name, string configurationPath, bool isRole) {
      Call("Grant", name, configurationPath, isRole);
      return new ManagementAuthorizationInfo { Name = name, ConfigurationPath = configurationPath, IsRole = isRole };
    }
    public static void Revoke(string name, string configurationPath) {
      Call("Revoke", name, configurationPath, false);
    }
    public static ManagementAuthorizationInfo[] GetAuthorizedUsers(string configurationPath, bool includeParentEntries, int itemIndex, int itemsPerPage) {
      var list = new List<ManagementAuthorizationInfo>();
      foreach (var o in Call("List", "", configurationPath, false)) {
        list.Add(new ManagementAuthorizationInfo { Name = (string)o.Properties["name"].Value, ConfigurationPath = configurationPath, IsRole = (bool)o.Properties["isRole"].Value });
      }
      var skip = Math.Max(0, itemIndex);
      var take = itemsPerPage < 0 ? 0 : itemsPerPage;
      var page = new List<ManagementAuthorizationInfo>();
      for (int i = skip; i < list.Count && page.Count < take; i++) page.Add(list[i]);
      return page.ToArray();
    }
  }
}
'@

Register-SimCmdlet 'Add-Type' {
  param($c)
  $vm = Get-SimGuestVm $c.S $c.Ctx 'Microsoft.Web.Management.dll'
  foreach ($p in @(@($c.P['Path']) + @($c.P['LiteralPath']) | Where-Object { $_ })) {
    $local = ConvertTo-SimGuestLocalPath $vm ([string]$p)
    if (-not [System.IO.File]::Exists($local)) { Stop-Sim "Cannot find path '$p' because it does not exist." 'ObjectNotFound' $p 'PathNotFound' }
  }
  if (-not ('Microsoft.Web.Management.Server.ManagementAuthorization' -as [type])) {
    Microsoft.PowerShell.Utility\Add-Type -TypeDefinition $script:SimWebManagementSource -Language CSharp
  }
  if ($c.P.PassThru) { [Microsoft.Web.Management.Server.ManagementAuthorization]; [Microsoft.Web.Management.Server.ManagementAuthorizationInfo] }
}

<# What the stand-in ManagementAuthorization's methods do, in the calling guest. #>
function Invoke-SimManagementAuthorization {
  param([string]$Operation, [string]$UserName, [string]$ConfigurationPath, [bool]$IsRole)
  $ctx = Get-SimContext
  Use-SimState {
    param($S)
    $vm = Get-SimGuestVm $S $ctx 'Microsoft.Web.Management.Server.ManagementAuthorization'
    $g = $vm.guest
    Initialize-SimIis $g
    if ($null -eq $g.iis.authorization) { $g.iis.authorization = @() }
    $site = ($ConfigurationPath -replace '^[\\/]+', '' -split '[\\/]')[0]
    $entries = @($g.iis.authorization | Where-Object { $_.path -eq $site })
    switch ($Operation) {
      'List' { foreach ($e in $entries) { [pscustomobject]@{ name = [string]$e.name; isRole = [bool]$e.isRole } } }
      'Grant' {
        if ($null -eq (Get-SimSite $g $site)) { throw "The site '$site' does not exist." }
        if (-not $IsRole -and $UserName -match '\\') {
          if ($null -eq (Find-SimGuestUser $g $UserName)) { throw "The user '$UserName' does not exist: No mapping between account names and security IDs was done." }
        } elseif (-not $IsRole) {
          # a name without a domain is an IIS Manager user (ManagementAuthentication.CreateUser), which the simulator does not model
          throw "The IIS Manager user '$UserName' does not exist (a Windows account is named DOMAIN\user; IIS Manager users are not simulated)."
        }
        if (@($entries | Where-Object { $_.name -eq $UserName }).Count -gt 0) {
          throw "Cannot add duplicate collection entry of type 'add' with unique key attribute 'name' set to '$UserName'"
        }
        $g.iis.authorization = @($g.iis.authorization) + @(@{ path = $site; name = $UserName; isRole = $IsRole })
      }
      'Revoke' { $g.iis.authorization = @($g.iis.authorization | Where-Object { -not ($_.path -eq $site -and $_.name -eq $UserName) }) }
    }
  }
}
