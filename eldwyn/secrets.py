"""The operator's secrets store: one file per secret in a private directory outside git.

The directory comes from the data (secrets_dir) or the environment (ELDWYN_SECRETS_DIR); see
Secrets.dir in eldwyn/schema/data.py. It must be mode 0700 and owned by us, and must not lie inside a git work
tree (where one `git add -A` would publish it); files are 0600. Values are returned to the
caller, never printed or logged, and never appear in a repr or an error message.
"""

import os
import re
import stat
import tempfile
from pathlib import Path
from secrets import token_urlsafe

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,200}\Z")


class SecretsError(Exception):
    """The store cannot be used safely, or a secret is missing."""


def new_value(nbytes=24):
    """A new random secret: ``nbytes`` random bytes as URL-safe text."""
    return token_urlsafe(nbytes)


def account_password_name(jid):
    """The secret that holds the password of the account ``jid``."""
    return f"account-{jid}"


def _inside_git_work_tree(directory):
    for parent in (directory, *directory.parents):
        if (parent / ".git").exists():
            return parent
    return None


def _check_private(path, kind):
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise SecretsError(f"{path}: is a symlink; the {kind} must be a real one")
    if info.st_uid != os.getuid():
        raise SecretsError(f"{path}: owned by uid {info.st_uid}, not by you (uid {os.getuid()})")
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        wanted = "0700" if kind == "directory" else "0600"
        raise SecretsError(
            f"{path}: mode {mode:04o} lets others in; refusing to use it (chmod {wanted} it)"
        )


def private_directory_problem(directory):
    """Why ``directory`` cannot be (or become) a private directory, or None. Changes nothing:
    the data's check (eldwyn/schema/data.py) runs it before anything is made."""
    directory = Path(directory).expanduser().absolute()
    work_tree = _inside_git_work_tree(directory)
    if work_tree is not None:
        return f"{directory}: inside the git work tree {work_tree}; keep secrets outside git"
    if not directory.exists() and not directory.is_symlink():
        ancestor = next(parent for parent in directory.parents if parent.exists())
        if not ancestor.is_dir():
            return f"{directory}: cannot be made, {ancestor} is not a directory"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"{directory}: cannot be made, {ancestor} is not writable by you"
        return None
    if not directory.is_symlink() and not directory.is_dir():
        return f"{directory}: not a directory"
    try:
        _check_private(directory, "directory")
    except SecretsError as error:
        return str(error)
    return None


def private_directory(directory):
    """``directory`` (a Path), made mode 0700 if missing; SecretsError unless it is a real
    directory, ours, closed to others, and outside any git work tree."""
    directory = Path(directory).expanduser().absolute()
    problem = private_directory_problem(directory)
    if problem:
        raise SecretsError(problem)
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)  # mkdir's mode is filtered by the umask
    return directory


class SecretsStore:
    """Secrets in ``directory``; created (mode 0700) if missing."""

    def __init__(self, directory):
        self.directory = private_directory(directory)

    def __repr__(self):
        return f"SecretsStore({str(self.directory)!r})"

    def path(self, name):
        if not isinstance(name, str) or not _NAME.match(name):
            raise SecretsError(f"{name!r} is not a valid secret name (letters, digits, ._@+-)")
        return self.directory / name

    def exists(self, name):
        return self.path(name).exists()

    def names(self):
        """The names of every secret in the store, sorted."""
        return sorted(path.name for path in self.directory.iterdir()
                      if path.is_file() and _NAME.match(path.name))

    def remove(self, name):
        """Forget the secret ``name`` (nothing happens if it is missing)."""
        self.path(name).unlink(missing_ok=True)

    def get_bytes(self, name):
        path = self.path(name)
        if not path.exists():
            raise SecretsError(f"secret {name!r} is missing from {self.directory}")
        _check_private(path, "file")
        return path.read_bytes()

    def get(self, name):
        """The secret ``name`` as text; SecretsError if it is missing."""
        return self.get_bytes(name).decode("utf-8")

    def put_bytes(self, name, value, replace=False):
        """Store ``value`` (bytes) as ``name``, atomically, mode 0600.

        An existing secret is kept unless ``replace`` (e.g. an explicit password rotation):
        then SecretsError is raised.
        """
        path = self.path(name)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(value)
                file.flush()
                os.fsync(file.fileno())
            if replace:
                os.replace(temporary, path)
            else:
                try:
                    os.link(temporary, path)  # fails if it exists: never overwrite by accident
                except FileExistsError:
                    raise SecretsError(f"secret {name!r} already exists in {self.directory}") from None
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def put(self, name, value, replace=False):
        self.put_bytes(name, value.encode("utf-8"), replace=replace)

    def get_or_generate(self, name, nbytes=24, proposed=None):
        """The secret ``name``; made first (``nbytes`` random bytes, URL-safe text, or the value
        ``proposed``, e.g. ``new_value()``'s made earlier) if missing."""
        if not self.exists(name):
            try:
                self.put(name, proposed if proposed is not None else new_value(nbytes))
            except SecretsError:
                if not self.exists(name):  # lost a race with another run: use its value
                    raise
        return self.get(name)
