Attribute VB_Name = "AlmaRibbon"
' Callbacks of the "Alma Tools" ribbon tab (workbook/customUI/customUI14.xml).
'
' Each button runs one macro of the Python package alma_tools (module alma_tools.excel) through xlwings'
' RunPython. The xlwings.conf sheet sets "Use UDF Server" to True, so every call goes to the same
' background Python process: Discharge starts its run on a thread there and returns at once (Excel stays
' usable), and Stop reaches that same process to end the run.
'
' This file is the source of the module: the workbook is rebuilt from it with "alma-tools build-workbook".
' Edits made in Excel's VBA editor are lost at the next build.
Option Explicit

Public Sub AlmaCheckSheet(control As IRibbonControl)
    RunPython "import alma_tools.excel; alma_tools.excel.check()"
End Sub

Public Sub AlmaDischarge(control As IRibbonControl)
    RunPython "import alma_tools.excel; alma_tools.excel.discharge()"
End Sub

Public Sub AlmaStop(control As IRibbonControl)
    RunPython "import alma_tools.excel; alma_tools.excel.stop()"
End Sub

Public Sub AlmaConcurrency(control As IRibbonControl)
    RunPython "import alma_tools.excel; alma_tools.excel.concurrency()"
End Sub

Public Sub AlmaSetApiKey(control As IRibbonControl)
    RunPython "import alma_tools.excel; alma_tools.excel.set_api_key()"
End Sub

' Help needs no Python: it only shows the Help sheet, so it works even before Python is set up.
Public Sub AlmaHelp(control As IRibbonControl)
    ThisWorkbook.Worksheets("Help").Activate
    ThisWorkbook.Worksheets("Help").Range("A1").Select
End Sub
