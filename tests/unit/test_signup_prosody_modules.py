"""Our Prosody modules for the sign-up site (files/usr/local/lib/prosody/modules/), run by a real
Lua against stand-ins for the Prosody APIs they call: mod_invites_register_form tells a client
which account a pre-authenticated invite is for, and mod_invites_register_strict lets a reset
invite set a new password once, on its own account only.

The stand-ins behave as Prosody 13.0.1's do where the modules depend on it (util.events: the
highest priority first, the first handler returning a value stops the event; mod_invites'
store; mod_register_ibr's order: user-registering, then the reset or the creation). The real
proof, against the deployed Prosody, is tests/vm/test_60_signup_web.py.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.luadump import LUA, SKIP_REASON

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "files" / "usr" / "local" / "lib" / "prosody" / "modules"
FORM = MODULES / "mod_invites_register_form.lua"
STRICT = MODULES / "mod_invites_register_strict.lua"
HOST = "cslabs.clarkson.edu"
LUAC = next((found for name in ("luac5.4", "luac") if (found := shutil.which(name))), None)

# The Prosody APIs the modules use, in real Lua. Stanzas print as compact XML; arg[1] is the
# module, arg[2] a scenario run with `hooks`, `fire`, `store`, `accounts`, `sent`, `session`.
HARNESS = r"""
HOST = os.getenv("HOST")
local function escape(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub("'", "&apos;")) end
local stanza_mt = {}; stanza_mt.__index = stanza_mt
local function new_stanza(name, attr)
  local s = setmetatable({ name = name, attr = attr or {}, children = {} }, stanza_mt); s.last = s; return s
end
function stanza_mt:tag(name, attr)
  local child = new_stanza(name, attr); child.parent = self.last
  table.insert(self.last.children, child); self.last = child; return self
end
function stanza_mt:text(t) table.insert(self.last.children, t); return self end
function stanza_mt:up() self.last = self.last.parent or self; return self end
function stanza_mt:add_child(c) table.insert(self.last.children, c); return self end
function stanza_mt:__tostring()
  local keys = {}; for k in pairs(self.attr) do keys[#keys + 1] = k end; table.sort(keys)
  local out = { "<" .. self.name }
  for _, k in ipairs(keys) do out[#out + 1] = (" %s='%s'"):format(k, escape(self.attr[k])) end
  if #self.children == 0 then return table.concat(out) .. "/>" end
  out[#out + 1] = ">"
  for _, c in ipairs(self.children) do out[#out + 1] = type(c) == "string" and escape(c) or tostring(c) end
  return table.concat(out) .. "</" .. self.name .. ">"
end
package.preload["prosody.util.stanza"] = function() return {
  reply = function(s) return new_stanza("iq", { type = "result", id = s.attr.id }) end;
  error_reply = function(s, t, condition, text)
    local e = new_stanza("iq", { type = "error", id = s.attr.id }):tag("error", { type = t }):tag(condition):up()
    if text then e:tag("text"):text(text):up() end
    return e
  end;
  stanza = new_stanza;
} end
package.preload["prosody.util.dataforms"] = function() return { new = function(layout)
  return setmetatable(layout, { __index = { form = function(self, data)
    local x = new_stanza("x", { xmlns = "jabber:x:data", type = "form" })
    for _, field in ipairs(self) do
      x:tag("field", { var = field.name, type = field.type })
      local value = data and data[field.name] or field.value
      if value then x:tag("value"):text(value):up() end
      x:up()
    end
    return x
  end } })
end } end
package.preload["prosody.util.jid"] = function() return { split = function(j)
  local node, host = j:match("^([^@/]*)@([^/]*)"); if node then return node, host end; return nil, j
end } end
package.preload["prosody.util.encodings"] = function() return { stringprep = { nodeprep = function(s)
  if s == nil or s:find("[%s@/\"&'<>:]") then return nil end; return s:lower()
end } } end
accounts = {}
package.preload["prosody.core.usermanager"] = function() return {
  user_exists = function(u, h) assert(h == HOST); return accounts[u] ~= nil end;
  user_is_enabled = function(u, h) assert(h == HOST); return not disabled[u] end;
} end
disabled = {}
global_events = {}
package.preload["prosody.util.error"] = function() return { new = function(kind, context, registry)
  local e = registry[kind]; return { type = e.type, condition = e.condition, text = e.text, kind = kind }
end } end
package.preload["prosody.util.cache"] = function() return { new = function()
  local t = {}; return { get = function(_, k) return t[k] end, set = function(_, k, v) t[k] = v end }
end } end

store, deleted = {}, {}
local invites = {
  get_account_invite_info = function(token)
    local info = store[token]
    if not info then return nil, "token-invalid" end
    if os.time() > info.expires then return nil, "token-expired" end
    return info
  end;
  delete_account_invite = function(token) store[token] = nil; deleted[#deleted + 1] = token; return true end;
}
hooks = {}
prosody = { process_type = "prosody", events = { fire_event = function(name, event)
  global_events[#global_events + 1] = name .. ":" .. event.username .. "@" .. event.host
end } }
module = {
  host = HOST;
  _log = function() end;
  log = function() end;
  depends = function(_, name) if name == "invites" then return invites end; return {} end;
  get_option_boolean = function(_, _, default) return default end;
  hook = function(_, name, handler, priority)
    hooks[name] = hooks[name] or {}
    table.insert(hooks[name], { handler = handler, priority = priority or 0 })
    table.sort(hooks[name], function(a, b) return a.priority > b.priority end)
  end;
}
-- util.events: highest priority first; a handler's non-nil return value stops the event.
function fire(name, event)
  for _, h in ipairs(hooks[name] or {}) do
    local ret = h.handler(event); if ret ~= nil then return ret end
  end
end
function priorities(name)
  local out = {}; for _, h in ipairs(hooks[name] or {}) do out[#out + 1] = h.priority end
  return table.concat(out, ",")
end
sent = {}
function new_session(token)
  local session = { type = "c2s_unauthed", secure = true, log = function() end }
  session.send = function(s) sent[#sent + 1] = tostring(s) end
  if token then session.validated_invite = { token = token } end -- what mod_invites_register's preauth keeps
  return session
end
function invite(token, info) info.token = token; info.expires = info.expires or os.time() + 3600; store[token] = info end

assert(loadfile(arg[1]))()
assert(loadfile(arg[2]))()
"""


def run_lua(tmp_path, module, scenario):
    (tmp_path / "harness.lua").write_text(HARNESS)
    (tmp_path / "scenario.lua").write_text(scenario)
    result = subprocess.run([LUA, str(tmp_path / "harness.lua"), str(module), str(tmp_path / "scenario.lua")],
                            capture_output=True, text=True, env={"HOST": HOST, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return dict(line.split("\t", 1) for line in result.stdout.splitlines())


@pytest.mark.skipif(LUAC is None, reason="no luac5.4 on PATH; apt-get install lua5.4")
@pytest.mark.parametrize("module", sorted(MODULES.glob("mod_*.lua")), ids=lambda path: path.name)
def test_our_modules_compile(module):
    # One file per luac run: Debian 12's luac 5.4.4 aborts (double free) on several.
    result = subprocess.run([LUAC, "-p", str(module)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


FORM_SCENARIO = r"""
accounts.alice = true
invite("any", { type = "register", jid = HOST, additional_data = {} })
invite("named", { type = "register", jid = "Carol@" .. HOST, additional_data = { roles = {} } })
invite("reset", { type = "register", jid = "alice@" .. HOST, additional_data = { allow_reset = "alice" } })
invite("reset-gone", { type = "register", jid = "gone@" .. HOST, additional_data = { allow_reset = "gone" } })
invite("expired", { type = "register", jid = "dave@" .. HOST, expires = os.time() - 10 })
invite("roster", { type = "roster", jid = "bob@" .. HOST, allow_registration = true })
print("priorities", priorities("stanza/iq/jabber:iq:register:query"))
local function ask(label, session, iq_type)
  sent = {}
  local stanza = { name = "iq", attr = { type = iq_type or "get", id = "q1" } }
  local handled = fire("stanza/iq/jabber:iq:register:query", { origin = session, stanza = stanza })
  print(label, (handled and "handled " or "passed ") .. table.concat(sent, " "))
end
ask("no-preauth", new_session())
ask("any-name", new_session("any"))
ask("named", new_session("named"))
ask("reset", new_session("reset"))
ask("reset-gone", new_session("reset-gone"))
ask("expired-since-preauth", new_session("expired"))
ask("deleted-since-preauth", new_session("deleted"))
ask("roster", new_session("roster"))
ask("set", new_session("named"), "set")
local plain = new_session("named"); plain.secure = false
ask("without-tls", plain)
local bound = new_session("named"); bound.type = "c2s"
ask("authenticated", bound)
print("store-untouched", tostring(store.named ~= nil and store.reset ~= nil and #deleted == 0))
"""


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_the_form_names_the_one_account_of_a_named_or_reset_invite(tmp_path):
    out = run_lua(tmp_path, FORM, FORM_SCENARIO)
    assert out.pop("priorities") == "10"  # mod_register_ibr's handler is at 0: ours runs first
    named = out.pop("named")
    assert named.startswith("handled <iq id='q1' type='result'><query xmlns='jabber:iq:register'>")
    assert "<username>carol</username><password/>" in named and "<registered/>" not in named  # nodeprepped
    assert "<field type='text-single' var='username'><value>carol</value></field>" in named
    assert out.pop("reset") == (
        "handled <iq id='q1' type='result'><query xmlns='jabber:iq:register'>"
        "<instructions>Choose a new password for this account.</instructions>"
        "<registered/><username>alice</username><password/></query></iq>")
    assert out.pop("reset-gone") == (
        "handled <iq id='q1' type='error'><error type='auth'><forbidden/>"
        "<text>This password reset invite is for an account that does not exist</text></error></iq>")
    assert out.pop("store-untouched") == "true"  # asking uses nothing up
    # Everything else is mod_register_ibr's, untouched: nothing sent, the event goes on.
    assert out == {label: "passed " for label in (
        "no-preauth", "any-name", "expired-since-preauth", "deleted-since-preauth", "roster", "set",
        "without-tls", "authenticated")}


# mod_register_ibr's order for a set, with mod_invites_register's user-registering handler
# (priority 0: it copies allow_reset onto the event) and its user-password-reset one (:use()).
STRICT_SCENARIO = r"""
module:hook("user-registering", function(event)
  local invite = event.session.validated_invite
  if invite and invite.additional_data and invite.additional_data.allow_reset then
    event.allow_reset = invite.additional_data.allow_reset
  end
end, 0)
accounts.alice, accounts.bob = "old", "bob's"
local function register(label, token, username, password)
  local session = new_session(token)
  if store[token] then session.validated_invite.additional_data = store[token].additional_data end
  local user = { username = username, password = password, host = HOST, session = session, allowed = true }
  fire("user-registering", user)
  local outcome
  if not user.allowed then
    outcome = ("refused %s/%s (%s)"):format(user.error.type, user.error.condition, user.error.text)
  elseif accounts[username] ~= nil then
    if user.allow_reset == username then
      accounts[username] = password; fire("user-password-reset", user); outcome = "reset"
    else
      outcome = "conflict"
    end
  else
    accounts[username] = password; fire("user-registered", user); outcome = "created"
  end
  print(label, outcome .. " store:" .. tostring(store[token] ~= nil)
        .. " stream-invite:" .. tostring(session.validated_invite ~= nil))
end
invite("reset", { type = "register", jid = "alice@" .. HOST, additional_data = { allow_reset = "alice" } })
register("reset-for-bob", "reset", "bob", "x")
register("reset-new-name", "reset", "newname", "x")
register("reset", "reset", "alice", "new")
register("reset-again", "reset", "alice", "newer")
invite("reset-gone", { type = "register", jid = "gone@" .. HOST, additional_data = { allow_reset = "gone" } })
register("reset-missing-account", "reset-gone", "gone", "x")
accounts.carol, disabled.carol = "carol's", true
invite("reset-disabled", { type = "register", jid = "carol@" .. HOST, additional_data = { allow_reset = "carol" } })
register("reset-disabled", "reset-disabled", "carol", "x")
print("events", table.concat(global_events, ","))
print("passwords", accounts.alice .. "|" .. accounts.bob .. "|" .. tostring(accounts.newname) .. "|" .. tostring(accounts.gone))
"""


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_strict_lets_a_reset_through_once_and_only_for_its_account(tmp_path):
    out = run_lua(tmp_path, STRICT, STRICT_SCENARIO)
    assert out == {
        "reset-for-bob": "refused modify/not-acceptable (This invite is for another username) store:true stream-invite:true",
        "reset-new-name": "refused modify/not-acceptable (This invite is for another username) store:true stream-invite:true",
        # Let through, the invite deleted from the store before the new password is set.
        "reset": "reset store:false stream-invite:false",
        "reset-again": "refused auth/forbidden (The invite token is invalid, expired or already used) store:false stream-invite:true",
        "reset-missing-account": "refused auth/forbidden (A password reset invite cannot create an account) store:true stream-invite:true",
        "reset-disabled": "refused auth/forbidden (This account is disabled: an administrator must enable it first) store:true stream-invite:true",
        # The one reset ends every session of the account, as a password change does.
        "events": f"user-password-changed:alice@{HOST}",
        "passwords": "new|bob's|nil|nil",
    }
