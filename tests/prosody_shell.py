"""Raw Lua in the VM's running Prosody, as a test asks it what only Prosody knows: one of
prosodyctl shell's '>' lines, fed on stdin, with readline hidden as the deploy does (else the
shell writes /var/lib/prosody/.shell_history)."""

import shlex

from eldwyn.accounts import NO_READLINE


def prosody_lua(vm, lua):
    """The shell's output for the Lua statement(s) ``lua`` (vm: the testinfra host, root)."""
    return vm.check_output(f"printf '%s\\n' {shlex.quote('> ' + lua)}"
                           f" | LUA_INIT_5_4={shlex.quote(NO_READLINE)} prosodyctl shell")
