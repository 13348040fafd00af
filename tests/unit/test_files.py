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
