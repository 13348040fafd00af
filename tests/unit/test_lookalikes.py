"""Look-alike usernames, on Prosody's side: the generated Lua skeleton agrees with the sign-up
service's (webservice/signup/validation.py), and mod_register_lookalike_names refuses a new
account that looks like an existing one, run under real Lua with stand-ins for Prosody."""

import json
import subprocess
import unicodedata

import pytest

from tests.unit.luadump import LUA, SKIP_REASON
from webservice.signup import skeleton_lua, validation

MODULES = skeleton_lua.OUTPUT.parent
LIBRARY = skeleton_lua.OUTPUT
MODULE = MODULES / "mod_register_lookalike_names.lua"

NAMES = ["admin", "аdmin", "adm1n", "ADMIN", "Ádmin", "rnail", "mail", "vvolf", "clan", "straße", "strasse",
         "хмрр", "xmpp", "αlpha", "ｆｕｌｌ", "ǀinux", "linux", "zoë", "zoe", "a.b-c_d", "日本", "ĳssel", "ﬁle"]


def all_characters():
    return [chr(code) for first, last in skeleton_lua.RANGES for code in range(first, last + 1)
            if unicodedata.category(chr(code)) not in ("Cn", "Cc", "Cs")]


def test_the_generated_library_is_current():
    assert LIBRARY.read_text(encoding="utf-8") == skeleton_lua.lua_library(), \
        "run: python -m webservice.signup.skeleton_lua"


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_lua_and_python_skeletons_agree(tmp_path):
    names = NAMES + all_characters() + ["".join(all_characters()[i::97]) for i in range(97)]
    (tmp_path / "names.json").write_text(json.dumps(names), encoding="utf-8")
    script = tmp_path / "run.lua"
    script.write_text(f"""
local lib = dofile({json.dumps(str(LIBRARY))})
for line in io.lines({json.dumps(str(tmp_path / "lines.txt"))}) do print(lib.skeleton(line)) end
""")
    (tmp_path / "lines.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    result = subprocess.run([LUA, str(script)], capture_output=True, text=True, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    lua = result.stdout.split("\n")[:-1]
    python = [validation.skeleton(name) for name in names]
    differing = [(name, ours, theirs) for name, ours, theirs in zip(names, lua, python) if ours != theirs]
    assert not differing, differing[:10]
    assert validation.skeleton("аdmin") == validation.skeleton("admin")  # the point of it all


HARNESS = r"""
accounts = {}
for name in (os.getenv("ACCOUNTS") or ""):gmatch("[^,]+") do accounts[name] = true end
local handlers = {}
package.preload["prosody.core.usermanager"] = function() return {
  user_exists = function(u, h) return accounts[u] == true end;
  users = function(h) local k = nil; return function() k = next(accounts, k); return k end end;
} end
package.preload["prosody.util.error"] = function() return { new = function(e) return e end } end
prosody = { process_type = "prosody" }
local lib = dofile(os.getenv("LIBRARY"))
module = {
  host = "cslabs.clarkson.edu"; _log = function() end;
  require = function(_, name) assert(name == "eldwyn_lookalikes"); return lib end;
  hook = function(_, name, handler, priority) handlers[#handlers + 1] = { name, handler, priority } end;
}
assert(loadfile(os.getenv("MODULE")))()
assert(#handlers == 1 and handlers[1][1] == "user-registering" and handlers[1][3] == 50)
for name in os.getenv("TRY"):gmatch("[^,]+") do
  local event = { username = name, allowed = true }
  local stopped = handlers[1][2](event)
  print(name, event.allowed and "allowed" or ("refused " .. event.error.condition .. " " .. event.error.text), tostring(stopped))
end
"""


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_the_module_refuses_a_name_that_looks_like_an_existing_account(tmp_path):
    (tmp_path / "harness.lua").write_text(HARNESS)
    result = subprocess.run([LUA, str(tmp_path / "harness.lua")], capture_output=True, text=True, encoding="utf-8",
                            env={"ACCOUNTS": "alice,bob,admin", "LIBRARY": str(LIBRARY), "MODULE": str(MODULE),
                                 "TRY": "аlice,a1ice,alicе,carol,bobby,admln,alice"})
    assert result.returncode == 0, result.stderr
    out = dict(line.split("\t", 1) for line in result.stdout.splitlines())
    refused = "refused not-acceptable This username looks like an existing account's: choose another one\ttrue"
    assert out == {"аlice": refused, "a1ice": refused, "alicе": refused, "admln": refused,
                   "carol": "allowed\tnil", "bobby": "allowed\tnil",
                   # The name of an existing account: a reset (or a conflict), left to the strict module.
                   "alice": "allowed\tnil"}
