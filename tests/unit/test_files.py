"""Several files travel as one archive: each keeps its content, owner, mode and destination."""

import io
import tarfile

from eldwyn.files import ManagedFile, _archive, staged


def test_an_archive_holds_each_file_at_its_destination_with_owner_and_mode():
    wanted = [ManagedFile("/etc/prosody/a.cfg.lua", b"one", "root", "prosody", "640"),
              ManagedFile("/var/lib/prosody/b.key", b"\x00secret", "root", "prosody", "600", secret=True)]
    with tarfile.open(fileobj=io.BytesIO(_archive(wanted, staged))) as tar:
        members = {info.name: info for info in tar}
        assert sorted(members) == ["var/lib/eldwyn-xmpp/staging/etc/prosody/a.cfg.lua",
                                   "var/lib/eldwyn-xmpp/staging/var/lib/prosody/b.key"]
        key = members["var/lib/eldwyn-xmpp/staging/var/lib/prosody/b.key"]
        assert (key.uname, key.gname, oct(key.mode)) == ("root", "prosody", "0o600")
        assert tar.extractfile(key).read() == b"\x00secret"


def test_files_travel_on_the_stdin_of_the_one_command_that_unpacks_them(monkeypatch, tmp_path):
    import base64
    import subprocess

    from eldwyn import files

    made = []
    monkeypatch.setattr(files.server, "shell", lambda **kwargs: made.append(kwargs) or "op")
    monkeypatch.setattr(files.files, "put", lambda **kwargs: made.append(kwargs))
    wanted = [ManagedFile("/etc/a", b"one"), ManagedFile("/etc/sub/b", b"\x00two", mode="600", secret=True)]
    assert files.upload(wanted, "Thing") == ["op", "op"]
    assert len(made) == 1 and made[0]["name"] == "Thing: 2 files (/etc/a, /etc/sub/b)"
    assert made[0]["commands"] == ["base64 -d | tar -xzpf - --same-owner --no-overwrite-dir -C /"]
    # the same bytes, unpacked by the same tar command (into a scratch root here)
    command = made[0]["commands"][0].replace("-C /", f"-C {tmp_path}").replace(" --same-owner", "")
    subprocess.run(["sh", "-c", command], input=made[0]["_stdin"].encode(), check=True)
    assert (tmp_path / "etc/a").read_bytes() == b"one" and (tmp_path / "etc/sub/b").read_bytes() == b"\x00two"
    assert oct((tmp_path / "etc/sub/b").stat().st_mode & 0o777) == "0o600"
    assert base64.b64decode(made[0]["_stdin"])[:2] == b"\x1f\x8b"  # gzipped
    assert files.upload([], "Nothing") == []
