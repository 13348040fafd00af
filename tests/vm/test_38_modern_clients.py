"""What modern clients expect, and what older ones (Pidgin) keep working with, against the
deployed VM with real clients: bookmarks kept in step between XEP-0048 and XEP-0402, avatars
between PEP and vCard-temp (mod_bookmarks, mod_vcard_legacy), and a pubsub service its members
can use."""

import pytest

from tests import xmpp, xmpp_state


@pytest.fixture(scope="module", autouse=True)
def deployed(first_deploy):
    return first_deploy


def test_bookmarks_are_kept_in_step_between_old_and_new_clients(target):
    old_style, new_style = xmpp_state.check_bookmarks_in_step(target, f"alice@{target.realm}")
    assert old_style != new_style


def test_avatars_are_kept_in_step_between_pep_and_vcard_temp(target):
    xmpp_state.check_avatars_in_step(target, f"alice@{target.realm}", f"bob@{target.realm}")


def test_members_use_the_pubsub_service_and_own_their_nodes(target):
    refused = xmpp.check_pubsub_for_members(target, f"alice@{target.realm}", f"bob@{target.realm}",
                                            target.admins[0])
    assert refused == {"delete": "forbidden", "configure": "forbidden"}


def test_prosodyctl_check_features_is_clean(vm):
    """Prosody's own feature report on the deployed server lacks nothing, calls included (coturn,
    tests/vm/test_39_calls.py). A feature that goes missing (say, bookmarks or vCard-temp for
    Pidgin) fails this test."""
    run = vm.run("prosodyctl check features")
    report = run.stdout
    lacking = sorted(line.split("(!)", 1)[1].strip() for line in report.splitlines() if "\t(!)\t" in line)
    assert lacking == [], report
    assert run.rc == 0, report
    for feature in ("User profiles", "Multi-device messaging and data synchronization", "Audio/video calls and P2P"):
        assert f"\tOK\t{feature}" in report, report
