"""eldwyn.secrets: private modes, refusals, and no value ever shown."""

import os
import stat

import pytest

from eldwyn.secrets import SecretsError, SecretsStore, account_password_name


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path):
    return SecretsStore(tmp_path / "secrets")


def test_creates_a_private_directory(tmp_path):
    old_umask = os.umask(0o022)
    try:
        store = SecretsStore(tmp_path / "a" / "secrets")
    finally:
        os.umask(old_umask)
    assert mode(store.directory) == 0o700


def test_generated_secret_is_private_stable_and_random(store):
    value = store.get_or_generate("account-alice@example.org", nbytes=24)
    assert len(value) == 32  # 24 bytes, URL-safe base64
    assert mode(store.path("account-alice@example.org")) == 0o600
    assert store.get_or_generate("account-alice@example.org") == value
    assert store.get("account-alice@example.org") == value
    assert store.get_or_generate("account-bob@example.org") != value
    assert not [p for p in store.directory.iterdir() if p.name.startswith(".tmp-")]


def test_put_never_overwrites_unless_asked(store):
    store.put_bytes("ca.key", b"first")
    with pytest.raises(SecretsError, match="already exists"):
        store.put_bytes("ca.key", b"second")
    assert store.get_bytes("ca.key") == b"first"
    store.put_bytes("ca.key", b"rotated", replace=True)
    assert store.get_bytes("ca.key") == b"rotated"
    assert mode(store.path("ca.key")) == 0o600


@pytest.mark.parametrize("bad_mode", [0o755, 0o750, 0o701, 0o707])
def test_refuses_a_directory_others_can_enter(tmp_path, bad_mode):
    directory = tmp_path / "secrets"
    directory.mkdir()
    directory.chmod(bad_mode)
    with pytest.raises(SecretsError, match="lets others in"):
        SecretsStore(directory)


def test_refuses_a_readable_secret_file(store):
    store.put("token", "s3cret-value")
    store.path("token").chmod(0o644)
    with pytest.raises(SecretsError) as error:
        store.get("token")
    assert "s3cret-value" not in str(error.value)


def test_refuses_a_directory_inside_a_git_work_tree(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    with pytest.raises(SecretsError, match="inside the git work tree"):
        SecretsStore(tmp_path / "repo" / "deep" / "secrets")
    assert not (tmp_path / "repo" / "deep").exists()


def test_refuses_this_repository():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with pytest.raises(SecretsError, match="inside the git work tree"):
        SecretsStore(os.path.join(repo, ".secrets"))


def test_missing_secret_and_bad_names(store):
    with pytest.raises(SecretsError, match="missing"):
        store.get("nothing-here")
    for name in ["../escape", "a/b", "", ".hidden"]:
        with pytest.raises(SecretsError, match="not a valid secret name"):
            store.path(name)


def test_values_never_appear_in_repr(store):
    value = store.get_or_generate("x")
    assert value not in repr(store)


def test_account_password_name_is_a_valid_secret_name(store):
    assert store.path(account_password_name("alice@cslabs.clarkson.edu")).name == (
        "account-alice@cslabs.clarkson.edu"
    )
