"""Custom pyinfra facts: each asks the host one question, for many things, in one round trip."""

import shlex

from pyinfra.api import FactBase

from eldwyn.accounts import existing_accounts_command, parse_existing_accounts
from eldwyn.acme import lineages_command, parse_lineages
from eldwyn.store import journal_mode_command, parse_journal_mode


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


class ProsodyStore(FactBase):
    """Prosody's SQLite store, read-only: {"journal": "wal" | "rollback" | "unknown" | None
    (no store yet), "accounts": the bare JIDs of ``realm``'s accounts (eldwyn.accounts)}."""

    @staticmethod
    def default():
        return {"journal": None, "accounts": set()}

    def command(self, realm):
        return f"{journal_mode_command()}; {existing_accounts_command(realm)}"

    def process(self, output):
        journal = [line for line in output if line.startswith("journal ")]
        accounts = [line for line in output if not line.startswith("journal ")]
        return {"journal": parse_journal_mode(journal[0]) if journal else None,
                "accounts": parse_existing_accounts("\n".join(accounts))}


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
