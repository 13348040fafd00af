"""eldwyn.lua: literals are exact, and a real Lua reads back what was written."""

import pytest

import luadump
from eldwyn.lua import literal, quote

# Everything a data value could hold that could break a Lua string or a config file.
HOSTILE = [
    'say "hi"',
    "back\\slash \\n not a newline",
    "long ]] bracket [[ and ]=] too",
    "new\nline, cr\r, tab\t, nul\0 in the middle",
    "bell\x07 esc\x1b del\x7f then digits after an escape: \x0123",
    "zoë 雪 ☃ 🎉",
    "invisible: rtl\u202eoverride zero\u200bwidth nbsp\u00a0",
    "",
    "'single' -- not a comment",
]


@pytest.mark.parametrize(
    "value, expected",
    [
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb", '"a\\nb"'),
        ("\0" + "1", '"\\0001"'),
        ("zoë", '"zoë"'),
        ("\u202e", '"\\226\\128\\174"'),
        ("]]", '"]]"'),
    ],
)
def test_quote(value, expected):
    assert quote(value) == expected


def test_literal_of_nested_values():
    value = {"certificate": "/a.crt", "list": [1, True, None], "end": {}, "not-an-identifier": "x"}
    assert literal(value) == (
        '{ certificate = "/a.crt", list = { 1, true, nil }, ["end"] = {}, ["not-an-identifier"] = "x" }'
    )


@pytest.mark.parametrize("value", [1.5, float("nan"), b"bytes", {1: "int key"}])
def test_literal_refuses_what_has_no_exact_lua_form(value):
    with pytest.raises(TypeError):
        literal(value)


def test_quoted_strings_stay_on_one_line():
    for text in HOSTILE:
        assert "\n" not in quote(text) and "\r" not in quote(text)


@pytest.mark.skipif(luadump.LUA is None, reason=luadump.SKIP_REASON)
def test_lua_reads_back_every_hostile_value(tmp_path):
    value = {"strings": HOSTILE, "nested": {"ssl": {"key": HOSTILE[3]}, "list": [[HOSTILE[0], 5000]]}}
    source = tmp_path / "value.lua"
    source.write_text("return " + literal(value) + "\n", encoding="utf-8")
    assert luadump.run("value", source).strip() == luadump.canonical(value)
