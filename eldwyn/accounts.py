"""Seed accounts into Prosody's store: which exist, and the one command that creates the rest.

Mechanism (checked against Prosody 13.0.1 from Debian 13, server running):

* What exists is read straight from the SQLite store, read-only: one ``sqlite3`` command
  (``existing_accounts_command``) prints the bare JIDs; nothing and rc 0 before the store exists.
* The missing accounts are created by ONE ``prosodyctl shell`` session fed a script on stdin
  (``creation_script``): a first line defining ``eldwyn_create`` (``_CREATE_HELPER``), then
  ``eldwyn_create(hash, {jid, role, credentials}, ...)`` lines of about 25 accounts each. The
  shell reads non-tty stdin line by line and runs each line after the previous one finished.
  ``eldwyn_create`` does what the shell's ``user:create`` does
  (``usermanager.create_user_with_role``: refuse an existing account untouched, give it its
  role, store it, undo on failure) but derives nothing: the SCRAM credentials are derived here,
  on the operator's machine, in parallel (``scram_credentials``), and stored as they are.
  The PBKDF2 of 10,000 rounds that ``user:create`` runs per account costs 0.155 s under the
  test bed's emulation (155 s for 1,000 accounts); here 1,000 take about 2.5 s. The plaintext
  never reaches the host at all.
  Rotation is the separate ``set_password_script`` (``user:password``, which also ends the
  user's sessions), deletion ``delete_script``.
  2 SSH round trips in all (the query, and the apply command), whatever N.
* Secrets never reach a command line: they travel in the script, which is either uploaded as
  a root-only file (``apply_command(path)``, which removes it whatever happens) or written to the
  command's stdin (``apply_command()``, e.g. pyinfra's ``_stdin``), and are Lua-quoted by
  ``eldwyn.lua.quote`` so any character is safe.
* Traps handled by ``apply_command``: Debian's prosody *recommends* lua-readline, and with it the
  shell echoes every stdin line (secrets included) to stdout and saves them to
  /var/lib/prosody/.shell_history. The command hides the readline module from prosodyctl
  (``LUA_INIT_5_4``), and prints only the shell's own result lines, never anything echoed.
  ``prosodyctl shell`` exits 0 even when commands fail, so success is decided from the output:
  no "! " error line, and as many "| OK: " lines as the script's closing marker announces.

Roles: every seeded account is stored as ``prosody:member`` (what ``prosodyctl shell user create``
gives). Admins are not stored as operators: listing them in the global ``admins`` option makes
them ``prosody:operator`` (mod_authz_internal checks the config first), so removing a JID from
``xmpp_admins`` demotes it on the next deploy instead of leaving a stale operator in the store.
"""

import atexit
import hashlib
import hmac
import os
import shlex
import stringprep
import unicodedata
import uuid

from gevent.threadpool import ThreadPool

from eldwyn import store
from eldwyn.lua import literal, quote

MEMBER_ROLE = "prosody:member"
ADMIN_STORED_ROLE = MEMBER_ROLE  # operator comes from the `admins` option, see above
DATABASE = store.DATABASE

# The closing line of every script: a raw Lua expression whose result the shell prints as
# "| Result: eldwyn-accounts: expect N". It proves the shell got to the end, and N is the number
# of "| OK: " lines a fully successful run prints. Every "| Result: eldwyn-accounts: " line is
# ours, and is not shown.
_RESULT_PREFIX = "eldwyn-accounts:"
_MARKER = f"{_RESULT_PREFIX} expect"
_PROMPT = "prosody> "  # Prosody's default; our config does not set admin_shell_prompt

# Run before prosodyctl's own code by the lua5.4 interpreter: `require "readline"` then fails,
# and the shell falls back to plain io.read (no echo of stdin, no history file).
NO_READLINE = 'package.preload.readline = function() error("readline disabled by eldwyn") end'


def roles_for(config):
    """[(jid, role)] for every account the deploy seeds, admins first."""
    return [(jid, ADMIN_STORED_ROLE) for jid in config.admins] + [
        (jid, MEMBER_ROLE) for jid in config.accounts
    ]


def _sql_string(text):
    return "'" + text.replace("'", "''") + "'"


def existing_accounts_command(realm, database=DATABASE):
    """One shell command printing the realm's existing accounts, one bare JID a line.

    Reads the SQLite store read-only; prints nothing (rc 0) if the file or Prosody's table does
    not exist yet. Waits up to 10 s if Prosody holds a write lock.
    """
    db = shlex.quote(database)
    table_query = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'prosody';"
    accounts_query = (
        "SELECT DISTINCT user || '@' || host FROM prosody"
        f" WHERE store = 'accounts' AND host = {_sql_string(realm)} ORDER BY 1;"
    )
    sqlite = f"sqlite3 -readonly -batch -noheader -cmd '.timeout 10000' {db}"
    return (
        f"if [ -e {db} ]; then"
        f" t=$({sqlite} {shlex.quote(table_query)}) || exit 1;"
        f' if [ "$t" = 1 ]; then {sqlite} {shlex.quote(accounts_query)}; fi;'
        " fi"
    )


def parse_existing_accounts(output):
    """The set of bare JIDs in ``existing_accounts_command``'s output."""
    accounts = set()
    for line in output.splitlines():
        line = line.strip()
        if not line:
            continue
        if "@" not in line:
            raise ValueError(f"unexpected line in the account list: {line!r}")
        accounts.add(line)
    return accounts


def missing_accounts(config, existing):
    """[(jid, role)] of the seeded accounts not in ``existing`` (a set of bare JIDs)."""
    return [(jid, role) for jid, role in roles_for(config) if jid not in existing]


def _script(lines, prelude=()):
    """``prelude`` (lines that print only "| Result: eldwyn-accounts: ..."), then ``lines``, each
    of which must print one "| OK: " line, then the closing marker."""
    body = "".join(line + "\n" for line in [*prelude, *lines])
    return body + f"> {quote(f'{_MARKER} {len(lines)}')}\n"


def _check_jid(jid):
    # A JID with a line break would split the shell command; config.py refuses these anyway.
    if not isinstance(jid, str) or "@" not in jid or any(c in jid for c in "\r\n"):
        raise ValueError(f"not a bare JID: {jid!r}")


_PROHIBITED = (
    stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
    stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
    stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
    stringprep.in_table_a1,  # unassigned in Unicode 3.2: prohibited in stored strings
)


def password_problem(password):
    """Why Prosody would refuse ``password`` (RFC 4013 SASLprep), or None. Never quotes it.

    Prosody creates the account *before* it sets the password, so a refused password leaves
    an account without one that the next deploy would then take as existing: refuse it here.
    Passwords that SASLprep would change (odd spaces, soft hyphens, non-NFKC forms) are refused
    too, so that every client computes the same SCRAM key from the stored secret.
    """
    if not isinstance(password, str):
        return f"not text but {type(password).__name__}"
    if not password:
        return "empty"
    for index, char in enumerate(password):
        where = f"character {index + 1} (U+{ord(char):04X})"
        if stringprep.in_table_b1(char):
            return f"{where} would be removed by SASLprep"
        if stringprep.in_table_c12(char):
            return f"{where} would be changed into a plain space by SASLprep"
        if any(table(char) for table in _PROHIBITED):
            return f"{where} is not allowed by SASLprep"
    if unicodedata.normalize("NFKC", password) != password:
        return "not in Unicode NFKC form (SASLprep would change it)"
    rand_al = [stringprep.in_table_d1(char) for char in password]
    if any(rand_al) and (
        any(stringprep.in_table_d2(char) for char in password) or not (rand_al[0] and rand_al[-1])
    ):
        return "breaks SASLprep's right-to-left text rules"
    return None


def _check_password(jid, password):
    problem = password_problem(password)
    if problem:
        raise ValueError(f"password of {jid}: {problem}")  # the value itself is never shown


KNOWN_ROLES = frozenset({
    "prosody:guest", "prosody:registered", "prosody:member", "prosody:admin", "prosody:operator",
})


# What mod_auth_internal_hashed derives from a password, as its config leaves it (Prosody 13.0.1,
# checked in its source): option password_hash = "SHA-1", default_iteration_count = 10000.
# eldwyn_create refuses to store credentials if the live server is configured otherwise.
SCRAM_HASH = "SHA-1"
SCRAM_ITERATIONS = 10000


def scram_credentials(password, salt=None, iterations=SCRAM_ITERATIONS):
    """What Prosody stores for ``password`` (RFC 5802 with SHA-1): salt, iteration count, and the
    hex StoredKey and ServerKey; never the password. ``salt``: str (as Prosody makes them, a
    random UUID) or bytes; a new random one by default.

    The password is used as it is: ``password_problem`` refuses every password SASLprep would
    change, so no client computes anything else from it.
    """
    salt = str(uuid.uuid4()) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"),
                                 salt.encode("utf-8") if isinstance(salt, str) else salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha1")
    return {
        "salt": salt,
        "iteration_count": iterations,
        "stored_key": hashlib.sha1(client_key).hexdigest(),
        "server_key": hmac.digest(salted, b"Server Key", "sha1").hex(),
    }


def _pool():
    # hashlib's PBKDF2 releases the GIL: threads use every core. gevent's pool, because pyinfra
    # monkey-patches threading, and concurrent.futures' threads would then be greenlets taking
    # turns on one core (measured under pyinfra: 4.9 s for 1,000 passwords, 2.5 s with this).
    return ThreadPool(os.cpu_count() or 1)


class Derivation:
    """SCRAM credentials being derived in the background, on this machine's cores, while the
    deploy waits for the host (its facts command: 3 s, as long as 1,000 derivations).

    ``passwords``: {key: password}, keyed by jid (or by any key: _scram_credentials_of uses
    positions). ``creation_script`` takes what it needs from here, for the same jid and password;
    anything else is derived then. ``close`` drops what was not taken:
    derivations not started are skipped, so it waits at most for one per core."""

    def __init__(self, passwords):
        self._passwords, self._derived, self._closed = dict(passwords), None, False
        items = list(self._passwords.items())
        workers = min(os.cpu_count() or 1, len(items))
        self._pool = _pool() if items else None
        # One task per core, each a slice: spawning more than the pool has threads would block
        # here until the first ones finish.
        self._results = [self._pool.spawn(self._derive, items[index::workers]) for index in range(workers)]
        if items:  # a deploy that stops before it takes them (a refused OS, a failed install)
            atexit.register(self.close)

    def _derive(self, items):
        derived = {}
        for jid, password in items:
            if self._closed:
                break  # dropped: skip the rest
            derived[jid] = scram_credentials(password)
        return derived

    def proposed(self, jid):
        """The password the keys of ``jid`` are being derived from, or None."""
        return self._passwords.get(jid)

    def take(self, jid, password):
        """The credentials derived for ``jid`` if it was given ``password``, else None."""
        if self._closed or self._passwords.get(jid) != password:
            return None
        if self._derived is None:  # waits for them all: they were started together
            self._derived = {}
            for result in self._results:
                self._derived.update(result.get())
        return self._derived.pop(jid, None)

    def close(self):
        atexit.unregister(self.close)
        self._closed = True
        if self._pool:
            self._pool.kill()
        self._pool, self._results, self._derived = None, [], {}


NOTHING_DERIVED = Derivation({})


def _scram_credentials_of(accounts, derived=NOTHING_DERIVED):
    """The credentials of each (jid, password) of ``accounts``: from ``derived``, or derived now
    (in parallel, by a Derivation of the rest)."""
    taken = [derived.take(jid, password) for jid, password in accounts]
    # Keyed by position, not jid: the same account twice gets two derivations, as it did.
    rest = Derivation({index: password for index, ((_, password), credentials) in enumerate(zip(accounts, taken))
                       if credentials is None})
    try:
        return [credentials or rest.take(index, password)
                for index, ((_, password), credentials) in enumerate(zip(accounts, taken))]
    finally:
        rest.close()


# The first line of a creation script: defines eldwyn_create(hash, {jid, role, credentials}, ...)
# in the shell session's global environment, which lasts for the session. Line breaks are
# removed (the shell reads a line per command), so no "--" comments inside.
# For each account in turn it does what usermanager's create_user_with_role does, in 2 writes
# instead of 4 (each write is a SQLite transaction, the bulk of the cost): the role first (so an
# account never exists without it), then the whole account record at once, as
# mod_auth_internal_hashed's create_user writes it, but with credentials derived here. Any
# failure deletes that account and all Prosody keeps for it, as create_user_with_role does, and
# stops the call. It first checks that the host uses that provider with that hash and at most
# that many iterations.
# Durability, and its cost: on the deployed store (WAL, synchronous=FULL) every commit fsyncs
# the WAL, 3.1 ms of the 4.2 ms an account record costs under emulation (measured: 300 records
# in 1.27 s, and in 0.34 s with synchronous=NORMAL). So one call writes all its accounts but the
# last with Prosody's connection at synchronous=NORMAL (commits appended to the WAL, not yet
# fsynced), sets it back, then writes the last account: that commit's fsync of the WAL makes
# every frame before it durable too. When a call prints OK, all its accounts are on disk, as
# before. Prosody runs one thread and these SQLite calls do not yield, so no other write (no
# client's message) is committed while the setting is lowered. The setting is restored whatever
# happens, and the call fails if it is not what it was. A call that fails after committing some
# accounts at NORMAL had no FULL commit after them: it ends with a checkpoint, which fsyncs the
# WAL they are in. (Prosody's one SQLite engine is found through mod_storage_sql's shared table
# of connections; on any other store nothing is changed. The helper is sent as one line: no Lua
# comments in it.)
_CREATE_HELPER = """
(function()
  local um = require "prosody.core.usermanager";
  local storagemanager = require "prosody.core.storagemanager";
  local configmanager = require "prosody.core.configmanager";
  local jid_split = require "prosody.util.jid".split;
  local log = require "prosody.util.logger".init("eldwyn-accounts");
  local function create(hash, jid, role, credentials)
    local username, host = jid_split(jid);
    local provider = host and prosody.hosts[host] and prosody.hosts[host].users;
    if not provider then return nil, "No such host: " .. tostring(host); end
    if provider.name ~= "internal_hashed" then
      return nil, "the authentication provider is " .. tostring(provider.name) .. ", not internal_hashed";
    end
    if (configmanager.get(host, "password_hash") or "SHA-1") ~= hash then
      return nil, "the host's password_hash is not " .. hash;
    end
    if credentials.iteration_count < (configmanager.get(host, "default_iteration_count") or 10000) then
      return nil, "the host's default_iteration_count is above " .. credentials.iteration_count;
    end
    if um.user_exists(username, host) then return nil, "User exists"; end
    local ok, err = um.set_user_role(username, host, role);
    if ok then
      local now = os.time();
      credentials.created, credentials.updated = now, now;
      ok, err = storagemanager.open(host, "accounts"):set(username, credentials);
    end
    if not ok then
      um.delete_user(username, host);
      return nil, "Could not create user: " .. tostring(err);
    end
    log("info", "User account created: %s@%s", username, host);
    return true;
  end
  local function sql_engine(host)
    local modules = prosody.hosts[host] and prosody.hosts[host].modules;
    local sql = modules and modules.storage_sql;
    if not (sql and sql.module) then return nil; end
    local uri, engine = next(sql.module:shared("/*/sql/connections"));
    if engine and engine.params and engine.params.driver == "SQLite3" then return engine; end
  end;
  local function synchronous(engine)
    for row in engine:select("PRAGMA synchronous") do return tonumber(row[1]); end
  end;
  eldwyn_create = function(hash, ...)
    local accounts, done, failure = {...}, {};
    local engine = accounts[1] and sql_engine(select(2, jid_split(accounts[1][1])));
    local before = engine and synchronous(engine);
    local relaxed, lowered = false, false;
    local function restore()
      if relaxed then engine:execute("PRAGMA synchronous=" .. before); relaxed = false; end
    end;
    if before and before >= 2 and #accounts > 1 then
      engine:execute("PRAGMA synchronous=NORMAL");
      relaxed = synchronous(engine) == 1;
      lowered = relaxed;
    end
    local ok, thrown = pcall(function()
      for i, account in ipairs(accounts) do
        if i == #accounts then restore(); end
        local created, err = create(hash, account[1], account[2], account[3]);
        if not created then failure = account[1] .. ": " .. tostring(err); return; end
        done[#done + 1] = ("Created %s with role '%s'"):format(account[1], account[2]);
      end
    end);
    restore();
    if not ok then failure = "failed: " .. tostring(thrown); end
    if failure and lowered and #done > 0 then
      for _ in engine:select("PRAGMA wal_checkpoint(PASSIVE)") do end
    end
    if before and synchronous(engine) ~= before then
      failure = (failure and failure .. "; " or "") .. "the store's synchronous setting is not " .. before .. " again";
    end
    if failure then
      return nil, failure .. (#done > 0 and (" (done before it: " .. table.concat(done, "; ") .. ")") or "");
    end
    return true, table.concat(done, "; ");
  end;
  return "__READY__";
end)()
"""

# The shell sends each line to the server as the text of one XML element, and the server closes
# the session on an element over 10,000 bytes (util.xmppstream's minimum stanza size limit;
# measured: a line of 19,213 bytes is refused). One line creates as many accounts as fit in
# this many bytes once XML-escaped: about 25. One line per account would cost 10 ms more per
# account under emulation (the shell's round trip and the line's compilation).
_LINE_BUDGET = 8000


def _xml_length(text):
    return len(text.encode("utf-8")) + sum(
        {"&": 4, "<": 3, ">": 3, '"': 5, "'": 5}.get(char, 0) for char in text)


def _batched_calls(function, first, arguments):
    """``> function(first, a1, a2, ...)`` lines holding every item of ``arguments``, each line
    within _LINE_BUDGET (a single argument too long for it gets a line of its own)."""
    lines, batch = [], []
    for argument in arguments:
        candidate = f"> {function}({', '.join([first, *batch, argument])})"
        if batch and _xml_length(candidate) > _LINE_BUDGET:
            lines.append(f"> {function}({', '.join([first, *batch])})")
            batch = []
        batch.append(argument)
    if batch:
        lines.append(f"> {function}({', '.join([first, *batch])})")
    return lines


def creation_script(accounts, derived=NOTHING_DERIVED):
    """The shell script (stdin payload) creating exactly ``accounts``: [(jid, password, role)].
    ``derived``: a Derivation already under way for some of them.

    Every input is checked before any key is derived. Pass only missing accounts: an existing
    one is refused by Prosody, untouched, and makes the apply command fail (the store changed
    since it was read). Each script line creates up to about 25 accounts and prints one
    "| OK: Created <jid> with role '<role>'; ..." line, or one "! Error: <jid>: <why>" line
    naming those created before it on that line.
    """
    for jid, password, role in accounts:
        _check_jid(jid)
        _check_password(jid, password)
        if role not in KNOWN_ROLES:
            # Prosody 13.0.1 throws *after* creating the account: it would stay, passwordless.
            raise ValueError(f"{jid}: unknown role {role!r}; expected one of {sorted(KNOWN_ROLES)}")
    credentials = _scram_credentials_of([(jid, password) for jid, password, _ in accounts], derived)
    arguments = [f"{{ {quote(jid)}, {quote(role)}, {literal(account_credentials)} }}"
                 for (jid, _, role), account_credentials in zip(accounts, credentials)]
    helper = " ".join(line.strip() for line in _CREATE_HELPER.strip().splitlines())
    return _script(_batched_calls("eldwyn_create", quote(SCRAM_HASH), arguments),
                   prelude=["> " + helper.replace("__READY__", f"{_RESULT_PREFIX} helper ready")])


def set_password_script(accounts):
    """The shell script setting new passwords for existing accounts: [(jid, password)].

    For explicit rotation only; a missing account fails ("No such user").
    """
    lines = []
    for jid, password in accounts:
        _check_jid(jid)
        _check_password(jid, password)
        lines.append(f"user:password({quote(jid)}, {quote(password)})")
    return _script(lines)


def delete_script(jids):
    """The shell script deleting the accounts ``jids`` and all Prosody keeps for them."""
    for jid in jids:
        _check_jid(jid)
    return _script([f"user:delete({quote(jid)})" for jid in jids])


_APPLY = r"""
f=__PATH__
if [ -n "$f" ]; then
  trap 'rm -f -- "$f"' EXIT
  trap 'exit 129' HUP INT TERM
  exec 3<"$f" || exit 1
  rm -f -- "$f"
else
  exec 3<&0
fi
out=$(LUA_INIT_5_4='__NO_READLINE__' prosodyctl shell --quiet <&3 2>&1)
rc=$?
exec 3<&-
out=$(printf '%s\n' "$out" | sed -e 's/^\(__PROMPT__\)*//' | grep -E '^([|!] |\*\* )')
expected=$(printf '%s\n' "$out" | sed -n 's/^| Result: __MARKER__ \([0-9][0-9]*\)$/\1/p')
ok=$(printf '%s\n' "$out" | grep -c '^| OK: ')
failed=$(printf '%s\n' "$out" | grep -c -E '^(! |\*\* )')
printf '%s\n' "$out" | grep -v '^| Result: __RESULT_PREFIX__ ' | sed -e 's/^/prosodyctl shell: /'
if [ "$rc" -ne 0 ] || [ -z "$expected" ] || [ "$failed" -ne 0 ] || [ "$ok" -ne "$expected" ]; then
  echo "eldwyn-accounts: FAILED (prosodyctl rc $rc, $ok of ${expected:-?} shell commands done, $failed errors)" >&2
  exit 1
fi
echo "eldwyn-accounts: $ok of $expected shell commands done"
"""


def apply_command(script_path=None):
    """The one remote command that runs a script of this module through ``prosodyctl shell``.

    ``script_path``: the uploaded script (root-only, 0600); it is opened, then removed at once,
    and removed on any exit too. Without a path the script is read from the command's stdin
    (pyinfra: ``server.shell(commands=[apply_command()], _stdin=script)``), so it never touches
    the disk. Exits non-zero unless every line of the script succeeded. Prints only the shell's
    result lines ("| OK: Created alice@... with role 'prosody:member'", "! Error: ..."), never
    the script's own text.
    """
    script = (
        _APPLY.replace("__PATH__", shlex.quote(script_path or ""))
        .replace("__NO_READLINE__", NO_READLINE)
        .replace("__PROMPT__", _PROMPT)
        .replace("__MARKER__", _MARKER)
        .replace("__RESULT_PREFIX__", _RESULT_PREFIX)
    )
    return "sh -c " + shlex.quote(script.strip() + "\n")
