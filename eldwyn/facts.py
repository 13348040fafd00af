"""Custom pyinfra facts: each asks the host one question, for many things, in one round trip."""

import shlex

from pyinfra.api import FactBase

from eldwyn.accounts import existing_accounts_command, parse_existing_accounts
from eldwyn.acme import lineages_command, parse_lineages


class FileStates(FactBase):
    """What is at each path: {path: {"sha256", "user", "group", "mode"}} for a regular file,
    {path: {"link": target}} for a symlink; nothing for a missing path.

    Two processes for any number of paths (one stat, one sha256sum): forks are what cost time
    on a slow host, not bytes."""

    @staticmethod
    def default():
        return {}  # a fresh host prints nothing: pyinfra then skips process()

    def command(self, paths):
        quoted = " ".join(shlex.quote(path) for path in paths)
        return (f"stat -c 'stat|%n|%F|%U|%G|%a|%N' {quoted} 2>/dev/null; "
                f"sha256sum {quoted} 2>/dev/null; true")

    def process(self, output):
        states, hashes = {}, {}
        for line in output:
            if line.startswith("stat|"):
                _, path, kind, user, group, mode, described = line.split("|", 6)
                if kind == "symbolic link":  # %N is "'path' -> 'target'"
                    states[path] = {"link": described.split(" -> ", 1)[1].strip("'\"")}
                elif kind.startswith("regular"):  # "regular file" or "regular empty file"
                    states[path] = {"user": user, "group": group, "mode": mode}
            else:
                sha256, path = line.split(None, 1)
                hashes[path.lstrip("*")] = sha256
        for path, state in states.items():
            if "link" not in state:
                state["sha256"] = hashes.get(path)
        return states


class Accounts(FactBase):
    """The bare JIDs of ``realm``'s accounts in Prosody's store, read-only (eldwyn.accounts);
    empty before the store exists."""

    @staticmethod
    def default():
        return set()

    def command(self, realm):
        return existing_accounts_command(realm)

    def process(self, output):
        return parse_existing_accounts("\n".join(output))


class AcmeLineages(FactBase):
    """{name: eldwyn.acme.Lineage} for the ACME names given (their Certificates): certbot's
    lineage, if any, and whether what the service reads now is still good. Read-only."""

    @staticmethod
    def default():
        return {}

    def command(self, certificates):
        return lineages_command(certificates)

    def process(self, output):
        return parse_lineages(output)
