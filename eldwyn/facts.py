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


class Accounts(FactBase):
    """The bare JIDs of ``realm``'s accounts in Prosody's store, read-only (eldwyn.accounts);
    empty before the store exists. (The operator tasks'; a deploy reads them with ProsodyStore.)"""

    @staticmethod
    def default():
        return set()

    def command(self, realm):
        return existing_accounts_command(realm)

    def process(self, output):
        return parse_existing_accounts("\n".join(output))


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


class ServiceStates(FactBase):
    """{unit: {"active": ActiveState, "enabled": UnitFileState}} for the systemd units given
    (full names: "prosody.service"), in one ``systemctl show``. A unit that is not installed is
    "inactive" with an empty UnitFileState."""

    @staticmethod
    def default():
        return {}

    def command(self, units):
        return "systemctl show -p Id -p ActiveState -p UnitFileState " + " ".join(shlex.quote(u) for u in units)

    def process(self, output):
        states, current = {}, {}
        for line in [*output, ""]:
            if not line.strip():
                if "Id" in current:
                    states[current["Id"]] = {"active": current.get("ActiveState", ""),
                                             "enabled": current.get("UnitFileState", "")}
                current = {}
                continue
            key, _, value = line.partition("=")
            current[key] = value
        return states


class Batch(FactBase):
    """Several facts in ONE round trip: {key: that fact's result} for ``facts``, a tuple of
    (key, FactClass, {its arguments}). Each fact's command runs in its own subshell between marker
    lines, its output goes to its own process(), an empty output gives its default(). A fact that
    needs a missing program (requires_command) gives its default; one that fails stops the run,
    naming it. A round trip costs about 0.5 s on the emulated test bed, and the deploy used to ask
    five of them before its first operation (README, Benchmarks)."""

    MARK = "@@eldwyn-fact@@"

    @staticmethod
    def default():
        return {}

    def command(self, facts):
        self.facts = facts  # pyinfra calls command() and process() on the same instance
        parts = []
        for key, cls, kwargs in facts:
            fact = cls()
            command = str(fact.command(**kwargs))
            needs = fact.requires_command(**kwargs)
            if needs:
                command = f"if command -v {shlex.quote(str(needs))} >/dev/null 2>&1; then {command}; fi"
            parts.append(f"echo '{self.MARK} {key}'; ( {command} ); echo \"{self.MARK} rc $?\"")
        return "; ".join(parts)

    def process(self, output):
        outputs, rcs, key = {}, {}, None
        for line in output:
            if line.startswith(self.MARK + " "):
                word = line[len(self.MARK) + 1:]
                if word.startswith("rc ") and key is not None:
                    rcs[key] = int(word[3:])
                else:
                    key = word
                    outputs[key] = []
            elif key is not None:
                outputs[key].append(line)
        results = {}
        for key, cls, _ in self.facts:
            if rcs.get(key) != 0:
                raise RuntimeError(f"fact {key} ({cls.__name__}) failed on the host (exit status {rcs.get(key)}):"
                                   f" {' / '.join(outputs.get(key, [])[-3:])}")
            results[key] = cls().process(outputs[key]) if outputs[key] else cls.default()
        return results
