"""Files the deploy owns on the host: compared through one batched fact, uploaded only when they
differ, and, where a bad file must never go live, checked in a staging area first."""

import hashlib
import io
import shlex
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


def upload(wanted, name, destination=lambda path: path):
    """files.put for each file of ``wanted`` (its content, owner and mode); returns the operations."""
    return [
        files.put(name=f"{name}: {file.path}", src=io.BytesIO(file.content), dest=destination(file.path),
                  user=file.user, group=file.group, mode=file.mode)
        for file in wanted
    ]


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
