"""svc's Go-template subset (`--format`) and docker's table formatting, without a cluster."""

from __future__ import annotations

import io

import pytest

from svc.cli import formatter
from svc.cli.gotemplate import Template, TemplateError, go_sprintf
from svc.errors import InvalidArgument

DOC = {
    "ID": "abc",
    "Name": "web",
    "Ports": "*:8080->80/tcp",
    "Labels": {"b": "2", "a": "1"},
    "Names": ["x", "y"],
    "spec": {"name": "web", "created_at": "2026-12-01T14:09:49Z", "replicas": 3},
    "n": 3,
    "Empty": [],
    "Flag": True,
    "None": None,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Name}}", "web"),
        ("plain text", "plain text"),
        ("{{ .Name }}", "web"),
        (
            "{{.}}",
            "map[Empty:[] Flag:true ID:abc Labels:map[a:1 b:2] Name:web Names:[x y] None:<no value> "
            "Ports:*:8080->80/tcp n:3 spec:map[created_at:2026-12-01T14:09:49Z name:web replicas:3]]",
        ),
        ("{{.Spec.Name}} {{.Spec.CreatedAt}} {{.Spec.Replicas}}", "web 2026-12-01T14:09:49Z 3"),  # docker's names
        ("{{.spec.created_at}}", "2026-12-01T14:09:49Z"),
        ("{{.Ports}}", "*:8080->80/tcp"),
        ("{{.None}}", "<no value>"),
        ("{{.Flag}} {{.n}}", "true 3"),
        ("{{.Labels}} {{.Names}}", "map[a:1 b:2] [x y]"),
        ("{{json .Labels}}", '{"a":"1","b":"2"}'),
        ("{{json .Names}}", '["x","y"]'),
        ("{{json .Name}}", '"web"'),
        ("{{json .spec}}", '{"created_at":"2026-12-01T14:09:49Z","name":"web","replicas":3}'),
        ("{{range .Names}}[{{.}}]{{end}}", "[x][y]"),
        ("{{range $i, $e := .Names}}{{$i}}={{$e}} {{end}}", "0=x 1=y "),
        ("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),  # sorted keys, as Go
        ("{{range $v := .Names}}{{$v}}{{end}}", "xy"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{if .Empty}}yes{{else}}no{{end}}", "no"),
        ("{{if .Names}}yes{{end}}", "yes"),
        ('{{if eq .Name "api"}}A{{else if eq .n 3}}three{{else}}other{{end}}', "three"),
        ("{{if not .Flag}}off{{else}}on{{end}}", "on"),
        ("{{if and .Flag .Empty}}both{{else}}not both{{end}}", "not both"),
        ('{{or .Empty "default"}}', "default"),
        ("{{with .spec}}{{.name}}{{end}}", "web"),
        ("{{with .Empty}}x{{else}}empty{{end}}", "empty"),
        ('{{join .Names ","}}', "x,y"),
        ('{{join .Names ", "}}', "x, y"),
        ('{{split "a,b" ","}}', "[a b]"),
        ('{{upper .Name}} {{lower "ABC"}} {{title "hello world"}}', "WEB abc Hello World"),
        ("{{.Name | upper}}", "WEB"),
        ('{{.Name | printf "%s-%s" "a"}}', "a-web"),  # the piped value is the last argument
        ('{{.Name | printf "%s!" | upper}}', "WEB!"),
        ('{{printf "%s" .Name}}', "web"),
        ('{{printf "%-6s|%5d|%q|%v" .Name .n .Name .Names}}', 'web   |    3|"web"|[x y]'),
        ('{{printf "%.2f%%" 12.345}}', "12.35%"),
        ("{{print .Name .n}} {{println .n}}", "web3 3\n"),
        ('{{len .Names}} {{index .Names 1}} {{index .Labels "a"}}', "2 y 1"),
        ("{{(index .Names 0) | upper}}", "X"),
        ("{{truncate .Name 2}} [{{pad .Name 1 2}}]", "we [ web  ]"),
        ("{{$n := .Name}}{{range .Names}}{{$n}}{{.}} {{end}}", "webx weby "),
        ("{{range .Names}}{{$.Name}}{{end}}", "webweb"),
        ('{{gt .n 2}} {{lt .n 2}} {{ge .n 3}} {{le .n 3}} {{ne .Name "x"}}', "true false true true true"),
        ("a {{- .Name -}} b", "awebb"),
        ("a\n  {{- .Name}}", "aweb"),
        ("{{/* a comment */}}x", "x"),
        ("{{`raw \\n`}}", "raw \\n"),
        ('{{"quoted \\"}}\\""}}', 'quoted "}}"'),
    ],
)
def test_execute(template: str, expected: str) -> None:
    assert Template(template).execute(DOC) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Bogus}}", 'template: :1:2: executing "" at <.Bogus>: can\'t evaluate field Bogus'),
        ("x {{.Spec.Bogus}}", 'template: :1:4: executing "" at <.Spec.Bogus>: can\'t evaluate field Bogus'),
        ("a\n {{.Bogus}}", "template: :2:3:"),
        ("{{.Name.First}}", "can't evaluate field First"),
        ('{{join .Name ","}}', "error calling join: wrong type for value; expected []string; got string"),
        ("{{range .Name}}{{end}}", "range can't iterate over web"),
        ("{{upper}}", "wrong number of args for upper"),
        ("{{$nope}}", "undefined variable: $nope"),
        ("{{index .Names 5}}", "index out of range: 5"),
    ],
)
def test_execution_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as exc:
        Template(template).execute(DOC)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert isinstance(exc.value, InvalidArgument)  # the CLI prints it on one line, exit 1


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{foo .X}}", 'template parsing error: template: :1: function "foo" not defined'),
        ("{{.Name", "unclosed action"),
        ("{{if .X}}", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{range .X}}{{else}}{{else}}{{end}}", "unexpected {{else}}"),
        ("{{if}}{{end}}", "missing value for if"),
        ("{{.X | }}", "missing command"),
        ("{{(.X}}", "unclosed left paren"),
        ("{{/* open }}", "unclosed comment"),
        ("a\n{{.X ! }}", "template: :2: unexpected '!'"),
        ('{{template "x"}}', "not supported"),
    ],
)
def test_parse_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as exc:
        Template(template)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_sprintf() -> None:
    assert go_sprintf("%s and %v", "a", 1) == "a and 1"
    assert go_sprintf("%s") == "%!s(MISSING)"
    assert go_sprintf("%d", "x") == "%!d(str=x)"
    assert go_sprintf("%x %X %t", 255, 255, True) == "ff FF true"
    assert go_sprintf("a", 1) == "a%!(EXTRA 1)"


def render(fmt: str, docs: list[dict[str, object]], titles: dict[str, str] | None = None) -> str:
    out = io.StringIO()
    formatter.render(fmt, docs, titles, out=out)
    return out.getvalue()


def test_rows_and_escapes() -> None:
    docs = [{"ID": "a1", "Name": "web"}, {"ID": "b2", "Name": "api"}]
    assert render("{{.ID}} {{.Name}}", docs) == "a1 web\nb2 api\n"
    assert render("{{.ID}}\\t{{.Name}}", docs) == "a1\tweb\nb2\tapi\n"  # not a table: tabs stay tabs
    assert render("{{.ID}}\\n{{.Name}}", docs[:1]) == "a1\nweb\n"
    assert render("  {{.ID}}  ", docs[:1]) == "a1\n"  # docker trims spaces around the format
    assert render("{{json .}}", docs[:1]) == '{"ID":"a1","Name":"web"}\n'


def test_table_header_and_alignment() -> None:
    docs = [
        {"ID": "a1", "Name": "web", "Ports": "*:8080->80/tcp"},
        {"ID": "abcdefghijklmnop", "Name": "api", "Ports": ""},
    ]
    out = render("table {{.ID}}\\t{{.Name}}\\t{{.Ports}}", docs, {"ID": "ID"})
    assert out == (
        "ID                 NAME      PORTS\n"
        "a1                 web       *:8080->80/tcp\n"
        "abcdefghijklmnop   api       \n"
    )
    # Titles from the command's table (`SERVICE ID`), else the field in capitals, CamelCase split.
    assert render("table {{.ID}}\\t{{.CreatedAt}}", [], {"ID": "SERVICE ID"}) == "SERVICE ID   CREATED AT\n"
    # Functions of a column give its title in the header row.
    assert render('table {{.Name | upper}}\\t{{join .Names ","}}', [{"Name": "w", "Names": ["a"]}]) == (
        "NAME      NAMES\nW         a\n"
    )
    assert render("table {{json .}}", [{"A": 1}]) == '\n{"A":1}\n'


def test_a_bad_row_prints_nothing() -> None:
    out = io.StringIO()
    with pytest.raises(TemplateError):
        formatter.render("table {{.Name}}", [{"Name": "a"}, {"Other": 1}], out=out)
    assert out.getvalue() == ""
    with pytest.raises(TemplateError):
        formatter.render("{{.Name", [], out=out)
    with pytest.raises(TemplateError):
        formatter.render("{{.Name}}", [{"Name": "a"}, {"Other": 1}], out=out)
    assert out.getvalue() == ""


def test_tabwriter_blocks() -> None:
    # A line without the column ends its block; the last cell of a line is never padded.
    assert formatter.tabwrite("a\tb\nlonger-cell\tc\nx\ny\tz") == "a             b\nlonger-cell   c\nx\ny         z"


def test_is_template() -> None:
    assert not formatter.is_template("") and not formatter.is_template("json") and not formatter.is_template("table")
    assert formatter.is_template("{{.ID}}") and formatter.is_template("table {{.ID}}")
