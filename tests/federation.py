"""Real XMPP clients of two servers talking through federation (s2s): each client logs in to
its own server (its own tests.xmpp.Target) and what it sends crosses the servers' link.

The first stanza to a new peer server waits for the s2s connection (DNS, TLS both ways, the
certificate checks), hence FIRST_HOP_TIMEOUT. Every check closes every session it opened.
"""

import asyncio
import contextlib

import slixmpp

from tests.xmpp import DEFAULT_TIMEOUT, STEP_TIMEOUT, _token, run, session

FIRST_HOP_TIMEOUT = 45  # seconds: a new s2s connection on the emulated test bed


@contextlib.asynccontextmanager
async def two_sessions(a_target, a, b_target, b):
    """Sessions of ``a`` (on a_target) and ``b`` (on b_target) that answer no subscription by
    themselves: the checks below do, as a person would."""
    async with session(a_target, a) as sa, session(b_target, b) as sb:
        for s in (sa, sb):
            s.xmpp.auto_authorize = None
            s.xmpp.auto_subscribe = False
        yield sa, sb


def check_message_across(a_target, a, b_target, b, text=None, timeout=DEFAULT_TIMEOUT + FIRST_HOP_TIMEOUT):
    """``a`` sends ``b`` a chat message (``text``, or one of its own) and ``b`` answers: both
    arrive, from the right JIDs."""
    async def body():
        async with two_sessions(a_target, a, b_target, b) as (sa, sb):
            sent, answer = text or f"over s2s {_token()} ✓", f"answer {_token()}"
            got = sb.waiter("message", lambda m: m["body"] == sent)
            sa.xmpp.send_message(mto=b, mbody=sent, mtype="chat")
            message = await asyncio.wait_for(got, FIRST_HOP_TIMEOUT)
            assert message["from"].bare == a, message
            back = sa.waiter("message", lambda m: m["body"] == answer)
            sb.xmpp.send_message(mto=a, mbody=answer, mtype="chat")
            assert (await asyncio.wait_for(back, FIRST_HOP_TIMEOUT))["from"].bare == b
            return sent
    return run(body(), timeout)


async def _subscribe(sa, a, sb, b):
    """``a`` asks for ``b``'s presence, ``b`` approves; ``a`` sees the approval."""
    asked = sb.waiter("presence_subscribe", lambda p: p["from"].bare == a)
    sa.xmpp.send_presence(pto=b, ptype="subscribe")
    await asyncio.wait_for(asked, FIRST_HOP_TIMEOUT)
    approved = sa.waiter("presence_subscribed", lambda p: p["from"].bare == b)
    sb.xmpp.send_presence(pto=a, ptype="subscribed")
    await asyncio.wait_for(approved, STEP_TIMEOUT)


def check_subscription_across(a_target, a, b_target, b, timeout=DEFAULT_TIMEOUT + 2 * FIRST_HOP_TIMEOUT):
    """A presence subscription each way: both rosters (on their servers) say "both", and each
    then sees the other's presence."""
    async def body():
        async with two_sessions(a_target, a, b_target, b) as (sa, sb):
            await _subscribe(sa, a, sb, b)
            await _subscribe(sb, b, sa, a)
            for s, other in ((sa, b), (sb, a)):
                await s.xmpp.get_roster(timeout=STEP_TIMEOUT)
                assert s.xmpp.client_roster[other]["subscription"] == "both", \
                    f"{s.jid.bare}'s roster: {other} is {s.xmpp.client_roster[other]['subscription']!r}"
            status = f"here {_token()}"
            seen = sb.waiter("presence_available", lambda p: p["from"].bare == a and p["status"] == status)
            sa.xmpp.send_presence(pstatus=status)
            await asyncio.wait_for(seen, STEP_TIMEOUT)
            for s, other in ((sa, b), (sb, a)):  # leave the rosters as they were
                s.xmpp.del_roster_item(other)
            await sa.roundtrip()
            await sb.roundtrip()
            return "both"
    return run(body(), timeout)


def check_remote_member_in_room(room_target, owner, guest_target, guest, timeout=DEFAULT_TIMEOUT + FIRST_HOP_TIMEOUT):
    """``owner`` makes a room on room_target's MUC component and talks in it; ``guest``, a user
    of another server, joins, finds that message in the history the room sends on joining, and
    says something the owner receives. The room is destroyed at the end."""
    async def body():
        room = slixmpp.JID(f"eldwyn-fed-{_token()}@{room_target.components['muc']}")
        before, reply = f"before you came {_token()}", f"hello from afar {_token()}"
        async with two_sessions(room_target, owner, guest_target, guest) as (so, sg):
            muc = so.xmpp.plugin["xep_0045"]
            await muc.join_muc_wait(room, "owner", maxstanzas=0, timeout=STEP_TIMEOUT)
            try:
                # A new room stays locked until its owner configures it; the defaults will do.
                answer = so.xmpp.plugin["xep_0004"].make_form(ftype="submit")
                answer.add_field(var="FORM_TYPE", value="http://jabber.org/protocol/muc#roomconfig")
                await muc.set_room_config(room, answer, timeout=STEP_TIMEOUT)
                so.xmpp.send_message(mto=room, mbody=before, mtype="groupchat")
                await so.roundtrip()
                history = sg.waiter("groupchat_message", lambda m: m["body"] == before)
                await sg.xmpp.plugin["xep_0045"].join_muc_wait(room, "guest", maxstanzas=20,
                                                                timeout=FIRST_HOP_TIMEOUT)
                old = await asyncio.wait_for(history, STEP_TIMEOUT)
                assert old["delay"]["stamp"] is not None, "the history message came without its delay"
                heard = so.waiter("groupchat_message", lambda m: m["body"] == reply)
                sg.xmpp.send_message(mto=room, mbody=reply, mtype="groupchat")
                message = await asyncio.wait_for(heard, STEP_TIMEOUT)
                assert message["from"] == slixmpp.JID(f"{room}/guest"), message["from"]
            finally:
                with contextlib.suppress(Exception):
                    await muc.destroy(room, timeout=STEP_TIMEOUT)
            return str(room)
    return run(body(), timeout)


def check_refused_across(a_target, a, b, timeout=DEFAULT_TIMEOUT + FIRST_HOP_TIMEOUT):
    """``a``'s message to ``b``, on a server that ``a``'s server must not trust, comes back as
    an error and is not delivered. Returns the error's condition."""
    async def body():
        async with session(a_target, a) as sa:
            text = f"must not cross {_token()}"
            bounced = sa.waiter("message_error", lambda m: m["from"].bare == b)
            sa.xmpp.send_message(mto=b, mbody=text, mtype="chat")
            error = await asyncio.wait_for(bounced, FIRST_HOP_TIMEOUT)
            return error["error"]["condition"]
    return run(body(), timeout)
