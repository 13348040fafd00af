"""eldwyn.accounts: the account query, the shell scripts, and the apply command's verdicts.

The apply command runs here for real (POSIX sh) against a fake ``prosodyctl`` that answers like
Prosody 13.0.1's ``prosodyctl shell`` does on non-tty stdin (output copied from the real one),
and that *echoes every input line* the way it does when lua-readline is installed: nothing
secret may get through. The real thing was measured against Prosody 13.0.1 in a Debian 13
chroot: 1,001 accounts in 3.7 s with the credentials derived operator-side (7.2 s when Prosody
derived them), one prosodyctl process either way.
"""

import base64
import hashlib
import hmac
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid

import pytest

from eldwyn import accounts
from tests.unit.luadump import LUA, SKIP_REASON

REALM = "cslabs.clarkson.edu"
NASTY = 'p"a\\s\'s]] é $(touch /tmp/pwned) `id` ;os.exit(1)--[[ \\n'


# ---- The existing-accounts query ------------------------------------------------------------

def _run(command, env=None, stdin=None):
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env, input=stdin)


def _store(path, rows):
    db = sqlite3.connect(path)
    db.execute('CREATE TABLE "prosody" ("host" TEXT NOT NULL, "user" TEXT NOT NULL, "store" TEXT'
               ' NOT NULL, "key" TEXT NOT NULL, "type" TEXT NOT NULL, "value" TEXT NOT NULL)')
    db.executemany("INSERT INTO prosody VALUES (?, ?, ?, ?, 'string', 'x')", rows)
    db.commit()
    db.close()


needs_sqlite3 = pytest.mark.skipif(not shutil.which("sqlite3"), reason="no sqlite3 CLI on PATH")


@needs_sqlite3
def test_existing_accounts_are_read_from_the_store(config, tmp_path):
    db = tmp_path / "prosody.sqlite"
    _store(db, [
        (REALM, "alice", "accounts", "stored_key"), (REALM, "alice", "accounts", "salt"),
        (REALM, "bob", "accounts", "stored_key"),
        (REALM, "carol", "roster", "x"),  # not an account
        ("other.example", "dave", "accounts", "salt"),  # another host
        ("muc.comm." + REALM, "", "accounts", "x"),
    ])
    before = db.read_bytes()
    result = _run(accounts.existing_accounts_command(config.realm, database=str(db)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"alice@{REALM}", f"bob@{REALM}"]
    assert accounts.parse_existing_accounts(result.stdout) == {f"alice@{REALM}", f"bob@{REALM}"}
    assert db.read_bytes() == before  # read-only


@needs_sqlite3
def test_no_store_yet_prints_nothing(config, tmp_path):
    result = _run(accounts.existing_accounts_command(config.realm, database=str(tmp_path / "none.sqlite")))
    assert (result.returncode, result.stdout) == (0, "")
    assert not (tmp_path / "none.sqlite").exists()


@needs_sqlite3
def test_store_without_prosody_table_prints_nothing(config, tmp_path):
    db = tmp_path / "prosody.sqlite"
    sqlite3.connect(db).close()
    result = _run(accounts.existing_accounts_command(config.realm, database=str(db)))
    assert (result.returncode, result.stdout) == (0, "")


@needs_sqlite3
def test_unreadable_store_fails(config, tmp_path):
    db = tmp_path / "prosody.sqlite"
    db.write_text("this is not a database, and is longer than a sqlite header" * 10)
    assert _run(accounts.existing_accounts_command(config.realm, database=str(db))).returncode != 0


def test_parse_existing_accounts():
    assert accounts.parse_existing_accounts("") == set()
    assert accounts.parse_existing_accounts(f"a@{REALM}\n\n b@{REALM} \n") == {f"a@{REALM}", f"b@{REALM}"}
    with pytest.raises(ValueError):
        accounts.parse_existing_accounts("Error: database is locked\n")


# ---- Roles and what is missing --------------------------------------------------------------

def test_roles_admins_first_all_members(data):
    from eldwyn.config import load_config
    data["xmpp_admins"] = [f"admin@{REALM}", f"root@{REALM}"]
    data["xmpp_accounts"] = [f"alice@{REALM}"]
    config = load_config(data, environ={})
    assert accounts.roles_for(config) == [
        (f"admin@{REALM}", "prosody:member"), (f"root@{REALM}", "prosody:member"),
        (f"alice@{REALM}", "prosody:member"),
    ]
    assert accounts.missing_accounts(config, {f"root@{REALM}", f"zed@{REALM}"}) == [
        (f"admin@{REALM}", "prosody:member"), (f"alice@{REALM}", "prosody:member"),
    ]


# ---- Scripts --------------------------------------------------------------------------------

def test_creation_script_a_helper_then_the_accounts_and_a_marker():
    script = accounts.creation_script([(f"a@{REALM}", "pw1", "prosody:member"),
                                       (f"b@{REALM}", NASTY, "prosody:member")])
    lines = script.splitlines()
    assert len(lines) == 3 and script.endswith("\n")
    assert lines[0].startswith("> (function() ") and "eldwyn_create = function" in lines[0]
    assert lines[1].startswith(f'> eldwyn_create("SHA-1", {{ "a@{REALM}", "prosody:member", {{ salt = "')
    assert f'}} }}, {{ "b@{REALM}", "prosody:member", {{ salt = "' in lines[1]
    assert lines[2] == '> "eldwyn-accounts: expect 1"'
    # The passwords themselves never leave the operator's machine.
    assert "pw1" not in script and NASTY not in script and "p\\\"a" not in script


def test_many_accounts_are_split_into_lines_the_shell_accepts():
    jids = [f"user{index:04d}@{REALM}" for index in range(100)] + [f"{'x' * 1000}@{REALM}"]
    lines = accounts.creation_script([(jid, "pw", "prosody:member") for jid in jids]).splitlines()
    calls = lines[1:-1]
    assert len(calls) == 4 and lines[-1] == '> "eldwyn-accounts: expect 4"'
    # Prosody closes the shell's session on a line over 10,000 bytes once XML-escaped.
    assert all(accounts._xml_length(line) <= accounts._LINE_BUDGET for line in lines)
    assert [jid for line in calls for jid in re.findall(r'\{ "([^"]+)", "prosody:member"', line)] == jids


def test_scram_credentials_match_rfc_5802():
    # RFC 5802 section 5: user "user", password "pencil", salt QSXCR+Q6sek8bf92, 4096 rounds.
    credentials = accounts.scram_credentials(
        "pencil", salt=base64.b64decode("QSXCR+Q6sek8bf92"), iterations=4096)
    stored_key = bytes.fromhex(credentials["stored_key"])
    server_key = bytes.fromhex(credentials["server_key"])
    auth_message = (b"n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
                    b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
                    b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j")
    client_signature = hmac.digest(stored_key, auth_message, "sha1")
    client_key = bytes(a ^ b for a, b in zip(
        base64.b64decode("v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="), client_signature))
    assert hashlib.sha1(client_key).digest() == stored_key  # the client's proof verifies
    assert base64.b64encode(hmac.digest(server_key, auth_message, "sha1")) == b"rmF9pqV8S7suAoZWja4dJRkFsKQ="
    assert credentials["iteration_count"] == 4096


def test_each_account_gets_its_own_random_salt():
    first, second = (accounts.scram_credentials("same password") for _ in range(2))
    assert first["salt"] != second["salt"] and first["stored_key"] != second["stored_key"]
    assert str(uuid.UUID(first["salt"])) == first["salt"]  # a UUID, as Prosody's own salts
    assert first["iteration_count"] == accounts.SCRAM_ITERATIONS == 10000


def test_set_password_script():
    assert accounts.set_password_script([(f"a@{REALM}", "new")]) == (
        f'user:password("a@{REALM}", "new")\n> "eldwyn-accounts: expect 1"\n')


# A stand-in for the Prosody APIs the helper calls, in real Lua: each shell line is run as the
# admin shell does (">" stripped, "return " tried first), and what the helper did is printed.
HELPER_HARNESS = r"""
local hex = function(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local config, fail_set = { password_hash = os.getenv("HASH") }, os.getenv("FAIL_SET")
local stored, roles = {}, {}
-- SQL=<synchronous>: Prosody's SQLite engine, at that setting (STUCK=1: it cannot be raised
-- again). Every write prints the setting it was committed at, a checkpoint the setting then.
local sync, engine = tonumber(os.getenv("SQL") or "")
if sync then engine = { params = { driver = "SQLite3" },
  select = function(_, q)
    if q == "PRAGMA wal_checkpoint(PASSIVE)" then print("checkpoint", sync) return coroutine.wrap(function() coroutine.yield({ 0, 3, 3 }) end) end
    assert(q == "PRAGMA synchronous"); return coroutine.wrap(function() coroutine.yield({ tostring(sync) }) end) end,
  execute = function(_, q) local n = assert(tonumber(q:match("^PRAGMA synchronous=(%d)$") or ({ ["PRAGMA synchronous=NORMAL"] = 1 })[q]), q)
    if not (os.getenv("STUCK") and n > sync) then sync = n end; return true end } end
local function written(what, u) if sync then print("write", what, u, sync) end end
package.preload["prosody.core.usermanager"] = function() return {
  user_exists = function(u, h) return stored[u] ~= nil end,
  set_user_role = function(u, h, role) written("role", u); roles[u] = role; return true end,
  delete_user = function(u, h) roles[u], stored[u] = nil, nil; print("deleted " .. u) return true end,
} end
package.preload["prosody.util.logger"] = function() return { init = function() return function() end end } end
package.preload["prosody.core.storagemanager"] = function() return { open = function(h, name)
  assert(name == "accounts")
  return { get = function(_, u) return stored[u] end,
           set = function(_, u, v) if fail_set == u then return nil, "disk full" end written("account", u); stored[u] = v; return true end }
end } end
package.preload["prosody.util.jid"] = function() return { split = function(j) return j:match("^([^@]*)@(.*)$") end } end
package.preload["prosody.core.configmanager"] = function() return { get = function(h, key) return config[key] end } end
local modules = engine and { storage_sql = { module = { shared = function(_, path)
  assert(path == "/*/sql/connections"); return { ["sqlite:///prosody.sqlite"] = engine } end } } }
prosody = { hosts = { [os.getenv("REALM")] = { users = { name = "internal_hashed" }, modules = modules } } }
for line in io.lines(arg[1]) do
  line = line:gsub("^>", "")
  local chunk = load("return " .. line) or assert(load(line))
  print("result", chunk())
end
if sync then print("synchronous", sync) end
for u, a in pairs(stored) do
  local keys = {}
  for key in pairs(a) do keys[#keys + 1] = key end
  table.sort(keys)
  print("stored", hex(u), a.salt, a.iteration_count, a.stored_key, a.server_key, roles[u], a.created == a.updated,
        table.concat(keys, ","))
end
"""


def _run_helper(tmp_path, script, **env):
    (tmp_path / "harness.lua").write_text(HELPER_HARNESS)
    (tmp_path / "script").write_text(script)
    return subprocess.run([LUA, str(tmp_path / "harness.lua"), str(tmp_path / "script")],
                          capture_output=True, text=True, env={**os.environ, "REALM": REALM, **env})


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_the_helper_stores_the_derived_credentials_and_enables(tmp_path):
    users = [("é-ü", NASTY), ("bob", "é ü ß"), ("x" * 300, "]]==]")]
    script = accounts.creation_script([(f"{name}@{REALM}", pw, "prosody:member") for name, pw in users])
    result = _run_helper(tmp_path, script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "result\teldwyn-accounts: helper ready"
    assert lines[1] == "result\ttrue\t" + "; ".join(
        f"Created {name}@{REALM} with role 'prosody:member'" for name, _ in users)
    assert lines[2] == "result\teldwyn-accounts: expect 1"
    stored = {bytes.fromhex(fields[1]).decode(): fields[2:] for fields in map(str.split, lines[3:])}
    assert stored.keys() == {name for name, _ in users}
    for name, password in users:
        salt, rounds, stored_key, server_key, *rest = stored[name]
        expected = accounts.scram_credentials(password, salt=salt)
        assert (rounds, stored_key, server_key) == ("10000", expected["stored_key"], expected["server_key"])
        # What mod_auth_internal_hashed's create_user stores: no plaintext, no "disabled" flag.
        assert rest == ["prosody:member", "true", "created,iteration_count,salt,server_key,stored_key,updated"]


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_the_helper_refuses_another_hash_and_undoes_a_failed_write(tmp_path):
    script = accounts.creation_script([(f"a@{REALM}", "pw", "prosody:member"),
                                       (f"b@{REALM}", "pw", "prosody:member")])
    refused = _run_helper(tmp_path, script, HASH="SHA-256").stdout.splitlines()
    assert refused[1] == f"result\tnil\ta@{REALM}: the host's password_hash is not SHA-1"
    assert not [line for line in refused if line.startswith("stored")]
    failed = _run_helper(tmp_path, script, FAIL_SET="a").stdout.splitlines()
    assert failed[1:3] == ["deleted a", f"result\tnil\ta@{REALM}: Could not create user: disk full"]
    assert not [line for line in failed if line.startswith("stored")]


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_the_helper_stops_at_the_first_failure_and_names_what_it_did(tmp_path):
    script = accounts.creation_script([(f"a@{REALM}", "pw", "prosody:member"),
                                       (f"b@other.{REALM}", "pw", "prosody:member"),
                                       (f"c@{REALM}", "pw", "prosody:member")])
    lines = _run_helper(tmp_path, script).stdout.splitlines()
    assert lines[1] == (f"result\tnil\tb@other.{REALM}: No such host: other.{REALM}"
                        f" (done before it: Created a@{REALM} with role 'prosody:member')")
    assert [bytes.fromhex(line.split()[1]).decode() for line in lines if line.startswith("stored")] == ["a"]


def _results(lines):
    return [line for line in lines if line.startswith("result\t")]


def _synchronous(lines):
    return next(int(line.split()[1]) for line in lines if line.startswith("synchronous\t"))


def _writes(lines):
    return [(line.split()[1], line.split()[2], int(line.split()[3])) for line in lines if line.startswith("write\t")]


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_the_helper_commits_all_but_the_last_account_without_fsync_then_restores(tmp_path):
    script = accounts.creation_script([(f"{name}@{REALM}", "pw", "prosody:member") for name in "abc"])
    lines = _run_helper(tmp_path, script, SQL="2").stdout.splitlines()
    assert _results(lines)[1].startswith("result\ttrue\t")
    # a and b at NORMAL (1); c, the last, at FULL (2) again: its fsync of the WAL covers a and b.
    assert _writes(lines) == [("role", "a", 1), ("account", "a", 1), ("role", "b", 1), ("account", "b", 1),
                              ("role", "c", 2), ("account", "c", 2)]
    assert _synchronous(lines) == 2
    assert not [line for line in lines if line.startswith("checkpoint")]  # c's commit made a and b durable
    # One account alone, or a store already at NORMAL or OFF: nothing is changed.
    single = _run_helper(tmp_path, accounts.creation_script([(f"a@{REALM}", "pw", "prosody:member")]), SQL="2")
    assert _writes(single.stdout.splitlines()) == [("role", "a", 2), ("account", "a", 2)]
    for setting in ("1", "0"):
        lines = _run_helper(tmp_path, script, SQL=setting).stdout.splitlines()
        assert {sync for *_, sync in _writes(lines)} == {int(setting)} and _synchronous(lines) == int(setting)


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_the_helper_restores_the_setting_after_a_failure_and_fails_if_it_cannot(tmp_path):
    script = accounts.creation_script([(f"{name}@{REALM}", "pw", "prosody:member") for name in "abc"])
    failed = _run_helper(tmp_path, script, SQL="2", FAIL_SET="b").stdout.splitlines()
    assert _results(failed)[1] == (f"result\tnil\tb@{REALM}: Could not create user: disk full"
                         f" (done before it: Created a@{REALM} with role 'prosody:member')")
    assert _synchronous(failed) == 2
    # No FULL commit came after a's at NORMAL: a checkpoint (at FULL again) makes it durable.
    assert [line for line in failed if line.startswith("checkpoint")] == ["checkpoint\t2"]
    first = _run_helper(tmp_path, script, SQL="2", FAIL_SET="a").stdout.splitlines()
    assert not [line for line in first if line.startswith("checkpoint")]  # nothing was committed
    stuck = _run_helper(tmp_path, script, SQL="2", STUCK="1").stdout.splitlines()
    assert _results(stuck)[1].startswith("result\tnil\tthe store's synchronous setting is not 2 again (done before it: ")
    assert _synchronous(stuck) == 1


@pytest.mark.parametrize("password, problem", [
    ("", "empty"),
    ("a\nb", "not allowed"),  # would also split the script line without quoting
    ("a\x00b", "not allowed"),
    ("😀", "not allowed"),  # unassigned in Unicode 3.2
    ("a\u00adb", "removed"),
    ("a\u00a0b", "plain space"),
    ("e\u0301", "NFKC"),
    ("\u05d0a", "right-to-left"),
])
def test_passwords_prosody_would_refuse_are_refused_before(password, problem):
    with pytest.raises(ValueError) as error:
        accounts.creation_script([(f"a@{REALM}", password, "prosody:member")])
    assert problem in str(error.value)
    if password:
        assert password not in str(error.value)


def test_unknown_role_and_bad_jid_refused():
    with pytest.raises(ValueError, match="unknown role"):
        accounts.creation_script([(f"a@{REALM}", "pw", "prosody:nosuchrole")])
    with pytest.raises(ValueError, match="bare JID"):
        accounts.creation_script([(f"a@{REALM}\nuser:delete('x')", "pw", "prosody:member")])


def test_no_password_on_the_command_line():
    command = accounts.apply_command("/root/.eldwyn/seed")
    assert "/root/.eldwyn/seed" in command and "user:create" not in command


# ---- The apply command, against a fake prosodyctl -------------------------------------------

FAKE_PROSODYCTL = r'''
import os, re, sys
assert sys.argv[1:] == ["shell", "--quiet"], sys.argv
state = os.environ["FAKE_STATE"]
if os.path.exists(state + ".down"):
    print("** Unable to connect to server - is it running? Is mod_admin_shell enabled?")
    print("** Connection error: No such file or directory")
    sys.exit(1)
with open(state + ".env", "w") as f:
    f.write(os.environ.get("LUA_INIT_5_4", ""))
users = set(open(state).read().split()) if os.path.exists(state) else set()
out = sys.stdout
for line in sys.stdin:
    line = line.rstrip("\n")
    out.write("prosody> " + line + "\n")  # what lua-readline does with non-tty stdin
    if os.path.exists(state + ".die"):
        print("--- session closed ---")
        sys.exit(0)
    m = re.match(r'(user:password)\("([^"]+)"', line)
    if line.startswith("> (function() "):  # the helper's definition
        out.write("| Result: eldwyn-accounts: helper ready\n")
    elif line.startswith('> "'):
        out.write("| Result: " + line[3:-1] + "\n")
    elif line.startswith("> eldwyn_create("):
        done = []
        for jid in re.findall(r'\{ "([^"]+)", "prosody:member"', line):
            if jid in users:
                out.write("! Error: %s: User exists (done before it: %s)\n" % (jid, "; ".join(done)))
                break
            users.add(jid)
            done.append("Created %s with role 'prosody:member'" % jid)
        else:
            out.write("| OK: " + "; ".join(done) + "\n")
    elif m:
        out.write("| OK: User password changed\n" if m.group(2) in users else "! Error: No such user\n")
open(state, "w").write("\n".join(users))
out.write("prosody> \n")
sys.exit(0)
'''


@pytest.fixture
def fake(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    prosodyctl = bin_dir / "prosodyctl"
    prosodyctl.write_text(f"#!{sys.executable}\n{FAKE_PROSODYCTL}")
    prosodyctl.chmod(0o755)
    state = tmp_path / "users"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_STATE": str(state)}

    class Fake:
        def users(self):
            return set(state.read_text().split()) if state.exists() else set()

        def set(self, flag):
            (tmp_path / f"users.{flag}").touch()

        def lua_init(self):
            return (tmp_path / "users.env").read_text()

        def apply_file(self, script):
            path = tmp_path / "seed script"  # a space: the path must be quoted
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(descriptor, script.encode())
            os.close(descriptor)
            result = _run(accounts.apply_command(str(path)), env=env)
            assert not path.exists(), "the script file was left behind"
            return result

        def apply_stdin(self, script):
            return _run(accounts.apply_command(), env=env, stdin=script)

    return Fake()


def _secret_free(result, *secrets):
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr


@pytest.mark.parametrize("via", ["apply_file", "apply_stdin"])
def test_creates_and_reports(fake, via):
    script = accounts.creation_script([(f"a@{REALM}", "secret-a", "prosody:member"),
                                       (f"b@{REALM}", NASTY, "prosody:member")])
    result = getattr(fake, via)(script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fake.users() == {f"a@{REALM}", f"b@{REALM}"}
    assert result.stdout.splitlines() == [
        f"prosodyctl shell: | OK: Created a@{REALM} with role 'prosody:member';"
        f" Created b@{REALM} with role 'prosody:member'",
        "eldwyn-accounts: 1 of 1 shell commands done",
    ]
    _secret_free(result, "secret-a", NASTY, "eldwyn_create", "stored_key", "helper ready")
    assert "package.preload.readline" in fake.lua_init()


def test_an_existing_account_fails_the_command(fake):
    assert fake.apply_stdin(accounts.creation_script([(f"a@{REALM}", "one", "prosody:member")])).returncode == 0
    result = fake.apply_file(accounts.creation_script([(f"b@{REALM}", "two", "prosody:member"),
                                                       (f"a@{REALM}", "three", "prosody:member")]))
    assert result.returncode == 1
    assert f"! Error: a@{REALM}: User exists (done before it: Created b@{REALM}" in result.stdout
    assert "FAILED (prosodyctl rc 0, 0 of 1 shell commands done, 1 errors)" in result.stderr
    _secret_free(result, "two", "three")


def test_rotation_of_a_missing_account_fails(fake):
    result = fake.apply_stdin(accounts.set_password_script([(f"ghost@{REALM}", "pw")]))
    assert result.returncode == 1 and "No such user" in result.stdout


def test_server_down_fails_and_removes_the_script(fake):
    fake.set("down")
    result = fake.apply_file(accounts.creation_script([(f"a@{REALM}", "pw-down", "prosody:member")]))
    assert result.returncode == 1
    assert "Unable to connect" in result.stdout
    _secret_free(result, "pw-down")


def test_a_session_cut_short_fails(fake):
    fake.set("die")
    result = fake.apply_file(accounts.creation_script([(f"a@{REALM}", "pw", "prosody:member")]))
    assert result.returncode == 1 and "FAILED" in result.stderr


def test_a_missing_script_fails(fake, tmp_path):
    result = _run(accounts.apply_command(str(tmp_path / "absent")))
    assert result.returncode != 0


def test_empty_script_succeeds(fake):
    result = fake.apply_stdin(accounts.creation_script([]))
    assert result.returncode == 0 and "0 of 0 shell commands done" in result.stdout


@pytest.mark.skipif(LUA is None, reason=SKIP_REASON)
def test_lua_init_hides_readline():
    env = {**os.environ, "LUA_INIT_5_4": accounts.NO_READLINE, "LUA_INIT": accounts.NO_READLINE}
    result = subprocess.run([LUA, "-e", "print(pcall(require, 'readline'))"],
                            capture_output=True, text=True, env=env)
    assert result.stdout.startswith("false"), result.stdout
    assert "readline disabled by eldwyn" in result.stdout

