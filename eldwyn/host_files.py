"""What the tasks that own files on a host share: where the repository's static files are, and
the names several places agree on. Each task in tasks/ renders its own files."""

from pathlib import Path

from eldwyn.files import ManagedFile

REPO = Path(__file__).resolve().parent.parent
FILES_DIR = REPO / "files"  # static files, at the path they have on the host

SIGNUP_SERVICE = "eldwyn-signup"  # the webservice's systemd unit (tasks/webservice.py)


def static_files(subtree, mode="644"):
    """files/<subtree>/** as ManagedFiles at /<subtree>/**, root-owned."""
    return [
        ManagedFile(f"/{path.relative_to(FILES_DIR)}", path.read_bytes(), "root", "root", mode)
        for path in sorted((FILES_DIR / subtree).rglob("*")) if path.is_file()
    ]
