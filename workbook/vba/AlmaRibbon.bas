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
'
' Every button goes through AlmaRun, whose error handler turns a failure to start Python (Python or the
' xlwings DLL not found, a wrong Interpreter_Win) into a plain message saying what to do, instead of VBA's
' "Run-time error ... [Debug]" box. In xlwings.bas's UDF-server branch the first call into the DLL
' (XLPy.SetAttr) runs before RunPython's own On Error, so that failure propagates to the handler here.
Option Explicit

Private Const STARTING_PYTHON As String = "Alma Tools: starting Python..."

Public Sub AlmaCheckSheet(control As IRibbonControl)
    AlmaRun "check"
End Sub

Public Sub AlmaDischarge(control As IRibbonControl)
    AlmaRun "discharge"
End Sub

Public Sub AlmaStop(control As IRibbonControl)
    AlmaRun "stop"
End Sub

Public Sub AlmaFetchItems(control As IRibbonControl)
    AlmaRun "fetch_items"
End Sub

Public Sub AlmaFetchLoans(control As IRibbonControl)
    AlmaRun "fetch_loans"
End Sub

Public Sub AlmaConcurrency(control As IRibbonControl)
    AlmaRun "concurrency"
End Sub

Public Sub AlmaSetApiKey(control As IRibbonControl)
    AlmaRun "set_api_key"
End Sub

' Restart Python: ends the Python process every button shares (a run in it stops where it is; its journal
' keeps every scan, so Discharge continues safely). The next button starts a fresh one.
Public Sub AlmaRestartPython(control As IRibbonControl)
    On Error GoTo Failed
    KillPy
    MsgBox "Python was restarted. The next button you press starts it again (the first click takes a few seconds).", vbInformation, "Alma Tools"
    Exit Sub
Failed:
    AlmaPythonProblem Err.Description
End Sub

' Help needs no Python: it only shows the Help sheet, so it works even before Python is set up. A Help
' sheet renamed, hidden or deleted gives a message, not VBA's "Run-time error 9 ... [Debug]" box.
Public Sub AlmaHelp(control As IRibbonControl)
    On Error GoTo Failed
    ThisWorkbook.Worksheets("Help").Activate
    ThisWorkbook.Worksheets("Help").Range("A1").Select
    Exit Sub
Failed:
    MsgBox "The Help sheet of this workbook could not be shown (" & Err.Description & "): it may have " & _
        "been renamed, hidden or deleted. The README's section on using the workbook on Windows has the same help.", vbExclamation, "Alma Tools"
End Sub

' Runs alma_tools.excel.<macro>() in the shared Python process; any failure to get there becomes a message.
' Public so that "alma-tools selftest --excel" can press the buttons the way the ribbon does.
Public Sub AlmaRun(ByVal macro As String)
    On Error GoTo Failed
    Application.StatusBar = STARTING_PYTHON
    RunPython "import alma_tools.excel; alma_tools.excel." & macro & "()"
    ' A macro that shows no progress of its own (Stop with nothing running, a message) gives the bar back;
    ' one that started a job has put its own text there. (StatusBar is False when Excel's own: CStr, not =.)
    If CStr(Application.StatusBar) = STARTING_PYTHON Then Application.StatusBar = False
    Exit Sub
Failed:
    Application.StatusBar = False
    AlmaPythonProblem Err.Description
End Sub

Private Sub AlmaPythonProblem(ByVal description As String)
    MsgBox "Alma Tools could not start Python (" & description & ")." & vbCrLf & vbCrLf & _
        "To fix it: open a Command Prompt and run" & vbCrLf & "    alma-tools excel-setup" & vbCrLf & _
        "It sets up Python for Excel and says what it did. If that command is not found, install " & _
        "Python 3.11 from python.org, then run  py -m pip install alma-tools  and the command above." & vbCrLf & _
        "See the README's Windows section, or the Help sheet of this workbook.", vbExclamation, "Alma Tools"
End Sub
