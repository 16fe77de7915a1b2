# Reads PowerShell files with PowerShell's own parser and prints, as JSON, what the tests
# check: parse errors, the syntax that only PowerShell 7 has, every command with its named
# parameters, and every static .NET member call with its argument count. The decisions (what
# Windows PowerShell 5.1 lacks) are made in TypeScript (ps51.test.ts), with the cmdlet
# reference's data.
param(
  # a file with one path per line
  [Parameter(Mandatory = $true)][string]$ListFile
)
$ErrorActionPreference = 'Stop'
$Path = @(Get-Content -LiteralPath $ListFile | Where-Object { $_ })

function Get-Line($ast) { $ast.Extent.StartLineNumber }
function Get-Text($ast) { $t = $ast.Extent.Text; if ($t.Length -gt 80) { $t = $t.Substring(0, 80) }; $t }

$out = foreach ($file in $Path) {
  $tokens = $null
  $errors = $null
  $ast = [System.Management.Automation.Language.Parser]::ParseFile($file, [ref]$tokens, [ref]$errors)
  $syntax = New-Object System.Collections.Generic.List[object]
  $add = { param($kind, $node) $syntax.Add([ordered]@{ kind = $kind; line = (Get-Line $node); text = (Get-Text $node) }) }
  $all = $ast.FindAll({ $true }, $true)
  foreach ($n in $all) {
    switch ($n.GetType().Name) {
      'TernaryExpressionAst' { & $add 'ternary ?:' $n }
      'PipelineChainAst' { & $add "pipeline chain $($n.Operator -replace 'AndAnd', '&&' -replace 'OrOr', '||')" $n }
      'BinaryExpressionAst' {
        if ([string]$n.Operator -eq 'QuestionQuestion') { & $add 'null-coalescing ??' $n }
        if ([string]$n.Operator -in @('Ireplace', 'Creplace', 'Replace') -and $n.Right -is [System.Management.Automation.Language.ArrayLiteralAst]) {
          if (@($n.Right.Elements | Where-Object { $_ -is [System.Management.Automation.Language.ScriptBlockExpressionAst] }).Count -gt 0) { & $add '-replace with a script block' $n }
        }
      }
      'AssignmentStatementAst' { if ([string]$n.Operator -eq 'QuestionQuestionEquals') { & $add 'null-coalescing assignment ??=' $n } }
      'MemberExpressionAst' { if ($n.NullConditional) { & $add 'null-conditional member ?.' $n } }
      'InvokeMemberExpressionAst' { if ($n.NullConditional) { & $add 'null-conditional member ?.' $n } }
      'IndexExpressionAst' { if ($n.NullConditional) { & $add 'null-conditional index ?[]' $n } }
      'ScriptBlockAst' { if ($null -ne $n.CleanBlock) { & $add 'clean block' $n.CleanBlock } }
      'PipelineAst' { if ($n.Background) { & $add 'background operator &' $n } }
    }
  }
  $functions = @($ast.FindAll({ param($x) $x -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $true) | ForEach-Object { $_.Name })
  $commands = @($ast.FindAll({ param($x) $x -is [System.Management.Automation.Language.CommandAst] }, $true) | ForEach-Object {
      $name = $_.GetCommandName()
      if ($name -and $_.InvocationOperator -eq 'Unknown') {
        [ordered]@{
          name   = $name
          params = @($_.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] } | ForEach-Object { $_.ParameterName })
          line   = Get-Line $_
        }
      }
    })
  $members = @($ast.FindAll({ param($x) $x -is [System.Management.Automation.Language.InvokeMemberExpressionAst] -and $x.Static }, $true) | ForEach-Object {
      [ordered]@{
        type   = $_.Expression.TypeName.FullName
        member = [string]$_.Member.Value
        args   = @($_.Arguments).Count
        line   = Get-Line $_
      }
    })
  [ordered]@{
    file      = $file
    errors    = @($errors | ForEach-Object { [ordered]@{ line = $_.Extent.StartLineNumber; message = $_.Message } })
    syntax    = $syntax.ToArray()
    functions = $functions
    commands  = $commands
    members   = $members
  }
}
ConvertTo-Json -InputObject @($out) -Depth 6 -Compress
