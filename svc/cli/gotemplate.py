"""The subset of Go's text/template that docker's `--format` scripts use; pure, no I/O.

Rule: a template is parsed once, up front, and a bad one is a one-line `TemplateError` before
anything is printed; executing it on a document raises a one-line `TemplateError` in Go's words
(`template: :1:2: executing "" at <.Bogus>: can't evaluate field Bogus`), never prints a guess.

Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and `{{/* comments */}}`; fields
(`.`, `.A.B`, `$`, `$x.A`), string/raw/number/bool/nil literals, parenthesised pipelines, pipes
(`{{.X | upper}}`), `$x :=` declarations, `if`/`else if`/`else`, `range` (with `$i, $e :=`, `else`),
`with`, `end`; functions: docker's `json join split upper lower title truncate pad` and Go's
`printf print println len index eq ne lt le gt ge and or not`.

Documents are JSON-shaped Python values (dict, list, str, int, float, bool, None). A field name
matches a key exactly, else ignoring case and underscores (`.Spec.CreatedAt` finds `spec.created_at`),
so docker's CamelCase names work on svc's snake_case JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svc.errors import InvalidArgument


class TemplateError(InvalidArgument):
    """A template that does not parse, or that fails on a document."""


# ---------------------------------------------------------------- values as Go prints them


def go_str(v: Any) -> str:
    """fmt.Sprint's rendering of a JSON value."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def truth(v: Any) -> bool:
    """Go's truth: false, 0, nil and empty strings, lists and maps are false."""
    return bool(v)


def _json(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs scripts use: %s %v %q %d %f %x %X %t %%."""
    out, rest, i = [], list(args), 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[i : m.start()])
        i = m.end()
        flags, width, prec, verb = m.group(1), m.group(2) or "", m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if not rest:
            out.append(f"%!{verb}(MISSING)")
            continue
        v = rest.pop(0)
        spec = "%" + flags + width + (f".{prec}" if prec is not None else "")
        if verb in "sv":
            out.append((spec + "s") % go_str(v))
        elif verb == "q":
            out.append((spec + "s") % json.dumps(go_str(v), ensure_ascii=False))
        elif verb == "t":
            out.append((spec + "s") % go_str(bool(v)))
        elif verb in "dxXobcfeEgG" and isinstance(v, int | float) and not isinstance(v, bool):
            if verb == "c":
                out.append(chr(int(v)))
            else:
                out.append((spec + verb) % (int(v) if verb in "dxXob" else float(v)))
        else:
            out.append(f"%!{verb}({type(v).__name__}={go_str(v)})")
    out.append(fmt[i:])
    if rest:
        out.append("%!(EXTRA " + ", ".join(go_str(v) for v in rest) + ")")
    return "".join(out)


def _sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(a)
    return out


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k)
        elif isinstance(v, list | str) and isinstance(k, int) and not isinstance(k, bool):
            if not 0 <= k < len(v):
                raise ValueError(f"index out of range: {k}")
            v = v[k]
        elif v is None:
            raise ValueError("index of untyped nil")
        else:
            raise ValueError(f"can't index item of type {_type(v)}")
    return v


def _strings(v: Any, fn: str) -> list[str]:
    if not isinstance(v, list):
        raise ValueError(f"wrong type for value; expected []string; got {_type(v)}")
    return [go_str(x) for x in v]


def _need_str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"wrong type for value; expected string; got {_type(v)}")
    return v


def _compare(a: Any, b: Any) -> tuple[Any, Any]:
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    raise ValueError("incompatible types for comparison")


def _lt(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return bool(x < y)


def _le(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return bool(x <= y)


def _len(v: Any) -> int:
    if isinstance(v, str | list | dict):
        return len(v)
    raise ValueError(f"len of type {_type(v)}")


def _truncate(s: Any, n: Any) -> str:
    text = _need_str(s)
    return text[: int(n)] if len(text) > int(n) else text


def _title(s: Any) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), _need_str(s))


def _type(v: Any) -> str:
    return {
        type(None): "<nil>",
        bool: "bool",
        int: "int",
        float: "float64",
        str: "string",
        list: "[]interface {}",
        dict: "map[string]interface {}",
    }.get(type(v), type(v).__name__)


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "join": lambda v, sep: _need_str(sep).join(_strings(v, "join")),
    "split": lambda s, sep: _need_str(s).split(_need_str(sep)),
    "upper": lambda s: _need_str(s).upper(),
    "lower": lambda s: _need_str(s).lower(),
    "title": _title,
    "truncate": _truncate,
    "pad": lambda s, before, after: " " * int(before) + _need_str(s) + " " * int(after),
    "printf": lambda fmt, *a: go_sprintf(_need_str(fmt), *a),
    "print": _sprint,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "len": _len,
    "index": _index,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "lt": _lt,
    "le": _le,
    "gt": lambda a, b: not _le(a, b),
    "ge": lambda a, b: not _lt(a, b),
    "not": lambda v: not truth(v),
}
_FORMATTING = {"printf", "print", "println", "pad", "upper", "lower", "title"}  # applied to a header's titles too
_LAZY = {"and", "or"}  # evaluated operand by operand, as Go does


# ---------------------------------------------------------------- parse tree


@dataclass
class Node:
    pos: int


@dataclass
class Text(Node):
    text: str


@dataclass
class Operand(Node):
    kind: str  # field | var | literal | func | pipe
    value: Any = None  # field path list / (var name, path) / literal / func name / Pipe
    src: str = ""


@dataclass
class Pipe(Node):
    decl: list[str] = field(default_factory=list)
    cmds: list[list[Operand]] = field(default_factory=list)
    src: str = ""


@dataclass
class Action(Node):
    pipe: Pipe


@dataclass
class Block(Node):
    kind: str  # if | range | with
    pipe: Pipe
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<char>'(?:[^'\\]|\\.)+')
    | (?P<decl>:=|=)
    | (?P<punct>[|(),])
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
    | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+))
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, pos: int, message: str) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        return TemplateError(f"template parsing error: template: :{line}: {message}")

    def actions(self) -> list[tuple[str, int, str]]:
        """('text', pos, text) and ('action', pos-of-content, content) with trim markers applied."""
        out: list[tuple[str, int, str]] = []
        i, n, text = 0, len(self.text), self.text
        while i < n:
            start = text.find("{{", i)
            if start < 0:
                out.append(("text", i, text[i:]))
                break
            chunk = text[i:start]
            inner = start + 2
            if text.startswith("- ", inner) or text.startswith("-\t", inner) or text.startswith("-\n", inner):
                chunk = chunk.rstrip(" \t\r\n")
                inner += 1
            out.append(("text", i, chunk))
            end = self._close(inner)
            content = text[inner:end]
            i = end + 2
            if content.endswith(" -") or content.endswith("\t-") or content.endswith("\n-"):
                content = content[:-1]
                while i < n and text[i] in " \t\r\n":
                    i += 1
            stripped = content.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise self.fail(inner, "unclosed comment")
                continue
            out.append(("action", inner, content))
        return [a for a in out if a[0] == "action" or a[2]]

    def _close(self, i: int) -> int:
        text, quote = self.text, ""
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == "\\" and quote == '"':
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "\"`'":
                quote = ch
            elif text.startswith("}}", i):
                return i
            i += 1
        raise self.fail(len(text), "unclosed action")

    def parse(self) -> list[Node]:
        items = self.actions()
        self.items, self.k = items, 0
        body, stop = self.parse_list(())
        if stop is not None:
            raise self.fail(stop[1], f"unexpected {{{{{stop[0]}}}}}")
        return body

    def parse_list(self, stops: tuple[str, ...]) -> tuple[list[Node], tuple[str, int, str] | None]:
        nodes: list[Node] = []
        while self.k < len(self.items):
            kind, pos, content = self.items[self.k]
            self.k += 1
            if kind == "text":
                nodes.append(Text(pos, content))
                continue
            word, _, rest = content.strip().partition(" ")
            word = word.strip()
            if word in ("end", "else"):
                if word not in stops:
                    raise self.fail(pos, f"unexpected {{{{{word}}}}}")
                return nodes, (word, pos, rest.strip())
            if word in ("if", "range", "with"):
                nodes.append(self.parse_block(word, pos, rest))
            elif word in ("define", "template", "block", "break", "continue"):
                raise self.fail(pos, f'"{word}" is not supported by svc\'s templates')
            else:
                nodes.append(Action(pos, self.parse_pipe(content, pos)))
        if stops:
            raise self.fail(len(self.text), "unexpected EOF")
        return nodes, None

    def parse_block(self, kind: str, pos: int, rest: str) -> Block:
        if not rest.strip():
            raise self.fail(pos, f"missing value for {kind}")
        block = Block(pos, kind, self.parse_pipe(rest, pos, allow_decl=True))
        block.body, stop = self.parse_list(("end", "else"))
        assert stop is not None
        if stop[0] == "else":
            if stop[2].startswith("if ") or stop[2] == "if":
                inner = self.parse_block("if", stop[1], stop[2][2:])
                block.orelse = [inner]
                return block  # the inner if consumed the shared {{end}}
            block.orelse, stop = self.parse_list(("end",))
        return block

    def parse_pipe(self, content: str, pos: int, allow_decl: bool = True) -> Pipe:
        tokens = self.tokenize(content, pos)
        pipe = Pipe(pos, src=content.strip())
        # declarations: $x := ... or $i, $e := ...
        for j, (kind, _p, _v) in enumerate(tokens):
            if kind == "decl":
                names = [v for k, _, v in tokens[:j] if k == "var"]
                if not allow_decl or not names or len(names) > 2:
                    raise self.fail(pos, "bad variable declaration")
                pipe.decl = names
                tokens = tokens[j + 1 :]
                break
        self._pipe_cmds(pipe, tokens, pos)
        return pipe

    def _pipe_cmds(self, pipe: Pipe, tokens: list[tuple[str, int, str]], pos: int) -> None:
        cmd: list[Operand] = []
        i = 0
        while i < len(tokens):
            kind, p, v = tokens[i]
            i += 1
            if kind == "punct" and v == "|":
                if not cmd:
                    raise self.fail(p, "missing command")
                pipe.cmds.append(cmd)
                cmd = []
            elif kind == "punct" and v == "(":
                depth, j = 1, i
                while j < len(tokens) and depth:
                    depth += {"(": 1, ")": -1}.get(tokens[j][2], 0) if tokens[j][0] == "punct" else 0
                    j += 1
                if depth:
                    raise self.fail(p, "unclosed left paren")
                inner = Pipe(p, src="(...)")
                self._pipe_cmds(inner, tokens[i : j - 1], p)
                cmd.append(Operand(p, "pipe", inner, "(" + " ".join(t[2] for t in tokens[i : j - 1]) + ")"))
                i = j
            elif kind == "punct":
                raise self.fail(p, f"unexpected {v!r} in command")
            else:
                cmd.append(self.operand(kind, p, v))
        if not cmd:
            raise self.fail(pos, "missing value for command" if not pipe.cmds else "missing command")
        pipe.cmds.append(cmd)

    def operand(self, kind: str, pos: int, v: str) -> Operand:
        if kind == "field":
            return Operand(pos, "field", [] if v == "." else v[1:].split("."), v)
        if kind == "var":
            name, *path = v.split(".")
            return Operand(pos, "var", (name, path), v)
        if kind == "str":
            return Operand(pos, "literal", json.loads(v) if "\\" not in v else _unquote(v), v)
        if kind == "raw":
            return Operand(pos, "literal", v[1:-1], v)
        if kind == "char":
            return Operand(pos, "literal", ord(_unquote('"' + v[1:-1] + '"')), v)
        if kind == "num":
            number: Any = int(v, 0) if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", v) else float(v)
            return Operand(pos, "literal", number, v)
        if kind == "decl":
            raise self.fail(pos, f"unexpected {v!r} in command")
        if v in ("true", "false"):
            return Operand(pos, "literal", v == "true", v)
        if v == "nil":
            return Operand(pos, "literal", None, v)
        if v not in FUNCS and v not in _LAZY:
            raise self.fail(pos, f'function "{v}" not defined')
        return Operand(pos, "func", v, v)

    def tokenize(self, content: str, pos: int) -> list[tuple[str, int, str]]:
        out, i = [], 0
        while content[i:].strip():
            m = _TOKEN.match(content, i)
            if not m or m.end() == i:
                bad = content[i:].strip()[:1]
                raise self.fail(pos + i, f"unexpected {bad!r} in command")
            kind = m.lastgroup or ""
            out.append((kind, pos + m.start(kind), m.group(kind)))
            i = m.end()
        return out


def _unquote(s: str) -> str:
    try:
        return str(json.loads(s))
    except ValueError:
        return s[1:-1].encode("utf-8").decode("unicode_escape")


# ---------------------------------------------------------------- execution


class _ExecError(Exception):
    def __init__(self, node: Operand | Pipe | Node, src: str, message: str) -> None:
        super().__init__(message)
        self.node, self.src = node, src


def _lookup(value: Any, name: str) -> tuple[bool, Any]:
    if not isinstance(value, dict):
        return False, None
    if name in value:
        return True, value[name]
    want = name.replace("_", "").lower()
    for key, v in value.items():
        if isinstance(key, str) and key.replace("_", "").lower() == want:
            return True, v
    return False, None


class HeaderText(str):
    """A column title: what a field of the header document evaluates to."""


class Header:
    """The document a `table` template's header row is rendered from: every field (`.Name`,
    `.Spec.Name`) is its column title; functions of a title give the title, formatting ones format it."""

    def __init__(self, titles: dict[str, str] | None = None) -> None:
        self.titles = {k.lower(): v for k, v in (titles or {}).items()}

    def header(self, name: str) -> HeaderText:
        title = self.titles.get(name.lower()) or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).upper()
        return HeaderText(title)

    def __str__(self) -> str:
        return ""


class Template:
    """A parsed template: `Template(text).execute(doc)`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tree = _Parser(text).parse()

    def execute(self, data: Any) -> str:
        out: list[str] = []
        try:
            self._run(self.tree, data, [{"$": data}], out)
        except _ExecError as exc:
            line = self.text.count("\n", 0, exc.node.pos) + 1
            col = exc.node.pos - (self.text.rfind("\n", 0, exc.node.pos) + 1)
            raise TemplateError(f'template: :{line}:{col}: executing "" at <{exc.src}>: {exc}') from None
        return "".join(out)

    def _run(self, nodes: list[Node], dot: Any, scope: list[dict[str, Any]], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                value = self._pipe(node.pipe, dot, scope)
                if not node.pipe.decl:
                    out.append(go_str(value) if not isinstance(value, Header) else "")
            elif isinstance(node, Block):
                self._block(node, dot, scope, out)

    def _block(self, node: Block, dot: Any, scope: list[dict[str, Any]], out: list[str]) -> None:
        inner = [*scope, {}]
        if node.kind == "range":
            value = self._pipe(node.pipe, dot, inner, declare=False)
            if isinstance(value, Header | HeaderText):  # a header row: the body once, its fields as titles
                self._run(node.body, Header(), inner, out)
                return
            if isinstance(value, dict):
                pairs = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list):
                pairs = list(enumerate(value))
            elif value is None:
                pairs = []
            elif isinstance(value, int) and not isinstance(value, bool):
                pairs = [(i, i) for i in range(value)]
            else:
                raise _ExecError(node.pipe, f"range {node.pipe.src}", f"range can't iterate over {go_str(value)}")
            for key, item in pairs:
                names = node.pipe.decl
                if len(names) == 1:
                    inner[-1][names[0]] = item
                elif len(names) == 2:
                    inner[-1][names[0]], inner[-1][names[1]] = key, item
                self._run(node.body, item, inner, out)
            if not pairs:
                self._run(node.orelse, dot, inner, out)
            return
        value = self._pipe(node.pipe, dot, inner)
        if truth(value):
            self._run(node.body, value if node.kind == "with" else dot, inner, out)
        else:
            self._run(node.orelse, dot, inner, out)

    def _pipe(self, pipe: Pipe, dot: Any, scope: list[dict[str, Any]], declare: bool = True) -> Any:
        value: Any = _NONE
        for cmd in pipe.cmds:
            value = self._cmd(cmd, dot, scope, value)
        if pipe.decl and declare:
            scope[-1][pipe.decl[-1]] = value
        return value

    def _cmd(self, cmd: list[Operand], dot: Any, scope: list[dict[str, Any]], piped: Any) -> Any:
        head = cmd[0]
        src = " ".join(o.src for o in cmd)
        if head.kind != "func":
            if len(cmd) > 1 or piped is not _NONE:
                raise _ExecError(head, head.src, f"can't give argument to non-function {head.src}")
            return self._operand(head, dot, scope)
        if head.value in _LAZY:
            args_ops = cmd[1:]
            value: Any = None
            for i, op in enumerate(args_ops):
                value = self._operand(op, dot, scope)
                if truth(value) == (head.value == "or") or i == len(args_ops) - 1:
                    break
            if piped is not _NONE:
                value = piped if truth(value) != (head.value == "or") else value
            if not args_ops and piped is _NONE:
                raise _ExecError(head, src, f"wrong number of args for {head.value}: want at least 1 got 0")
            return value
        args = [self._operand(op, dot, scope) for op in cmd[1:]]
        if piped is not _NONE:
            args.append(piped)
        if any(isinstance(a, Header) for a in args):
            return ""
        titles = [a for a in args if isinstance(a, HeaderText)]
        if titles and head.value not in _FORMATTING:
            return titles[0]
        try:
            return FUNCS[head.value](*args)
        except TypeError:
            raise _ExecError(head, src, f"wrong number of args for {head.value}: got {len(args)}") from None
        except (ValueError, KeyError, OverflowError) as exc:
            raise _ExecError(head, src, f"error calling {head.value}: {exc}") from None

    def _operand(self, op: Operand, dot: Any, scope: list[dict[str, Any]]) -> Any:
        if op.kind == "literal":
            return op.value
        if op.kind == "pipe":
            return self._pipe(op.value, dot, scope)
        if op.kind == "func":
            return self._cmd([op], dot, scope, _NONE)
        if op.kind == "var":
            name, path = op.value
            for frame in reversed(scope):
                if name in frame:
                    base = frame[name]
                    break
            else:
                raise _ExecError(op, op.src, f"undefined variable: {name}")
            return self._fields(op, base, path)
        return self._fields(op, dot, op.value)

    def _fields(self, op: Operand, value: Any, path: list[str]) -> Any:
        if isinstance(value, Header):
            return value.header(path[-1]) if path else value
        for name in path:
            found, value2 = _lookup(value, name)
            if not found:
                if value is None:
                    raise _ExecError(op, op.src, f"nil pointer evaluating interface {{}}.{name}")
                raise _ExecError(op, op.src, f"can't evaluate field {name}")
            value = value2
        return value


_NONE = object()  # "nothing piped in"
