"""What the operator's everyday commands (operator_tasks/) share: their input from ``--data``,
how they talk to Prosody's shell, and how they print.

Input comes from pyinfra's ``--data key=value`` (``user``, ``password``) and is checked before
anything runs on the host. A password is never given on the command line (it would sit in the
shell's history and in ``ps``): it is generated into the secrets store, or typed at a prompt
that does not echo, and it travels to the host only on stdin (see eldwyn.accounts).
"""

import getpass
import shlex
import sys
from secrets import token_urlsafe

from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import server

from eldwyn import accounts, prosody
from eldwyn.config import ConfigError, account_jid
from eldwyn.secrets import account_password_name

PASSWORD_SOURCES = ("generate", "prompt")


class TaskInputError(DeployError):
    """Bad ``--data`` for an operator task: nothing was done on any host."""


def say(host, text):
    """Prints ``text`` for the operator, each line marked with the host's name."""
    for line in str(text).splitlines() or [""]:
        print(f"[{host.name}] {line}", flush=True)


def account_from_data(host, config, key="user"):
    """The account named by ``--data user=NAME`` (or NAME@realm), as a bare JID."""
    value = host.data.get(key)
    if value is None:
        raise TaskInputError(f"{key}: missing; name the account with --data {key}=NAME (or NAME@{config.realm})")
    try:
        return account_jid(value, key, config.realm)
    except ConfigError as error:
        raise TaskInputError(str(error)) from None


def password_source(host):
    """``--data password=``: "generate" (the default) or "prompt"; checked before anything runs."""
    source = host.data.get("password", "generate")
    if source not in PASSWORD_SOURCES:
        # Never repeat the value: it may be a password someone typed on the command line.
        raise TaskInputError(f"password: must be one of {', '.join(PASSWORD_SOURCES)}; a password is"
                             " never given on the command line (use password=prompt)")
    return source


def new_password(host, jid, ask=getpass.getpass):
    """A new password for ``jid``: generated (``--data password=generate``, the default) or typed
    twice at a prompt that does not echo (``--data password=prompt``)."""
    source = password_source(host)
    if source == "generate":
        return token_urlsafe(18)
    if not sys.stdin.isatty():
        raise TaskInputError("password=prompt needs a terminal")
    password = ask(f"New password for {jid}: ")
    if ask("The same password again: ") != password:
        raise TaskInputError("the two passwords differ; nothing was changed")
    problem = accounts.password_problem(password)
    if problem:
        raise TaskInputError(f"that password cannot be used: {problem}; nothing was changed")
    return password


# The shell talks to the running server through its socket, which a restart may just have
# recreated: wait for it (up to a minute) rather than fail.
WAIT_FOR_SOCKET = f"for i in $(seq 120); do [ -S {prosody.DATA_DIR}/prosody.sock ] && break; sleep 0.5; done"


def prosody_shell(name, script):
    """The operation running ``script`` (from eldwyn.accounts) in one ``prosodyctl shell``
    session, fed on stdin; it fails unless every line succeeded."""
    return server.shell(name=name, commands=[f"{WAIT_FOR_SOCKET}; {accounts.apply_command()}"], _stdin=script)


def run_on_host(state, host, command):
    """Runs ``command`` on ``host`` now (inside a python.call callback), as its operations run
    (sudo and the rest from its data); returns its output lines, or raises DeployError."""
    arguments, _ = pop_global_arguments(state, host, {})
    connector = {key: value for key, value in arguments.items() if key in CONNECTOR_ARGUMENT_KEYS}
    ok, output = host.run_shell_command(command, **connector)
    if not ok:
        raise DeployError(f"{host.name}: failed on the host: {'; '.join(output.stderr_lines[-5:]) or 'no message'}")
    return output.stdout_lines


def pull_snapshot(state, host, script, archive):
    """Runs a snapshot ``script`` (eldwyn.backup.snapshot_script) on ``host`` and downloads the
    archive it prints to ``archive`` here; the host's copy is removed whatever happens."""
    remote = run_on_host(state, host, script)[-1].strip()
    try:
        # The snapshot belongs to the login user (mode 0600): fetched over SFTP without sudo,
        # which would make a world-readable copy of it in /tmp first.
        if not host.get_file(remote, str(archive), _sudo=False):
            raise DeployError(f"{host.name}: could not download {remote}")
    finally:
        run_on_host(state, host, f"rm -rf -- {shlex.quote(remote.rsplit('/', 1)[0])}")


def remembering_password(store, jid, password):
    """A function for python.call that keeps ``password`` as the account's secret, to run once
    Prosody took it. (A closure: python.call's arguments would show in pyinfra's debug output.)"""
    def remember_password():
        store.put(account_password_name(jid), password, replace=True)
        print(f"The password of {jid} is in {store.path(account_password_name(jid))}", flush=True)
    return remember_password


def forget_password(store, jid):
    store.remove(account_password_name(jid))
