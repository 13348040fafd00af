"""Prosody's SQLite store in WAL mode (eldwyn/store.py says why, and how it was measured).

Set once: on a fresh host the store is created empty in WAL mode before Prosody's first start;
a store brought in by this run's restore (a backup or an adopted 0.12 store, in the rollback
mode) is switched after it. A store already in WAL mode costs nothing: its mode is read with the
account list, in the same round trip (eldwyn.facts.ProsodyStore).
"""

from pyinfra.operations import server

from eldwyn import store


def journal(store_state, restored):
    """``store_state``: the ProsodyStore fact; ``restored``: this run's tasks.restore.Restore."""
    if store_state["journal"] == store.JOURNAL_MODE and not restored.operations:
        return ()
    return (server.shell(name="Prosody's store in WAL mode" + ("" if store_state["journal"] else " (created empty)"),
                         commands=[store.wal_command()]),)
