"""The built workbook's VBA and ribbon, read the way Windows desktop Excel will read them.

Excel does not run on Linux, and one line of VBA that does not compile breaks every button of the workbook
for every user (a compile error in any module stops the whole project). These tests read the VBA back from a
freshly BUILT workbook with olevba (an implementation of MS-OVBA independent of the ms-ovba that wrote it)
and check it as the VBA compiler would for Windows Office (VBA7, 64-bit and 32-bit): conditional compilation
(``#If VBA7``/``Win64``/``Mac``/``App``), blocks balanced, every ``GoTo`` label present, ``Exit`` matching its
procedure, variables declared under ``Option Explicit``, every called Sub defined, ``Declare PtrSafe``, no
ambiguous public names, physical lines within VBA's limits, ``Application.MacroOptions`` arguments valid, and
every ribbon callback a Public Sub with the signature its callback type needs (``IRibbonControl`` only with
the Office library referenced in the ``dir`` stream).

The checker is a small reader, not a compiler: it is practical (assignments, ``For`` variables and call
statements, not every identifier in an expression) and its own tests below show it catches each kind of
mistake. Whether Excel compiles the project and shows the ribbon still needs the release checklist's manual
run on Windows (``alma-tools selftest --excel``).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import olefile
import pytest
from defusedxml import ElementTree
from oletools.olevba import VBA_Parser, decompress_stream

from alma_tools.workbook_build import build_workbook

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "workbook"
CUSTOMUI = "{http://schemas.microsoft.com/office/2009/07/customui}"
#: the Office library (MSO.DLL), where IRibbonControl and IRibbonUI are declared
OFFICE_LIBID = "{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}"
#: what Windows desktop Excel's VBA defines for conditional compilation (64-bit and 32-bit Office)
WINDOWS_64 = {"vba7": True, "vba6": True, "win64": True, "win32": True, "win16": False, "mac": False}
WINDOWS_32 = {**WINDOWS_64, "win64": False}
#: VBA's limits: characters on a physical line, line continuations in one logical line
MAX_LINE = 1023
MAX_CONTINUATIONS = 24

# ----------------------------------------------------------------------------------------------------------
# Reading VBA: logical lines, conditional compilation, statements
# ----------------------------------------------------------------------------------------------------------

KEYWORDS = {
    "if", "elseif", "else", "end", "for", "next", "do", "loop", "while", "wend", "with", "select", "case",
    "dim", "redim", "static", "const", "private", "public", "global", "friend", "sub", "function", "property",
    "exit", "on", "goto", "gosub", "resume", "return", "call", "set", "let", "option", "attribute", "declare",
    "type", "enum", "erase", "rem", "debug", "err", "open", "close", "print", "input", "line", "get", "put",
    "lset", "rset", "mid", "midb", "stop", "implements", "event", "raiseevent", "defint", "deflng", "defstr",
    "defvar", "defobj", "defbool", "defdbl", "defsng", "defcur", "defdate", "defbyte", "#const",
}  # fmt: skip
#: VBA statements and library procedures a module may call as a statement (``MsgBox "..."``)
BUILTIN_CALLS = {
    "msgbox", "beep", "doevents", "kill", "chdir", "chdrive", "mkdir", "rmdir", "filecopy", "name", "shell",
    "sendkeys", "appactivate", "randomize", "savesetting", "deletesetting", "setattr", "date", "time",
    "load", "unload", "inputbox", "width", "seek", "lock", "unlock", "reset", "write", "calculate",
}  # fmt: skip


@dataclass
class Statement:
    line: int  # physical line where the logical line starts
    text: str  # comments removed, string literals kept
    bare: str  # string literals replaced by ""


@dataclass
class Procedure:
    module: str
    name: str
    kind: str  # sub, function, property
    public: bool
    line: int
    params: list[tuple[str, str, bool]]  # name, type ("" for Variant), by value
    statements: list[Statement] = field(default_factory=list)


@dataclass
class Module:
    name: str
    standard: bool
    statements: list[Statement] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)  # module-level names (lower case)
    public_names: list[tuple[str, int]] = field(default_factory=list)  # module-level Public names
    problems: list[str] = field(default_factory=list)
    option_explicit: bool = False
    option_private: bool = False
    win64: bool = True  # the target: 64-bit Office refuses a Declare without PtrSafe, 32-bit accepts it


def scan_strings(text: str) -> tuple[str, str, bool]:
    """(text without its comment, the same with string literals as "", still inside a string at the end)."""
    code, bare, in_string, index = [], [], False, 0
    while index < len(text):
        char = text[index]
        if in_string:
            code.append(char)
            if char == '"' and text[index + 1 : index + 2] == '"':
                code.append('"')
                index += 1
            elif char == '"':
                in_string = False
                bare.append('""')
        elif char == '"':
            in_string = True
            code.append(char)
        elif char == "'":
            break
        else:
            code.append(char)
            bare.append(char)
        index += 1
    return "".join(code), "".join(bare), in_string


def logical_lines(source: str, module: Module) -> list[tuple[int, str]]:
    """Physical lines joined at `` _`` continuations, checked against VBA's line limits."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(source.replace("\r\n", "\n").split("\n"), start=1):
        if len(raw) > MAX_LINE:
            module.problems.append(f"{module.name}:{number}: line of {len(raw)} characters (VBA: {MAX_LINE})")
        if not pending:
            start = number
        if raw.endswith(" _") or raw == "_":
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        if len(pending) - 1 > MAX_CONTINUATIONS:
            module.problems.append(f"{module.name}:{start}: {len(pending) - 1} line continuations (VBA: 24)")
        lines.append((start, " ".join(part.strip() for part in pending)))
        pending = []
    return lines


def compile_condition(expression: str, constants: dict[str, object]) -> bool:
    """A ``#If`` condition: constants, string and number literals, = <> Not And Or, parentheses."""
    tokens = re.findall(r'"[^"]*"|\d+|<>|[=()]|[A-Za-z_]\w*', expression)
    python: list[str] = []
    for token in tokens:
        lower = token.lower()
        if lower in ("and", "or", "not"):
            python.append(lower)
        elif token == "=":
            python.append("==")
        elif token == "<>":
            python.append("!=")
        elif token in "()" or token.startswith('"') or token.isdigit():
            python.append(token)
        elif lower in ("true", "false"):
            python.append(str(lower == "true"))
        else:
            python.append(repr(constants.get(lower, 0)))
    return bool(eval(" ".join(python), {"__builtins__": {}}))  # tokens above are all we let through


def active_lines(lines: list[tuple[int, str]], target: dict[str, object], module: Module) -> list[Statement]:
    """The lines the compiler sees for ``target`` after ``#Const``/``#If``, each without its comment."""
    constants = dict(target)
    stack: list[tuple[bool, bool]] = []  # (this branch active, a branch of this #If was taken)
    kept: list[Statement] = []
    for number, text in lines:
        code, bare, open_string = scan_strings(text)
        stripped = code.strip()
        if open_string:
            module.problems.append(f"{module.name}:{number}: string literal not closed")
        outer = all(active for active, _ in stack)
        directive = re.match(r"#(If|ElseIf|Else|End\s*If|Const)\b\s*(.*?)\s*(?:Then)?\s*$", stripped, re.I)
        if directive is None:
            if outer and stripped:
                kept.append(Statement(number, stripped, bare.strip()))
            continue
        word, rest = directive.group(1).lower().replace(" ", ""), directive.group(2)
        if word == "const" and outer:
            name, _, value = rest.partition("=")
            constants[name.strip().lower()] = eval(value.strip(), {"__builtins__": {}})  # a literal
        elif word == "if":
            taken = outer and compile_condition(rest, constants)
            stack.append((taken, taken))
        elif not stack:
            module.problems.append(f"{module.name}:{number}: #{directive.group(1)} without #If")
        elif word in ("elseif", "else"):
            _, done = stack.pop()
            parent = all(active for active, _ in stack)
            taken = parent and not done and (word == "else" or compile_condition(rest, constants))
            stack.append((taken, done or taken))
        else:
            stack.pop()
    if stack:
        module.problems.append(f"{module.name}: #If without #End If")
    return kept


def split_statements(statement: Statement) -> list[Statement]:
    """One logical line's statements: split at ``:`` (not ``:=``), a label kept as its own statement."""
    parts: list[Statement] = []
    bare, text = statement.bare, statement.text
    cuts = [match.start() for match in re.finditer(r":(?!=)", bare)]
    if not cuts:
        return [statement]
    # map the cut positions in ``bare`` onto ``text`` (string literals differ in length between the two)
    text_cuts, offset_bare, offset_text = [], 0, 0
    for cut in cuts:
        while offset_bare < cut:
            if bare[offset_bare] == '"' and text[offset_text] == '"':
                closing = _end_of_literal(text, offset_text)
                offset_text, offset_bare = closing, offset_bare + 2
            else:
                offset_text, offset_bare = offset_text + 1, offset_bare + 1
        text_cuts.append(offset_text)
    bounds_bare = [0, *[cut + 1 for cut in cuts]]
    bounds_text = [0, *[cut + 1 for cut in text_cuts]]
    for index, (start_bare, start_text) in enumerate(zip(bounds_bare, bounds_text, strict=True)):
        end_bare = cuts[index] if index < len(cuts) else len(bare)
        end_text = text_cuts[index] if index < len(text_cuts) else len(text)
        piece = Statement(
            statement.line, text[start_text:end_text].strip(), bare[start_bare:end_bare].strip()
        )
        if index < len(cuts) and index == 0 and re.fullmatch(r"\w+", piece.bare):
            piece = Statement(piece.line, piece.text + ":", piece.bare + ":")  # a label
        if piece.bare:
            parts.append(piece)
    return parts


def _end_of_literal(text: str, start: int) -> int:
    """The position just after the string literal opening at ``start``."""
    index = start + 1
    while index < len(text):
        if text[index] == '"' and text[index + 1 : index + 2] == '"':
            index += 2
        elif text[index] == '"':
            return index + 1
        else:
            index += 1
    return index


def single_line_if_parts(statement: Statement) -> list[Statement]:
    """``If c Then a Else b`` on one line: the statements after Then and Else (the If opens no block)."""
    match = re.match(r"(?:Else)?If\b.*?\bThen\b(.*)$", statement.bare, re.I)
    if not match or not match.group(1).strip():
        return []
    body = match.group(1)
    pieces = re.split(r"\bElse\b", body, flags=re.I)
    return [Statement(statement.line, piece.strip(), piece.strip()) for piece in pieces if piece.strip()]


# ----------------------------------------------------------------------------------------------------------
# Modules and procedures
# ----------------------------------------------------------------------------------------------------------

PROCEDURE = re.compile(
    r"^(?:(Public|Private|Friend|Global)\s+)?(?:Static\s+)?(Sub|Function|Property\s+(?:Get|Let|Set))\s+"
    r"(\w+)[$%&!#@]?\s*(?:\((.*)\))?",
    re.I,
)
END_PROCEDURE = re.compile(r"^End\s+(Sub|Function|Property)$", re.I)
DECLARATION = re.compile(r"^(Dim|Static|ReDim(?:\s+Preserve)?|Private|Public|Global|Const)\s+(.*)$", re.I)


def parse_params(text: str) -> list[tuple[str, str, bool]]:
    """``(ByVal a As String, Optional b = 1)`` -> [(name, type, by value)]."""
    params = []
    for part in _top_level_split(text or ""):
        words = re.match(
            r"^(?:Optional\s+)?(ByVal\s+|ByRef\s+)?(?:ParamArray\s+)?(\w+)[$%&!#@]?(?:\(\))?"
            r"(?:\s+As\s+([\w.]+))?",
            part.strip(),
            re.I,
        )
        if words:
            params.append((words.group(2), words.group(3) or "", bool(words.group(1))
                           and words.group(1).strip().lower() == "byval"))  # fmt: skip
    return params


def _top_level_split(text: str) -> list[str]:
    """Split at commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current))
    return parts


def declared_names(rest: str) -> list[str]:
    """The names a Dim/Const/Public... statement declares (``a As Long, b(3) As String, Const c = 1``)."""
    rest = re.sub(r"^(?:Const|WithEvents)\s+", "", rest.strip(), flags=re.I)
    if re.match(r"^(?:Declare|Type|Enum|Sub|Function|Property|Static)\b", rest, re.I):
        return []
    names = []
    for part in _top_level_split(rest):
        match = re.match(r"\s*(?:WithEvents\s+)?(\w+)", part, re.I)
        if match:
            names.append(match.group(1))
    return names


def read_module(name: str, source: str, target: dict[str, object]) -> Module:
    """A module as the compiler sees it for ``target``: statements, procedures, module-level names."""
    module = Module(name, standard=not re.search(r"^Attribute VB_Base", source, re.M))
    module.win64 = bool(target.get("win64"))
    current: Procedure | None = None
    for statement in active_lines(logical_lines(source, module), target, module):
        for piece in split_statements(statement):
            if re.match(r"^Attribute\s", piece.bare, re.I):
                continue
            module.statements.append(piece)
            current = _take_statement(module, current, piece)
    if current is not None:
        module.problems.append(f"{name}:{current.line}: {current.name} has no End {current.kind.title()}")
    return module


def _take_statement(module: Module, current: Procedure | None, piece: Statement) -> Procedure | None:
    """Add one statement to the module or to the procedure it is in; returns the open procedure."""
    where = f"{module.name}:{piece.line}"
    if current is not None:
        if END_PROCEDURE.match(piece.bare):
            if END_PROCEDURE.match(piece.bare).group(1).lower() != current.kind:  # type: ignore[union-attr]
                module.problems.append(f"{where}: {piece.bare} closes {current.kind.title()} {current.name}")
            return None
        if PROCEDURE.match(piece.bare):
            module.problems.append(f"{where}: a procedure starts inside {current.name} (End missing)")
        current.statements.append(piece)
        return current
    header = PROCEDURE.match(piece.bare)
    if header and not re.match(r"^\w+\s+Declare\b|^Declare\b", piece.bare, re.I):
        kind = header.group(2).split()[0].lower()
        public = (header.group(1) or "Public").lower() in ("public", "global")
        procedure = Procedure(
            module.name, header.group(3), kind, public, piece.line, parse_params(header.group(4))
        )
        module.procedures.append(procedure)
        return procedure
    _module_level(module, piece)
    return None


def _module_level(module: Module, piece: Statement) -> None:
    """A declaration-section statement: options, variables, constants, Declares, Types and Enums."""
    bare = piece.bare
    if re.fullmatch(r"Option\s+Explicit", bare, re.I):
        module.option_explicit = True
    if re.fullmatch(r"Option\s+Private\s+Module", bare, re.I):
        module.option_private = True
    if re.match(r"^Option\b", bare, re.I) and module.procedures:
        module.problems.append(f"{module.name}:{piece.line}: {bare} after the first procedure")
    declare = re.match(
        r"^(?:(Public|Private|Global)\s+)?Declare\s+(PtrSafe\s+)?(?:Sub|Function)\s+(\w+)", bare, re.I
    )
    if declare:
        module.declared.add(declare.group(3).lower())
        if not declare.group(2) and module.win64:
            module.problems.append(
                f"{module.name}:{piece.line}: Declare without PtrSafe (VBA7, 64-bit Office)"
            )
        if (declare.group(1) or "Public").lower() != "private":
            module.public_names.append((declare.group(3), piece.line))
        return
    typed = re.match(r"^(?:(?:Public|Private)\s+)?(?:Type|Enum)\s+(\w+)", bare, re.I)
    if typed:
        module.declared.add(typed.group(1).lower())
        return
    declaration = DECLARATION.match(bare)
    if declaration:
        names = declared_names(declaration.group(2))
        module.declared.update(name.lower() for name in names)
        if declaration.group(1).lower() in ("public", "global"):
            module.public_names.extend((name, piece.line) for name in names)


def read_project(sources: dict[str, str], target: dict[str, object]) -> list[Module]:
    """Every module, with its procedures attached."""
    return [read_module(name, source, target) for name, source in sources.items()]


# ----------------------------------------------------------------------------------------------------------
# The checks, each returning what the VBA compiler (or Excel, for the ribbon) would refuse
# ----------------------------------------------------------------------------------------------------------

LABEL = re.compile(r"^(\w+):$|^(\d+)\s")
JUMP = re.compile(r"\b(?:GoTo|GoSub|Resume)\s+(-?\w+)", re.I)
#: a statement after which a handler label is not reached by falling through
LEAVES = re.compile(r"^(?:Exit\s+(?:Sub|Function|Property)|End|Resume\b.*|GoTo\s+\w+)$", re.I)
ASSIGNMENT = re.compile(r"^(?:(?:Set|Let)\s+)?([A-Za-z]\w*)[$%&!#@]?\s*(?:\([^=]*\))?\s*=(?!=)", re.I)
FOR_VARIABLE = re.compile(r"^For\s+(?:Each\s+)?([A-Za-z]\w*)", re.I)
CALL_STATEMENT = re.compile(r"^(?:Call\s+)?([A-Za-z]\w*)(?=$|\s+[^=\s.]|\s*\()", re.I)


def procedure_statements(procedure: Procedure) -> list[Statement]:
    """The procedure's statements, with the ones inside a one-line ``If ... Then ... Else ...`` added."""
    flat = []
    for statement in procedure.statements:
        flat.append(statement)
        flat.extend(single_line_if_parts(statement))
    return flat


def check_blocks(procedure: Procedure) -> list[str]:
    """If/End If, For/Next, Do/Loop, While/Wend, With/End With, Select/End Select; Exit in its block."""
    problems: list[str] = []
    stack: list[str] = []
    closers = {"end if": "if", "loop": "do", "wend": "while", "end with": "with", "end select": "select"}
    for statement in procedure.statements:
        bare, where = statement.bare, f"{procedure.module}:{statement.line}"
        words = " ".join(bare.split()).lower()
        opener = _opens(words)
        if opener:
            stack.append(opener)
        elif re.match(r"^(elseif\b.*\bthen|else)$", words) and stack[-1:] != ["if"]:
            problems.append(f"{where}: {bare} outside an If block")
        elif re.match(r"^case\b", words) and stack[-1:] != ["select"]:
            problems.append(f"{where}: Case outside Select Case")
        elif re.match(r"^next\b", words):
            for _ in range(max(1, words.count(",") + 1)):
                if stack[-1:] != ["for"]:
                    problems.append(f"{where}: Next without For")
                    break
                stack.pop()
        elif next((key for key in closers if words == key or words.startswith(key + " ")), None):
            key = next(key for key in closers if words == key or words.startswith(key + " "))
            if stack[-1:] != [closers[key]]:
                problems.append(f"{where}: {bare} without {closers[key].title()} (open: {stack or 'none'})")
            else:
                stack.pop()
        for piece in [statement, *single_line_if_parts(statement)]:
            problems.extend(_check_exit(procedure, piece, stack))
    if stack:
        problems.append(f"{procedure.module}:{procedure.line}: {procedure.name} leaves {stack} open")
    return problems


def _opens(words: str) -> str | None:
    """The block a statement opens (``If x Then`` with nothing after Then, For, Do, While, With, Select)."""
    if re.match(r"^if\b.*\bthen$", words):
        return "if"
    for word, block in (("for", "for"), ("do", "do"), ("while", "while"), ("with", "with")):
        if words == word or words.startswith(word + " "):
            return block
    return "select" if words.startswith("select case") else None


def _check_exit(procedure: Procedure, piece: Statement, stack: list[str]) -> list[str]:
    exit_ = re.match(r"^Exit\s+(\w+)", piece.bare, re.I)
    if not exit_:
        return []
    what = exit_.group(1).lower()
    if what in ("sub", "function", "property") and what != procedure.kind:
        return [
            f"{procedure.module}:{piece.line}: Exit {exit_.group(1)} inside {procedure.kind} {procedure.name}"
        ]
    if what in ("for", "do") and what not in stack:
        return [f"{procedure.module}:{piece.line}: Exit {exit_.group(1)} outside a {what.title()} loop"]
    return []


def check_labels(procedure: Procedure) -> list[str]:
    """Every GoTo/GoSub/Resume target is a label of the same procedure; a handler is not fallen into."""
    problems: list[str] = []
    statements = procedure.statements
    labels = {}
    for index, statement in enumerate(statements):
        label = LABEL.match(statement.bare)
        if label and (label.group(1) or "").lower() not in KEYWORDS:
            labels[(label.group(1) or label.group(2)).lower()] = index
    for statement in procedure_statements(procedure):
        for target in JUMP.findall(statement.bare):
            if target.lower() in ("next", "0", "-1"):
                continue
            if target.lower() not in labels:
                problems.append(
                    f"{procedure.module}:{statement.line}: label {target} not in {procedure.name}"
                )
            elif re.search(r"On\s+Error\s+GoTo", statement.bare, re.I):
                before = statements[labels[target.lower()] - 1] if labels[target.lower()] else None
                if before is not None and not LEAVES.match(before.bare):
                    problems.append(
                        f"{procedure.module}:{before.line}: {procedure.name} runs into its handler "
                        f"{target}: (no Exit {procedure.kind.title()} before it)"
                    )
    return problems


def check_declared(procedure: Procedure, module: Module, project: list[Module]) -> list[str]:
    """Under Option Explicit: every variable assigned or used by For is declared somewhere it is seen."""
    if not module.option_explicit:
        return []
    known = {name.lower() for name, _, _ in procedure.params} | module.declared | {procedure.name.lower()}
    for other in project:
        if other.standard and not other.option_private:
            known |= {name.lower() for name, _ in other.public_names}
    for statement in procedure.statements:
        declaration = DECLARATION.match(statement.bare)
        if declaration:
            known |= {name.lower() for name in declared_names(declaration.group(2))}
    problems = []
    for statement in procedure_statements(procedure):
        target = ASSIGNMENT.match(statement.bare) or FOR_VARIABLE.match(statement.bare)
        if target is None or DECLARATION.match(statement.bare):
            continue
        name = target.group(1)
        if name.lower() in KEYWORDS - {"set", "let"} or name.lower() in known:
            continue
        problems.append(f"{module.name}:{statement.line}: variable {name} not declared (Option Explicit)")
    return problems


def check_calls(procedure: Procedure, module: Module, project: list[Module]) -> list[str]:
    """Every Sub called as a statement exists: in this module, public in a standard module, or in VBA."""
    callable_ = {p.name.lower() for p in module.procedures} | BUILTIN_CALLS | module.declared
    for other in project:
        if other.standard:
            callable_ |= {p.name.lower() for p in other.procedures if p.public}
            callable_ |= {name.lower() for name, _ in other.public_names}
    problems = []
    for statement in procedure_statements(procedure):
        call = CALL_STATEMENT.match(statement.bare)
        if call is None or ASSIGNMENT.match(statement.bare) or LABEL.match(statement.bare):
            continue
        name = call.group(1).lower()
        if name in KEYWORDS or name in callable_:
            continue
        problems.append(f"{module.name}:{statement.line}: Sub or Function not defined: {call.group(1)}")
    return problems


#: what VBA, Excel and Office define globally: functions, constants, objects (Option Explicit accepts them)
VBA_GLOBALS = {
    "true", "false", "nothing", "empty", "null", "me", "new", "and", "or", "not", "xor", "is", "like", "mod",
    "to", "step", "then", "in", "each", "as", "typeof", "byval", "byref", "optional", "paramarray", "until",
    "string", "long", "integer", "boolean", "variant", "object", "double", "single", "currency", "byte",
    "longptr", "longlong", "date", "error", "len", "left", "right", "instr", "instrrev", "replace", "trim",
    "ltrim", "rtrim", "lcase", "ucase", "cstr", "clng", "cint", "cdbl", "cbool", "cdate", "cvar", "format",
    "now", "timer", "chr", "chrw", "asc", "ascw", "array", "isempty", "isnull", "isnumeric", "isarray",
    "isobject", "ismissing", "isdate", "ubound", "lbound", "split", "join", "environ", "dir", "val", "space",
    "strcomp", "typename", "vartype", "createobject", "getobject", "iif", "abs", "int", "fix",
    "round", "application", "thisworkbook", "activeworkbook", "activesheet", "activecell", "selection",
    "workbooks", "worksheets", "sheets", "range", "cells", "rows", "columns", "names", "msgbox", "inputbox",
    "vbcrlf", "vblf", "vbcr", "vbnewline", "vbtab", "vbnullstring", "vbinformation", "vbexclamation",
    "vbcritical", "vbquestion", "vbokonly", "vbokcancel", "vbyesno", "vbyesnocancel", "vbyes", "vbno",
    "vbcancel", "vbok", "vbdefaultbutton1", "vbdefaultbutton2", "vbdefaultbutton3", "vbtextcompare",
    "vbbinarycompare", "vbsystemmodal", "vbapplicationmodal", "xlsheetvisible", "xlsheethidden", "xlup",
    "xldown", "xltoleft", "xltoright", "xlwait", "xldefault", "xlnormal",
}  # fmt: skip
#: the types a declaration may name without another reference (VBA, Excel, Office)
KNOWN_TYPES = {
    "string", "long", "integer", "boolean", "variant", "object", "double", "single", "currency", "byte",
    "date", "longptr", "longlong", "collection", "workbook", "worksheet", "range", "application", "window",
    "chart", "name", "iribboncontrol", "iribbonui", "errobject",
}  # fmt: skip
IDENTIFIER = re.compile(r"(?<![.\w#])([A-Za-z]\w*)[$%&!#@]?(?!\w)(?!\s*:=)")


def check_identifiers(procedure: Procedure, module: Module, project: list[Module]) -> list[str]:
    """Under Option Explicit every name in an expression is declared, a procedure, or VBA's or Excel's
    own (``vbExclamaton`` is "Variable not defined" and stops the whole project compiling)."""
    if not module.option_explicit:
        return []
    known = KEYWORDS | VBA_GLOBALS | BUILTIN_CALLS | module.declared
    known |= {name.lower() for name, _, _ in procedure.params}
    known |= {p.name.lower() for p in module.procedures}
    for other in project:
        if other.standard and not other.option_private:
            known |= {p.name.lower() for p in other.procedures if p.public}
            known |= {name.lower() for name, _ in other.public_names}
    for statement in procedure.statements:
        declaration = DECLARATION.match(statement.bare)
        if declaration:
            known |= {name.lower() for name in declared_names(declaration.group(2))}
    problems = []
    for statement in procedure.statements:
        bare = re.sub(r"\bAs\s+(?:New\s+)?[\w.]+|\b(?:GoTo|GoSub|Resume)\s+\w+|^\w+:$", "", statement.bare)
        for name in IDENTIFIER.findall(bare):
            if name.lower() not in known:
                problems.append(f"{module.name}:{statement.line}: {name} is not declared (Option Explicit)")
                known.add(name.lower())
    return problems


def check_types(module: Module, project: list[Module]) -> list[str]:
    """Every ``As Type`` names a type VBA knows here ("User-defined type not defined" otherwise)."""
    declared = {name for other in project for name in other.declared}
    problems = []
    for statement in module.statements:
        for type_ in re.findall(r"\bAs\s+(?:New\s+)?([\w.]+)", statement.bare, re.I):
            name = type_.rsplit(".", 1)[-1].lower()
            if name not in KNOWN_TYPES and name not in declared:
                problems.append(f"{module.name}:{statement.line}: type {type_} is not defined here")
    return problems


def check_names(project: list[Module]) -> list[str]:
    """No name twice in a module; no public name in two standard modules or equal to a module's name."""
    problems = []
    public: Counter[str] = Counter()
    modules = {module.name.lower() for module in project}
    for module in project:
        if not re.fullmatch(r"[A-Za-z]\w{0,30}", module.name):
            problems.append(f"module name {module.name!r}: a letter, then letters, digits, _ (31 at most)")
        own = Counter(p.name.lower() for p in module.procedures)
        problems += [
            f"{module.name}: ambiguous name {name} (defined {n} times)" for name, n in own.items() if n > 1
        ]
        if module.standard and not module.option_private:
            names = {p.name.lower() for p in module.procedures if p.public}
            names |= {name.lower() for name, _ in module.public_names}
            public.update(names)
            problems += [f"{module.name}: public {name} has a module's name" for name in names & modules]
    problems += [f"ambiguous name: public {name} in {n} modules" for name, n in public.items() if n > 1]
    return problems


#: after a string literal: an operator, a separator, the end, or one of these words (else "Expected: end of
#: statement", e.g. ``MsgBox "a" "b"`` or ``"a" vbCrLf`` with the ``&`` forgotten)
AFTER_STRING = re.compile(
    r'""\s+(?:""|(?!(?:Then|To|And|Or|Xor|Not|Like|Mod|Is|Else|Step|As|Alias)\b)[A-Za-z_])', re.I
)


def check_operators(module: Module) -> list[str]:
    """A string literal followed by another literal or a name with no operator between them."""
    return [
        f"{module.name}:{statement.line}: an operator (&) is missing after a string: {statement.text[:60]}"
        for statement in module.statements
        if AFTER_STRING.search(statement.bare)
    ]


PARENTHESISED_CALL = re.compile(r"^([A-Za-z][\w.]*)\s*\((.*)\)$")


def check_syntax(module: Module) -> list[str]:
    """Parentheses balanced, If with its Then, and no ``Name(a, b)`` call statement without ``Call``
    (VBA: "Expected: =")."""
    problems = []
    for statement in module.statements:
        bare, where = statement.bare, f"{module.name}:{statement.line}"
        if bare.count("(") != bare.count(")"):
            problems.append(f"{where}: parentheses do not balance: {statement.text[:60]}")
        if re.match(r"^(?:Else)?If\b", bare, re.I) and not re.search(r"\bThen\b", bare, re.I):
            problems.append(f"{where}: If without Then")
        call = PARENTHESISED_CALL.match(bare)
        several = call is not None and _balanced(call.group(2)) and len(_top_level_split(call.group(2))) > 1
        if call and several and call.group(1).split(".")[0].lower() not in KEYWORDS:
            problems.append(
                f"{where}: {call.group(1)}(...) with several arguments needs Call or no parentheses"
            )
    return problems


def _balanced(text: str) -> bool:
    """True when ``text`` never closes more parentheses than it opened (so its outer pair is one call's)."""
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if depth < 0:
            return False
    return depth == 0


def check_project(project: list[Module], own: set[str]) -> list[str]:
    """Everything above over the whole project; calls are checked in ``own`` modules (not xlwings')."""
    problems = check_names(project)
    for module in project:
        problems += module.problems + check_operators(module) + check_syntax(module)
        for procedure in module.procedures:
            problems += check_blocks(procedure) + check_labels(procedure)
            problems += check_declared(procedure, module, project)
            if module.name in own:
                problems += check_calls(procedure, module, project)
                problems += check_identifiers(procedure, module, project)
        if module.name in own:
            problems += check_types(module, project)
    return problems


# ----------------------------------------------------------------------------------------------------------
# The ribbon: customUI 2009/07 rules Excel applies before it shows the tab (one broken rule: no tab at all)
# ----------------------------------------------------------------------------------------------------------

CONTROL = ("control", {"iribboncontrol", "object"}, False)
RETURNED = ("returnedVal", None, True)  # ByRef, Variant
#: the parameters each callback type needs: (what it is, the types VBA may declare it as, must be ByRef)
CALLBACKS: dict[tuple[str, str], list[tuple[str, set[str] | None, bool]]] = {
    ("customUI", "onLoad"): [("ribbon", {"iribbonui", "object"}, False)],
    ("customUI", "loadImage"): [("imageId", {"string", ""}, False), ("image", None, True)],
    ("button", "onAction"): [CONTROL],
    ("toggleButton", "onAction"): [CONTROL, ("pressed", {"boolean", ""}, False)],
    ("checkBox", "onAction"): [CONTROL, ("pressed", {"boolean", ""}, False)],
    ("editBox", "onChange"): [CONTROL, ("text", {"string", ""}, False)],
    ("comboBox", "onChange"): [CONTROL, ("text", {"string", ""}, False)],
    ("dropDown", "onAction"): [
        CONTROL,
        ("id", {"string", ""}, False),
        ("index", {"integer", "long", ""}, False),
    ],
}
GETTERS = {
    "getEnabled", "getVisible", "getLabel", "getImage", "getScreentip", "getSupertip", "getKeytip", "getSize",
    "getShowLabel", "getShowImage", "getDescription", "getPressed", "getText", "getItemCount",
    "getSelectedItemID", "getSelectedItemIndex", "getTitle", "getContent",
}  # fmt: skip
COMMON = {"id", "idQ", "idMso", "tag", "visible", "getVisible", "keytip", "getKeytip", "label", "getLabel",
          "insertAfterMso", "insertBeforeMso", "insertAfterQ", "insertBeforeQ"}  # fmt: skip
CONTROL_ATTRIBUTES = COMMON | {
    "enabled", "getEnabled", "description", "getDescription", "image", "imageMso", "getImage", "screentip",
    "getScreentip", "supertip", "getSupertip", "showImage", "getShowImage", "showLabel", "getShowLabel",
    "size", "getSize",
}  # fmt: skip
#: the attributes the schema allows on each element we use (an unknown one makes Excel drop the ribbon)
ATTRIBUTES = {
    "customUI": {"onLoad", "loadImage"},
    "ribbon": {"startFromScratch"},
    "tabs": set(),
    "tab": COMMON,
    "group": COMMON
    | {
        "image",
        "imageMso",
        "getImage",
        "screentip",
        "getScreentip",
        "supertip",
        "getSupertip",
        "autoScale",
        "centerVertically",
    },
    "button": CONTROL_ATTRIBUTES | {"onAction"},
    "toggleButton": CONTROL_ATTRIBUTES | {"onAction", "getPressed"},
    "checkBox": (
        CONTROL_ATTRIBUTES - {"size", "getSize", "image", "imageMso", "getImage", "showImage", "getShowImage"}
    )
    | {"onAction", "getPressed"},
    "separator": {
        "id",
        "idQ",
        "tag",
        "visible",
        "getVisible",
        "insertAfterMso",
        "insertBeforeMso",
        "insertAfterQ",
        "insertBeforeQ",
    },
}
#: imageMso names from Office's own icon gallery (Office 2010-365); a name Excel does not know shows no icon
KNOWN_IMAGE_MSO = {
    "AcceptInvitation", "AdpPrimaryKey", "Cancel", "DataValidation", "GetExternalDataFromWeb", "Help",
    "PivotTableInsert", "Refresh", "RefreshAll", "FileSave", "FileOpen", "Copy", "Paste", "Delete",
    "HappyFace", "Info", "TableInsert", "ChartInsert", "FilterBySelection", "SortAscendingExcel",
    "DatabaseQueryNew", "GetExternalDataFromText", "ImportTextFile", "ExportExcel", "ControlsGallery",
    "ReviewAcceptChange", "ReviewRejectChange", "StopRecording", "RecordingStop", "ObjectsAlignLeft",
    "AddInManager", "PropertySheet", "SetPermissionRestrictAs", "Lock", "DataRefreshAll",
}  # fmt: skip
#: built-in tabs and groups of Excel that a ribbon may name with idMso (none used today)
KNOWN_ID_MSO = {"TabHome", "TabInsert", "TabData", "TabReview", "TabView", "TabDeveloper", "TabAddIns",
                "TabFormulas", "TabPageLayoutExcel"}  # fmt: skip
STRING_LIMIT = 1024  # ST_String and ST_UniqueID: 1 to 1024 characters


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def check_ribbon_xml(xml: bytes) -> list[str]:
    """Namespace, elements and attributes allowed, ids unique, strings within limits, icons Excel has."""
    root = ElementTree.fromstring(xml)
    if root.tag != f"{CUSTOMUI}customUI":
        return [f"the root is {root.tag}, not customUI in the 2009/07 namespace (Excel ignores the part)"]
    problems = []
    ids: Counter[str] = Counter()
    for element in root.iter():
        name = _local(element.tag)
        if not element.tag.startswith(CUSTOMUI):
            problems.append(f"<{name}> is not in the customUI namespace")
        if name not in ATTRIBUTES:
            problems.append(f"<{name}>: an element these tests have no rules for; add them before using it")
            continue
        unknown = set(element.attrib) - ATTRIBUTES[name] - GETTERS
        problems += [f"<{name} {element.get('id')}>: attribute {key} is not in the schema" for key in unknown]
        problems += _ribbon_values(name, element.attrib)
        if name in ("tab", "group", "button", "toggleButton", "checkBox"):
            given = [key for key in ("id", "idMso", "idQ") if key in element.attrib]
            if len(given) != 1:
                problems.append(f"<{name}>: needs exactly one of id, idMso, idQ (has {given or 'none'})")
            ids.update(element.attrib[key] for key in ("id", "idQ") if key in element.attrib)
    problems += [f"id {key} is used {n} times (ids must be unique)" for key, n in ids.items() if n > 1]
    return problems


def _ribbon_values(name: str, attributes: dict[str, str]) -> list[str]:
    problems = []
    for key, value in attributes.items():
        if not 1 <= len(value) <= STRING_LIMIT:
            problems.append(f"<{name}> {key}: {len(value)} characters (1 to {STRING_LIMIT})")
    if attributes.get("size", "normal") not in ("normal", "large"):
        problems.append(f"<{name}> size={attributes['size']!r}: normal or large")
    if "keytip" in attributes and len(attributes["keytip"]) > 3:
        problems.append(f"<{name}> keytip {attributes['keytip']!r}: at most 3 characters")
    if "imageMso" in attributes and attributes["imageMso"] not in KNOWN_IMAGE_MSO:
        problems.append(f"<{name}> imageMso {attributes['imageMso']!r} is not a known Office icon")
    if "idMso" in attributes and attributes["idMso"] not in KNOWN_ID_MSO:
        problems.append(f"<{name}> idMso {attributes['idMso']!r} is not a known built-in control")
    for key in ("id", "idQ"):
        if key in attributes and not re.fullmatch(r"[A-Za-z_][\w.\-:]*", attributes[key]):
            problems.append(f"<{name}> {key}={attributes[key]!r} is not an XML id")
    return problems


def ribbon_callbacks(xml: bytes) -> list[tuple[str, str, str]]:
    """(element, attribute, callback name) for every callback the ribbon names."""
    found = []
    for element in ElementTree.fromstring(xml).iter():
        name = _local(element.tag)
        for key, value in element.attrib.items():
            if (name, key) in CALLBACKS or key in GETTERS:
                found.append((name, key, value))
    return found


def check_callbacks(xml: bytes, project: list[Module], references: list[str]) -> list[str]:
    """Each callback: a Public Sub of a standard module with the parameters its callback type passes."""
    procedures = {
        p.name.lower(): (module, p) for module in project for p in module.procedures if module.standard
    }
    office = any(OFFICE_LIBID.lower() in reference.lower() for reference in references)
    problems = []
    for element, key, callback in ribbon_callbacks(xml):
        expected = CALLBACKS.get((element, key)) or [CONTROL, RETURNED]
        found = procedures.get(callback.rsplit(".", 1)[-1].lower())
        where = f"<{element} {key}={callback!r}>"
        if found is None:
            problems.append(f"{where}: no Sub {callback} in a standard module")
            continue
        module, procedure = found
        if procedure.kind != "sub" or not procedure.public or module.option_private:
            problems.append(f"{where}: {module.name}.{callback} must be a Public Sub")
        if len(procedure.params) != len(expected):
            problems.append(
                f"{where}: {callback} takes {len(procedure.params)} parameters, needs {len(expected)}"
            )
            continue
        for (name, type_, by_value), (what, types, by_ref) in zip(procedure.params, expected, strict=True):
            if types is not None and type_.lower() not in types:
                problems.append(f"{where}: parameter {name} As {type_ or 'Variant'} (the {what}: {types})")
            if by_ref and by_value:
                problems.append(f"{where}: parameter {name} must be ByRef (Excel reads the value back)")
            if type_.lower() in ("iribboncontrol", "iribbonui") and not office:
                problems.append(f"{where}: {type_} needs the Office library among the project's references")
    return problems


# ----------------------------------------------------------------------------------------------------------
# The project's references (dir stream) and Application.MacroOptions
# ----------------------------------------------------------------------------------------------------------


def project_references(vba_project: bytes) -> list[str]:
    """The libids of the registered references in the ``VBA/dir`` stream (MS-OVBA 2.3.4.2.2)."""
    with olefile.OleFileIO(vba_project) as ole:
        data = bytes(decompress_stream(bytearray(ole.openstream("VBA/dir").read())))
    references, index = [], 0
    while index + 6 <= len(data):
        record, size = struct.unpack_from("<HI", data, index)
        index += 6
        if record == 0x0009:  # PROJECTVERSION: its Size field is 4 but 6 bytes follow
            size = 6
        if record == 0x000D:  # REFERENCEREGISTERED: SizeOfLibid, Libid, 6 reserved bytes
            (length,) = struct.unpack_from("<I", data, index)
            references.append(data[index + 4 : index + 4 + length].decode("cp1252"))
        index += size
    return references


MACRO_OPTIONS_ARGUMENTS = {
    "macro", "description", "hasmenu", "menutext", "hasshortcutkey", "shortcutkey", "category",
    "statusbar", "helpcontextid", "helpfile", "argumentdescriptions",
}  # fmt: skip


def check_macro_options(project: list[Module]) -> list[str]:
    """``Application.MacroOptions``: named arguments Excel has, texts within 255 characters, the function
    exists in a standard module, and no more argument descriptions than it has arguments."""
    functions = {
        p.name.lower(): p for m in project if m.standard for p in m.procedures if p.kind == "function"
    }
    problems = []
    for module in project:
        for statement in module.statements:
            if not re.match(r"^Application\.MacroOptions\b", statement.text, re.I):
                continue
            where = f"{module.name}:{statement.line}"
            named = dict(re.findall(r"(\w+):=((?:\"(?:[^\"]|\"\")*\"|[^,\"])+(?:&\s*\"(?:[^\"]|\"\")*\")*)",
                                    statement.text))  # fmt: skip
            problems += [f"{where}: MacroOptions has no argument {key}" for key in named
                         if key.lower() not in MACRO_OPTIONS_ARGUMENTS]  # fmt: skip
            texts = re.findall(r'"((?:[^"]|"")*)"', statement.text.split("ArgumentDescriptions:=")[-1])
            descriptions = texts if "ArgumentDescriptions:=" in statement.text else []
            description = re.search(r'Description:="((?:[^"]|"")*)"', statement.text)
            for text in [*(descriptions), *([description.group(1)] if description else [])]:
                if len(text.replace('""', '"')) > 255:
                    problems.append(f"{where}: a MacroOptions text of {len(text)} characters (Excel: 255)")
            macro = re.search(r"!(\w+)\"", statement.text)
            function = functions.get(macro.group(1).lower()) if macro else None
            if function is None:
                problems.append(f"{where}: MacroOptions names no Function of a standard module")
            elif len(descriptions) > len(function.params):
                problems.append(f"{where}: {len(descriptions)} argument descriptions for {function.name}'s "
                                f"{len(function.params)} arguments")  # fmt: skip
    return problems


# ----------------------------------------------------------------------------------------------------------
# The built workbook
# ----------------------------------------------------------------------------------------------------------

#: our own modules (calls checked): the .bas files and the generated document modules
OWN_MODULES = {path.stem for path in (SOURCES / "vba").glob("*.bas")} | {"ThisWorkbook"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vba") / "alma_tools.xlsm"
    build_workbook(path)
    return path


@pytest.fixture(scope="module")
def sources(built: Path) -> dict[str, str]:
    """Every module of the built workbook as olevba reads it back: name -> code."""
    parser = VBA_Parser(str(built))
    try:
        return {Path(name).stem: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


@pytest.fixture(scope="module")
def ribbon(built: Path) -> bytes:
    with zipfile.ZipFile(built) as package:
        return package.read("customUI/customUI14.xml")


@pytest.fixture(scope="module")
def references(built: Path) -> list[str]:
    with zipfile.ZipFile(built) as package:
        return project_references(package.read("xl/vbaProject.bin"))


@pytest.mark.parametrize("target", [WINDOWS_64, WINDOWS_32], ids=["64-bit", "32-bit"])
def test_every_module_compiles_as_far_as_a_reader_can_tell(sources: dict[str, str], target: dict) -> None:
    assert {"AlmaRibbon", "xlwings", "xlwings_udfs", "ThisWorkbook"} <= set(sources)
    project = read_project(sources, target)
    assert check_project(project, OWN_MODULES) == []
    assert check_macro_options(project) == []


def test_our_modules_declare_every_variable(sources: dict[str, str]) -> None:
    project = read_project(sources, WINDOWS_64)
    for module in project:
        if module.name in OWN_MODULES and module.procedures:
            assert module.option_explicit, f"{module.name} lacks Option Explicit"


def test_the_project_references_the_office_library(references: list[str]) -> None:
    # IRibbonControl is declared in MSO.DLL: without this reference every callback fails to compile
    assert any(reference.startswith("*\\G{00020430-") for reference in references)  # stdole
    office = [reference for reference in references if OFFICE_LIBID in reference]
    assert len(office) == 1 and office[0].startswith(f"*\\G{OFFICE_LIBID}#2.")


@pytest.mark.parametrize("target", [WINDOWS_64, WINDOWS_32], ids=["64-bit", "32-bit"])
def test_every_ribbon_callback_is_a_public_sub_with_its_signature(
    sources: dict[str, str], ribbon: bytes, references: list[str], target: dict
) -> None:
    assert len(ribbon_callbacks(ribbon)) >= 9
    assert check_callbacks(ribbon, read_project(sources, target), references) == []


def test_the_ribbon_follows_the_customui_rules(ribbon: bytes) -> None:
    assert check_ribbon_xml(ribbon) == []
    assert ribbon == (SOURCES / "customUI" / "customUI14.xml").read_bytes()


def test_libreoffice_converts_the_built_workbook_to_xlsx(built: Path, tmp_path: Path) -> None:
    """A second reader of the whole package (the ribbon relationship, the VBA project, the sheets):
    ``soffice --headless --convert-to xlsx`` succeeds and writes the sheets. (The PDF and ODS conversions
    and the VBA LibreOffice imports are checked in test_workbook_file.py.)"""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed here")
    output = tmp_path / "out"
    completed = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "xlsx",
         "--outdir", str(output), str(built)],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    with zipfile.ZipFile(output / "alma_tools.xlsx") as converted:
        workbook = converted.read("xl/workbook.xml").decode()
    for sheet in ("Items", "Loans", "Locations", "Settings", "Help", "xlwings.conf"):
        assert f'name="{sheet}"' in workbook, completed.stdout


# ----------------------------------------------------------------------------------------------------------
# The checker itself: each kind of mistake is caught, sound code is not flagged
# ----------------------------------------------------------------------------------------------------------

HELPER = 'Attribute VB_Name = "Other"\nPublic Sub AlmaRun(ByVal macro As String)\nEnd Sub\n'
MISTAKES = {
    "undeclared": ("Option Explicit\nSub A()\n    x = 1\nEnd Sub", "variable x not declared"),
    "set undeclared": ("Option Explicit\nSub A()\n    Set o = Nothing\nEnd Sub", "variable o not declared"),
    "for variable": ("Option Explicit\nSub A()\n    For i = 1 To 3\n    Next i\nEnd Sub", "variable i"),
    "one-line If": ("Option Explicit\nSub A()\n    If 1 = 1 Then z = 2\nEnd Sub", "variable z"),
    "label": ("Sub A()\n    On Error GoTo Fail\n    Exit Sub\nFailed:\nEnd Sub", "label Fail not in A"),
    "fall-through": ('Sub A()\n    On Error GoTo F\n    Beep\nF:\n    MsgBox "x"\nEnd Sub', "runs into"),
    "If open": ("Sub A()\n    If 1 = 1 Then\n        Beep\nEnd Sub", "leaves ['if'] open"),
    "With open": ("Sub A()\n    With Application\n        .StatusBar = False\nEnd Sub", "['with']"),
    "Next alone": ("Sub A()\n    Next\nEnd Sub", "Next without For"),
    "End Select alone": ("Sub A()\n    End Select\nEnd Sub", "End Select without"),
    "Case alone": ("Sub A()\n    Case 2\nEnd Sub", "Case outside Select"),
    "Exit Function": ("Sub A()\n    Exit Function\nEnd Sub", "Exit Function inside sub"),
    "Exit For": ("Sub A()\n    Exit For\nEnd Sub", "Exit For outside"),
    "End Function": ("Sub A()\nEnd Function", "End Function closes Sub A"),
    "no End Sub": ("Sub A()\n    Beep", "has no End Sub"),
    "unknown Sub": ('Sub A()\n    AlmaRunn "check"\nEnd Sub', "not defined: AlmaRunn"),
    "Call unknown": ("Sub A()\n    Call Nope(1)\nEnd Sub", "not defined: Nope"),
    "open string": ('Sub A()\n    MsgBox "no end\nEnd Sub', "string literal not closed"),
    "no PtrSafe": ('Declare Function F Lib "k" () As Long', "without PtrSafe"),
    "continuations": ('Sub A()\n    MsgBox "a" & _\n' + '        "b" & _\n' * 25 + '"c"\nEnd Sub', "26 line"),
    "long line": ("Sub A()\n    Beep '" + "x" * 1100 + "\nEnd Sub", "line of 1"),
    "late Option": ("Sub A()\nEnd Sub\nOption Explicit", "after the first procedure"),
    "twice in a module": ("Sub A()\nEnd Sub\nSub a()\nEnd Sub", "ambiguous name a"),
    "twice in the project": ("Sub AlmaRun()\nEnd Sub", "public almarun in 2 modules"),
    "a forgotten &": ('Sub A()\n    MsgBox "a" _\n        "b"\nEnd Sub', "operator (&) is missing"),
    "a forgotten & before a name": ('Sub A()\n    MsgBox "a" vbCrLf\nEnd Sub', "operator (&) is missing"),
    "parentheses": ('Sub A()\n    MsgBox (Len("a")\nEnd Sub', "parentheses do not balance"),
    "If without Then": ("Sub A()\n    If 1 = 1\n    End If\nEnd Sub", "If without Then"),
    "a call in parentheses": ('Sub A()\n    MsgBox("a", vbInformation)\nEnd Sub', "needs Call"),
    "a method call in parentheses": ('Sub A()\n    Application.Run("M", 1)\nEnd Sub', "needs Call"),
    "#If unclosed": ("#If VBA7 Then\nSub A()\nEnd Sub", "#If without #End If"),
    "a misspelt constant": (
        'Option Explicit\nSub A()\n    MsgBox "x", vbExclamaton\nEnd Sub',
        "vbExclamaton is not",
    ),
    "an unknown type": ("Sub A(control As IRibonControl)\nEnd Sub", "type IRibonControl is not defined"),
}


@pytest.mark.parametrize("code, expected", MISTAKES.values(), ids=MISTAKES.keys())
def test_the_checker_finds(code: str, expected: str) -> None:
    project = read_project({"M": 'Attribute VB_Name = "M"\n' + code + "\n", "Other": HELPER}, WINDOWS_64)
    problems = check_project(project, {"M"})
    assert any(expected in problem for problem in problems), problems


def test_a_module_name_vba_refuses_is_found() -> None:
    name = "AlmaRibbonCallbacksForTheFetchButtons"  # 37 characters: the VBA editor refuses it
    problems = check_project(read_project({name: f'Attribute VB_Name = "{name}"\n'}, WINDOWS_64), set())
    assert any("31 at most" in problem for problem in problems), problems


def test_the_checker_passes_sound_code() -> None:
    code = """Attribute VB_Name = "M"
Option Explicit
Public counter As Long
#If Win64 Then
Private Declare PtrSafe Function F Lib "k" () As LongPtr
#Else
Private Declare Function F Lib "k" () As Long
#End If

Public Sub A(ByVal text As String, Optional ByRef n As Long = 1)
    Dim i As Long, names(3) As String, o As Object
    Static calls As Long
    On Error GoTo Failed
    counter = counter + 1: calls = calls + 1
    For i = 0 To 3
        names(i) = "a "" quote: a colon" & text: If i = 2 Then Exit For
    Next i
    Set o = Nothing
    MsgBox ("one argument in parentheses is an expression")
    Call AlmaRun("check")
    Application.Run "M", (1), 2
    With Application
        .StatusBar = False
    End With
    Select Case n
        Case 1: AlmaRun "check"
        Case Else
            MsgBox "x", vbInformation, "Alma Tools"
    End Select
    If n = 1 Then Exit Sub Else n = 2
    Exit Sub
Failed:
    MsgBox Err.Description
End Sub
"""
    for target in (WINDOWS_64, WINDOWS_32):
        project = read_project({"M": code, "Other": HELPER}, target)
        assert check_project(project, {"M"}) == []


RIBBON = """<customUI xmlns="http://schemas.microsoft.com/office/2009/07/customui"><ribbon><tabs>
<tab id="T" label="Alma Tools"><group id="G" label="G">{}</group></tab></tabs></ribbon></customUI>"""
RIBBON_MISTAKES = {
    "unknown attribute": (
        '<button id="B" label="x" tooltip="y" onAction="A"/>',
        "tooltip is not in the schema",
    ),
    "duplicate id": ('<button id="G" label="x" onAction="A"/>', "id G is used 2 times"),
    "no id": ('<button label="x" onAction="A"/>', "exactly one of id"),
    "unknown icon": (
        '<button id="B" label="x" imageMso="AlmaIcon" onAction="A"/>',
        "not a known Office icon",
    ),
    "bad size": ('<button id="B" label="x" size="big" onAction="A"/>', "normal or large"),
    "long supertip": ('<button id="B" label="x" supertip="{}" onAction="A"/>'.format("s" * 1025), "1025"),
    "unknown element": ('<splitButton id="B"/>', "no rules for"),
}


@pytest.mark.parametrize("button, expected", RIBBON_MISTAKES.values(), ids=RIBBON_MISTAKES.keys())
def test_the_ribbon_checker_finds(button: str, expected: str) -> None:
    problems = check_ribbon_xml(RIBBON.format(button).encode())
    assert any(expected in problem for problem in problems), problems


CALLBACK_MISTAKES = {
    "missing": (
        '<button id="B" label="x" onAction="Nope"/>',
        "Sub A(control As IRibbonControl)",
        "no Sub Nope",
    ),
    "private": (
        '<button id="B" label="x" onAction="A"/>',
        "Private Sub A(control As IRibbonControl)",
        "Public",
    ),
    "function": (
        '<button id="B" label="x" onAction="A"/>',
        "Function A(control As IRibbonControl)",
        "Public",
    ),
    "no parameter": ('<button id="B" label="x" onAction="A"/>', "Sub A()", "takes 0 parameters, needs 1"),
    "wrong type": ('<button id="B" label="x" onAction="A"/>', "Sub A(control As String)", "As String"),
    "toggle": (
        '<toggleButton id="B" label="x" onAction="A"/>',
        "Sub A(control As IRibbonControl)",
        "needs 2",
    ),
    "getter ByVal": (
        '<button id="B" label="x" onAction="A" getEnabled="A"/>',
        "Sub A(control As IRibbonControl, ByVal returnedVal)",
        "must be ByRef",
    ),
}


@pytest.mark.parametrize("button, sub, expected", CALLBACK_MISTAKES.values(), ids=CALLBACK_MISTAKES.keys())
def test_the_callback_checker_finds(button: str, sub: str, expected: str) -> None:
    project = read_project(
        {"M": f'Attribute VB_Name = "M"\n{sub}\nEnd {"Function" if "Function" in sub else "Sub"}\n'},
        WINDOWS_64,
    )
    office = [f"*\\G{OFFICE_LIBID}#2.0#0#MSO.DLL#Microsoft Office 16.0 Object Library"]
    problems = check_callbacks(RIBBON.format(button).encode(), project, office)
    assert any(expected in problem for problem in problems), problems


def test_iribboncontrol_without_the_office_reference_is_found() -> None:
    project = read_project(
        {"M": 'Attribute VB_Name = "M"\nSub A(control As IRibbonControl)\nEnd Sub\n'}, WINDOWS_64
    )
    ribbon = RIBBON.format('<button id="B" label="x" onAction="A"/>').encode()
    assert (
        check_callbacks(ribbon, project, ["*\\G{00020430-0000-0000-C000-000000000046}#2.0#0#stdole2.tlb"])
        != []
    )
    project = read_project({"M": 'Attribute VB_Name = "M"\nSub A(control As Object)\nEnd Sub\n'}, WINDOWS_64)
    assert check_callbacks(ribbon, project, []) == []


def test_macro_options_mistakes_are_found() -> None:
    code = (
        'Attribute VB_Name = "M"\nFunction F(a)\nEnd Function\nSub S()\n'
        '    Application.MacroOptions Macro:="\'" & ThisWorkbook.Name & "\'!F", '
        'Description:="' + "d" * 256 + '", Categry:="x", ArgumentDescriptions:=Array("a", "b")\nEnd Sub\n'
    )
    problems = check_macro_options(read_project({"M": code}, WINDOWS_64))
    assert any("256 characters" in problem for problem in problems), problems
    assert any("no argument Categry" in problem for problem in problems), problems
    assert any("2 argument descriptions for F's 1" in problem for problem in problems), problems
