"""Files the deploy owns on the host: compared through one batched fact, uploaded only when they
differ, and, where a bad file must never go live, checked in a staging area first."""

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


def upload(wanted, name, destination=lambda path: path):
    """Puts the files of ``wanted`` on the host (content, owner, mode). Returns one operation per
    file (several files share theirs).

    One file is one files.put. Several go as one archive unpacked by one command: each
    files.put costs several round trips (about 4 s on the emulated test bed), and a first
    deploy has dozens of files.
    """
    if len(wanted) <= 1:
        return [
            files.put(name=f"{name}: {file.path}", src=io.BytesIO(file.content), dest=destination(file.path),
                      user=file.user, group=file.group, mode=file.mode)
            for file in wanted
        ]
    content = _archive(wanted, destination)
    archive = f"{ARCHIVE_DIR}/{hashlib.sha256(content).hexdigest()[:16]}.tar"
    files.put(name=f"{name}: {len(wanted)} files, as one archive", src=io.BytesIO(content), dest=archive,
              user="root", group="root", mode="600")
    unpack = server.shell(
        name=f"{name}: put {len(wanted)} files in place ({', '.join(file.path for file in wanted[:2])}, ...)",
        commands=[f"tar -xpf {archive} --same-owner --no-overwrite-dir -C / ; rc=$?; rm -f {archive}; exit $rc"],
    )
    return [unpack] * len(wanted)


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
