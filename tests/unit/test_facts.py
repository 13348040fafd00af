"""The batched FileStates fact, parsed from what stat and sha256sum really print."""

import hashlib
import subprocess

from eldwyn.facts import FileStates


def run_locally(paths):
    fact = FileStates()
    output = subprocess.run(["sh", "-c", fact.command(paths)], capture_output=True, text=True, check=True).stdout
    lines = output.splitlines()
    return fact.process(lines) if lines else fact.default()


def test_fresh_host_has_nothing(tmp_path):
    assert run_locally([str(tmp_path / "missing"), str(tmp_path / "also missing")]) == {}


def test_files_links_and_missing_paths_in_one_command(tmp_path):
    regular, empty, link = tmp_path / "rules.v4", tmp_path / "empty", tmp_path / "link"
    regular.write_bytes(b"*filter\nCOMMIT\n")
    regular.chmod(0o640)
    empty.write_bytes(b"")
    link.symlink_to("../conf.avail/realm.cfg.lua")
    states = run_locally([str(regular), str(empty), str(link), str(tmp_path / "gone")])
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    assert states[str(regular)] == {"sha256": hashlib.sha256(b"*filter\nCOMMIT\n").hexdigest(),
                                    "user": user, "group": group, "mode": "640"}
    assert states[str(empty)]["sha256"] == hashlib.sha256(b"").hexdigest()
    assert states[str(link)] == {"link": "../conf.avail/realm.cfg.lua"}
    assert set(states) == {str(regular), str(empty), str(link)}
