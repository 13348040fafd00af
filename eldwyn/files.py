"""Files the deploy owns on the host: compared through one batched fact, uploaded only when they
differ, and, where a bad file must never go live, checked in a staging area first."""

import base64
import gzip
import hashlib
import io
import shlex
import tarfile
import time
from dataclasses import dataclass

from pyinfra.operations import files, server

# Candidate files wait here (same owner and mode as live) until their check passes.
STAGING_ROOT = "/var/lib/eldwyn-xmpp/staging"


@dataclass(frozen=True)
class ManagedFile:
    path: str
    content: bytes
    user: str = "root"
    group: str = "root"
    mode: str = "644"
    secret: bool = False  # a private key: documentation only, files.put never prints content

    @property
    def sha256(self):
        return hashlib.sha256(self.content).hexdigest()

    @property
    def state(self):
        """What FileStates reports for this file once it is in place."""
        return {"sha256": self.sha256, "user": self.user, "group": self.group, "mode": self.mode}


def staged(path):
    return STAGING_ROOT + path


def differing(states, wanted):
    """The files of ``wanted`` whose content, owner or mode differ from ``states`` (FileStates)."""
    return [file for file in wanted if states.get(file.path) != file.state]


# Archives of several files wait here (root-only) between their upload and their unpacking.
ARCHIVE_DIR = "/var/lib/eldwyn-xmpp/uploads"


def _archive(wanted, destination):
    """A tar of ``wanted`` at their destinations, with their owners and modes."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in wanted:
            info = tarfile.TarInfo(destination(file.path).lstrip("/"))
            info.size, info.mode, info.mtime = len(file.content), int(file.mode, 8), now
            info.uname, info.gname = file.user, file.group
            tar.addfile(info, io.BytesIO(file.content))
    return buffer.getvalue()


# Up to this much (gzipped) travels on the unpacking command's stdin; more (the web client's
# release) goes by files.put first.
STDIN_LIMIT = 1024 * 1024


def upload(wanted, name, destination=lambda path: path):
    """Puts the files of ``wanted`` on the host (content, owner, mode). Returns one operation per
    file (they share it).

    All of them travel as one gzipped archive on the stdin of the one command that unpacks it
    (base64: pyinfra writes stdin as text): one round trip, where a files.put costs about nine
    (test, mkdir, chown, a copy through /tmp, chmod...: 4-5 s on the emulated test bed).
    pyinfra never prints stdin, so private keys may travel this way; nothing is written to disk
    before it is in place. An archive too big for that goes by one files.put, then one unpack.
    """
    if not wanted:
        return []
    content = gzip.compress(_archive(wanted, destination), mtime=0)
    paths = ", ".join(file.path for file in wanted[:2]) + (", ..." if len(wanted) > 2 else "")
    label = f"{name}: {wanted[0].path}" if len(wanted) == 1 else f"{name}: {len(wanted)} files ({paths})"
    unpack = "tar -xzpf {} --same-owner --no-overwrite-dir -C /"
    if len(content) <= STDIN_LIMIT:
        operation = server.shell(name=label, commands=["base64 -d | " + unpack.format("-")],
                                 _stdin=base64.b64encode(content).decode())
    else:
        archive = f"{ARCHIVE_DIR}/{hashlib.sha256(content).hexdigest()[:16]}.tar.gz"
        files.put(name=f"{label}: upload", src=io.BytesIO(content), dest=archive, user="root", group="root", mode="600")
        operation = server.shell(name=label, commands=[unpack.format(archive) + f"; rc=$?; rm -f {archive}; exit $rc"])
    return [operation] * len(wanted)


def install_checked(name, wanted, check, then=()):
    """Uploads ``wanted`` to the staging area, runs the shell command ``check`` (which may use
    eldwyn.files.staged(path)) and only if it succeeds puts the files in place and runs the
    commands ``then``. If the check fails the deploy stops and nothing live was touched.
    Returns the operation that puts them in place."""
    upload(wanted, f"{name}: stage", destination=staged)
    install = [
        f"install -o {file.user} -g {file.group} -m {file.mode} {shlex.quote(staged(file.path))} {shlex.quote(file.path)}"
        for file in wanted
    ]
    remove_staged = "rm -f " + " ".join(shlex.quote(staged(file.path)) for file in wanted)
    return server.shell(name=f"{name}: check, then make live", commands=[" && ".join([check, *install, *then, remove_staged])])
