"""Registration over raw XMPP: one invite yields at most one account, nothing without one.

A raw client (tests/xmpp_register.py: stdlib sockets, STARTTLS verified against the test bed's
CA, XEP-0401 preauth, XEP-0077 register) does what a hostile client would, against the
deployed Prosody and its mod_invites_register_strict. Invites come from Prosody's admin shell
on the VM (``prosodyctl shell invite ...`` as root over SSH); accounts are read back from
``prosodyctl shell user list`` before and after, so every refusal is also proven to have
created nothing. New accounts log in with a real client (slixmpp, SCRAM).

Against a development server instead of the VM (see tests/xmpp.py, target_from_json):
  ELDWYN_XMPP_TARGET=<target.json>     where clients connect
  ELDWYN_PROSODY_SHELL="<prefix>"      runs "<prefix> '<command>'" locally as root where
                                       Prosody runs, e.g. "chroot /srv/chroot sh -c"
  ELDWYN_PROSODY_RESTART="<command>"   restarts Prosody (the throttle test clears its state)
  ELDWYN_REGISTER_SOURCE=<address>     client source address; must not be loopback's
                                       127.0.0.1, which the registration throttle exempts

The throttle test comes last: it uses up this address's registration budget, then restarts
Prosody so that a re-run (or a later test) starts afresh.
"""

import dataclasses
import os
import shlex
import subprocess
import time

import pytest

from tests import xmpp
from tests import xmpp_register as reg
from tests.testbed import config_for_testbed

THROTTLE_MAX = config_for_testbed().registration_throttle_max  # xmpp_registration_throttle_max


@pytest.fixture(scope="module")
def shell(request, target):
    """``run(command) -> stdout``: a shell command as root where Prosody runs."""
    prefix = os.environ.get("ELDWYN_PROSODY_SHELL")
    if os.environ.get("ELDWYN_XMPP_TARGET"):
        assert prefix, "ELDWYN_XMPP_TARGET is set: set ELDWYN_PROSODY_SHELL too"

        def run(command):
            done = subprocess.run([*shlex.split(prefix), command], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, f"{command}: {done.stderr or done.stdout}"
            return done.stdout
        return run
    return request.getfixturevalue("vm").check_output


@pytest.fixture(scope="module")
def restart_prosody(request, target):
    command = os.environ.get("ELDWYN_PROSODY_RESTART")
    if os.environ.get("ELDWYN_XMPP_TARGET"):
        assert command, "ELDWYN_XMPP_TARGET is set: set ELDWYN_PROSODY_RESTART too"

        def restart():
            subprocess.run(command, shell=True, check=True, timeout=60, capture_output=True)
    else:
        vm = request.getfixturevalue("vm")

        def restart():
            vm.check_output("systemctl restart prosody")

    def restart_and_wait():
        restart()
        deadline = time.monotonic() + 60
        while True:
            try:
                with reg.RawStream(target, timeout=5):
                    return
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    return restart_and_wait


@pytest.fixture(scope="module", autouse=True)
def fresh_throttle(restart_prosody):
    """Every test client comes from one address (qemu's NAT), and earlier registrations from it
    count against the throttle for an hour: start from a clean count, as the last test ends."""
    restart_prosody()


@pytest.fixture(scope="module")
def options():
    """RawStream options: the source address, when one is set for a development server."""
    source = os.environ.get("ELDWYN_REGISTER_SOURCE")
    return {"source_address": source} if source else {}


@pytest.fixture
def accounts_before(shell, target):
    return reg.accounts(shell, target.realm)


def assert_created(shell, target, before, *expected):
    """Exactly ``expected`` (user names) appeared since ``before``: refusals created nothing."""
    now = reg.accounts(shell, target.realm)
    assert now - before == set(expected), f"new accounts {sorted(now - before)}, expected {sorted(expected)}"
    assert before <= now, f"accounts disappeared: {sorted(before - now)}"


def assert_logs_in(target, username, password):
    """A real client (slixmpp: STARTTLS, SCRAM, session) logs in as the new account."""
    jid = f"{username}@{target.realm}"
    login = xmpp.check_login(dataclasses.replace(target, passwords={jid: password}), jid)
    assert login["mechanism"].startswith("SCRAM-"), login


def refused(reply, condition=None):
    assert not reply.ok, f"expected a refusal, got {reply}"
    if condition:
        assert reply.condition == condition, f"expected {condition}, got {reply}"
    return True


# ---------------------------------------------------------------------------------------------


def test_registration_is_offered_with_invites_only_after_tls(target, options):
    with reg.RawStream(target, **options) as stream:
        assert stream.offers(reg.NS_REGISTER_FEATURE, "register"), "no in-band registration feature"
        assert stream.offers(reg.NS_IBR_TOKEN, "register"), "no urn:xmpp:ibr-token:0 feature"


def test_one_invite_registers_exactly_one_account(target, shell, options, accounts_before):
    token = reg.create_invite(shell, target.realm)
    first, second, third = reg.new_username(), reg.new_username(), reg.new_username()
    password = reg.new_password()
    with reg.RawStream(target, **options) as stream:
        assert stream.preauth(token).ok
        answer = stream.register(first, password)
        assert answer.ok, answer
        # The same stream, which Prosody 13.0.1 alone lets register again and again:
        assert refused(stream.register(second, reg.new_password()), "forbidden")
    # A new stream replaying the token: refused at the preauth, and so at the registration.
    preauth, register = reg.register_with_invite(target, token, third, reg.new_password(), **options)
    assert refused(preauth, "forbidden") and refused(register)
    assert not reg.invite_is_pending(shell, target.realm, token)
    assert_created(shell, target, accounts_before, first)
    assert_logs_in(target, first, password)


def test_two_streams_preauthenticated_with_one_invite_yield_one_account(target, shell, options,
                                                                         accounts_before):
    token = reg.create_invite(shell, target.realm)
    names = [reg.new_username(), reg.new_username()]
    with reg.RawStream(target, **options) as one, reg.RawStream(target, **options) as two:
        assert one.preauth(token).ok and two.preauth(token).ok  # both before either registers
        assert one.register(names[0], reg.new_password()).ok
        assert refused(two.register(names[1], reg.new_password()), "forbidden")
    assert_created(shell, target, accounts_before, names[0])


def test_registration_without_a_token_is_refused(target, shell, options, accounts_before):
    with reg.RawStream(target, **options) as stream:
        assert refused(stream.register(reg.new_username(), reg.new_password()), "not-acceptable")
        assert refused(stream.register(reg.new_username(), reg.new_password()), "not-acceptable")
    assert_created(shell, target, accounts_before)


FORGED = {
    "random": "Zq3xP0aW9dLk2mN7bV5cR1tY",
    "empty": "",
    "long": "A" * 2000,
    "markup": "'\"<x/>&amp;",
    "sql": "' OR '1'='1",
}


@pytest.mark.parametrize("token", FORGED.values(), ids=FORGED.keys())
def test_forged_token_is_refused(target, shell, options, accounts_before, token):
    preauth, register = reg.register_with_invite(target, token, reg.new_username(),
                                                 reg.new_password(), **options)
    assert refused(preauth, "forbidden") and refused(register)
    assert_created(shell, target, accounts_before)


def test_expired_invite_is_refused(target, shell, options, accounts_before):
    token = reg.create_invite(shell, target.realm, expires_after="1s")
    time.sleep(2.5)
    preauth, register = reg.register_with_invite(target, token, reg.new_username(),
                                                 reg.new_password(), **options)
    assert refused(preauth, "forbidden") and refused(register)
    assert_created(shell, target, accounts_before)


def test_invite_expiring_between_preauth_and_registration_is_refused(target, shell, options,
                                                                     accounts_before):
    token = reg.create_invite(shell, target.realm, expires_after="2s")
    with reg.RawStream(target, **options) as stream:
        assert stream.preauth(token).ok
        time.sleep(3.5)
        assert refused(stream.register(reg.new_username(), reg.new_password()), "forbidden")
    assert_created(shell, target, accounts_before)


def test_invite_for_a_username_registers_only_that_username(target, shell, options, accounts_before):
    name = reg.new_username("named")
    token = reg.create_invite(shell, target.realm, username=name)
    password = reg.new_password()
    with reg.RawStream(target, **options) as stream:
        assert stream.preauth(token).ok
        assert refused(stream.register(reg.new_username(), reg.new_password()), "not-acceptable")
        assert reg.invite_is_pending(shell, target.realm, token), "a refusal used up the invite"
        assert stream.register(name, password).ok
    assert_created(shell, target, accounts_before, name)
    assert_logs_in(target, name, password)


def test_taken_username_is_refused_without_using_up_the_invite(target, shell, options,
                                                                accounts_before):
    taken = sorted(accounts_before)[0]
    token = reg.create_invite(shell, target.realm)
    name, password = reg.new_username(), reg.new_password()
    with reg.RawStream(target, **options) as stream:
        assert stream.preauth(token).ok
        assert refused(stream.register(taken, reg.new_password()), "conflict")
        assert stream.register(name, password).ok
    assert_created(shell, target, accounts_before, name)
    assert_logs_in(target, name, password)


def test_password_reset_invite_never_creates_an_account(target, shell, options, accounts_before):
    # An account of our own to reset (never a seeded one: their passwords are the deploy's).
    owner, old_password = reg.new_username("owner"), reg.new_password()
    assert reg.register_with_invite(target, reg.create_invite(shell, target.realm), owner,
                                    old_password, **options)[1].ok
    # A reset invite for `owner` used for a new name, and one for a name with no account.
    token = reg.create_reset(shell, target.realm, owner)
    preauth, register = reg.register_with_invite(target, token, reg.new_username(),
                                                 reg.new_password(), **options)
    assert preauth.ok and refused(register, "not-acceptable")
    ghost = reg.new_username("ghost")
    ghost_token = reg.create_reset(shell, target.realm, ghost)
    preauth, register = reg.register_with_invite(target, ghost_token, ghost, reg.new_password(),
                                                 **options)
    assert preauth.ok and refused(register, "forbidden")
    assert_created(shell, target, accounts_before, owner)
    # What a reset invite is for still works, once: a new password for its own account.
    new_password = reg.new_password()
    with reg.RawStream(target, **options) as stream:
        assert stream.preauth(token).ok
        assert stream.register(owner, new_password).ok
        assert refused(stream.register(owner, reg.new_password()), "forbidden")
    assert not reg.invite_is_pending(shell, target.realm, token)
    assert_created(shell, target, accounts_before, owner)
    assert_logs_in(target, owner, new_password)
    assert not reg.can_login(target, owner, old_password, **options)


def test_registrations_are_throttled_per_address(target, shell, options, restart_prosody):
    """At most THROTTLE_MAX registrations per address and hour; refusals do not count."""
    try:
        before = reg.accounts(shell, target.realm)
        created = []
        for _ in range(THROTTLE_MAX + 1):  # earlier tests have used part of the budget
            token = reg.create_invite(shell, target.realm)
            name = reg.new_username("burst")
            preauth, register = reg.register_with_invite(target, token, name, reg.new_password(),
                                                         **options)
            assert preauth.ok
            if not register.ok:
                break
            created.append(name)
        else:
            pytest.fail(f"{THROTTLE_MAX + 1} registrations in a row from one address went through")
        assert (register.error_type, register.condition) == ("wait", "policy-violation"), register
        assert reg.invite_is_pending(shell, target.realm, token), "a throttled attempt used up the invite"
        assert_created(shell, target, before, *created)
    finally:
        restart_prosody()  # forget the throttle state
    # After the restart the address may register again, with the invite the throttle refused.
    name = reg.new_username()
    assert reg.register_with_invite(target, token, name, reg.new_password(), **options)[1].ok
