"""What a user keeps on the server, written and read back by real clients (slixmpp): rosters
with subscriptions, bookmarks (XEP-0048 private storage and XEP-0402 PEP), vCard4 and avatars
(PEP), blocklists, archives, rooms with their configuration, affiliations and history.

``fill_*`` functions make such state; ``*_state`` functions read it back as plain data, so that
what was on one server can be compared with what is on another (tests/vm/test_95_adopt.py).
Each call runs in its own event loop, bounded, and closes what it opened (tests/xmpp.py).
"""

import asyncio
import base64
import hashlib

import slixmpp
from slixmpp.xmlstream import ET as SET

from tests.xmpp import DEFAULT_TIMEOUT, STEP_TIMEOUT, _mam_bodies, _token, make_room, run, session

NS_PRIVATE = "jabber:iq:private"
NS_BOOKMARKS = "storage:bookmarks"  # XEP-0048 in private XML storage
NS_BOOKMARKS2 = "urn:xmpp:bookmarks:1"  # XEP-0402, a PEP node of that name
NS_VCARD4 = "urn:ietf:params:xml:ns:vcard-4.0"
NS_VCARD4_NODE = "urn:xmpp:vcard4"  # XEP-0292's PEP node
NS_AVATAR_DATA = "urn:xmpp:avatar:data"
NS_AVATAR_META = "urn:xmpp:avatar:metadata"
NS_BLOCKING = "urn:xmpp:blocking"
NS_VCARD_TEMP = "vcard-temp"  # XEP-0054, what Pidgin reads
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
AFFILIATIONS = ("owner", "admin", "member", "outcast")


def subscribe_both_ways(target, first, second, timeout=DEFAULT_TIMEOUT):
    """``first`` and ``second`` subscribe to each other's presence (both clients online and
    accepting): both rosters then say subscription "both"."""
    async def body():
        async with session(target, first) as a, session(target, second) as b:
            for s in (a, b):
                s.xmpp.auto_authorize = True
                s.xmpp.auto_subscribe = True
            a.xmpp.send_presence_subscription(pto=second)
            for _ in range(int(STEP_TIMEOUT * 4)):
                await asyncio.sleep(0.25)
                if a.xmpp.client_roster[second]["subscription"] == "both" \
                        and b.xmpp.client_roster[first]["subscription"] == "both":
                    return
            raise AssertionError(f"{first} and {second}: the subscription never became mutual")
    run(body(), timeout)


async def _pep_publish(s, node, item_id, payload, options=None):
    iq = s.xmpp.make_iq_set()
    pubsub = SET.SubElement(iq.xml, f"{{{NS_PUBSUB}}}pubsub")
    publish = SET.SubElement(pubsub, f"{{{NS_PUBSUB}}}publish", node=node)
    item = SET.SubElement(publish, f"{{{NS_PUBSUB}}}item", id=item_id)
    item.append(payload)
    if options:
        publish_options = SET.SubElement(pubsub, f"{{{NS_PUBSUB}}}publish-options")
        form = SET.SubElement(publish_options, "{jabber:x:data}x", type="submit")
        for var, value in {"FORM_TYPE": f"{NS_PUBSUB}#publish-options", **options}.items():
            field = SET.SubElement(form, "{jabber:x:data}field", var=var)
            SET.SubElement(field, "{jabber:x:data}value").text = value
    await iq.send(timeout=STEP_TIMEOUT)


def fill_profile(target, user, rooms, timeout=DEFAULT_TIMEOUT):
    """Gives ``user`` bookmarks of ``rooms`` in both forms, a vCard4 and an avatar (PEP), and a
    blocklist. Returns the avatar's bytes."""
    avatar = hashlib.sha256(user.encode()).digest() * 64  # 2 KiB, different for every user
    avatar_id = hashlib.sha1(avatar).hexdigest()

    async def body():
        async with session(target, user) as s:
            # XEP-0048 in private XML storage (Pidgin and older clients).
            iq = s.xmpp.make_iq_set()
            query = SET.SubElement(iq.xml, f"{{{NS_PRIVATE}}}query")
            storage = SET.SubElement(query, f"{{{NS_BOOKMARKS}}}storage")
            for index, room in enumerate(rooms):
                conference = SET.SubElement(storage, f"{{{NS_BOOKMARKS}}}conference", jid=room,
                                            name=f"Room {index}", autojoin="true")
                SET.SubElement(conference, f"{{{NS_BOOKMARKS}}}nick").text = user.split("@")[0]
            await iq.send(timeout=STEP_TIMEOUT)
            # XEP-0402: one PEP item per room, private.
            for index, room in enumerate(rooms):
                conference = SET.Element(f"{{{NS_BOOKMARKS2}}}conference", name=f"PEP room {index}", autojoin="true")
                SET.SubElement(conference, f"{{{NS_BOOKMARKS2}}}nick").text = user.split("@")[0]
                await _pep_publish(s, NS_BOOKMARKS2, room, conference,
                                   {"pubsub#persist_items": "true", "pubsub#access_model": "whitelist",
                                    "pubsub#max_items": "max"})
            # vCard4 (XEP-0292) and an avatar (XEP-0084), both PEP.
            vcard = SET.Element(f"{{{NS_VCARD4}}}vcard")
            fn = SET.SubElement(vcard, f"{{{NS_VCARD4}}}fn")
            SET.SubElement(fn, f"{{{NS_VCARD4}}}text").text = f"{user.split('@')[0].title()} of the lab"
            iq = s.xmpp.make_iq_set()
            iq.append(vcard)
            await iq.send(timeout=STEP_TIMEOUT)
            await _publish_avatar(s, avatar_id, avatar)
            # XEP-0191
            iq = s.xmpp.make_iq_set()
            block = SET.SubElement(iq.xml, f"{{{NS_BLOCKING}}}block")
            SET.SubElement(block, f"{{{NS_BLOCKING}}}item", jid=f"spammer@spam.{target.realm}.example")
            await iq.send(timeout=STEP_TIMEOUT)
            await s.roundtrip()
    run(body(), timeout)
    return avatar


def fill_vcard_temp(target, user, timeout=DEFAULT_TIMEOUT):
    """``user`` sets a vCard-temp (XEP-0054) with a name and a photo, as Pidgin does."""
    photo = hashlib.sha256(b"vcard-temp " + user.encode()).digest() * 32

    async def body():
        async with session(target, user, presence=False) as s:
            await _set_vcard_temp(s, f"{user.split('@')[0].title()}, in Pidgin", photo)
    run(body(), timeout)
    return photo


async def _publish_avatar(s, avatar_id, avatar):
    """Publishes ``avatar`` (PNG bytes) as the user's XEP-0084 avatar: data, then metadata."""
    data = SET.Element(f"{{{NS_AVATAR_DATA}}}data")
    data.text = base64.b64encode(avatar).decode()
    await _pep_publish(s, NS_AVATAR_DATA, avatar_id, data)
    metadata = SET.Element(f"{{{NS_AVATAR_META}}}metadata")
    SET.SubElement(metadata, f"{{{NS_AVATAR_META}}}info", id=avatar_id, bytes=str(len(avatar)), type="image/png")
    await _pep_publish(s, NS_AVATAR_META, avatar_id, metadata)


async def _set_vcard_temp(s, full_name, photo):
    """Sets the user's vCard-temp (XEP-0054) to a name and a PNG photo, as Pidgin does."""
    iq = s.xmpp.make_iq_set()
    vcard = SET.SubElement(iq.xml, f"{{{NS_VCARD_TEMP}}}vCard")
    SET.SubElement(vcard, f"{{{NS_VCARD_TEMP}}}FN").text = full_name
    element = SET.SubElement(vcard, f"{{{NS_VCARD_TEMP}}}PHOTO")
    SET.SubElement(element, f"{{{NS_VCARD_TEMP}}}TYPE").text = "image/png"
    SET.SubElement(element, f"{{{NS_VCARD_TEMP}}}BINVAL").text = base64.b64encode(photo).decode()
    await iq.send(timeout=STEP_TIMEOUT)


async def _vcard_temp(s, of=None):
    """(full name, sha256 of the photo) of the user's own vCard-temp (or of the user ``of``, as a
    contact's client asks for it), or the error condition."""
    iq = s.xmpp.make_iq_get(ito=of)
    SET.SubElement(iq.xml, f"{{{NS_VCARD_TEMP}}}vCard")
    try:
        reply = await iq.send(timeout=STEP_TIMEOUT)
    except slixmpp.exceptions.IqError as error:
        return {"error": error.condition}
    fn = reply.xml.find(f".//{{{NS_VCARD_TEMP}}}FN")
    binval = reply.xml.find(f".//{{{NS_VCARD_TEMP}}}BINVAL")
    photo = base64.b64decode("".join((binval.text or "").split())) if binval is not None else b""
    return {"fn": fn.text if fn is not None else None, "photo_sha256": hashlib.sha256(photo).hexdigest()}


def _attributes(element):
    return tuple(sorted(element.attrib.items()))


async def _pep_items(s, node):
    """{item id: (payload tag, attributes, every text inside)} of the user's own PEP ``node``."""
    iq = s.xmpp.make_iq_get(ito=s.jid.bare)
    pubsub = SET.SubElement(iq.xml, f"{{{NS_PUBSUB}}}pubsub")
    SET.SubElement(pubsub, f"{{{NS_PUBSUB}}}items", node=node)
    try:
        reply = await iq.send(timeout=STEP_TIMEOUT)
    except slixmpp.exceptions.IqError as error:
        return {"error": error.condition}
    items = {}
    for item in reply.xml.iter(f"{{{NS_PUBSUB}}}item"):
        payload = list(item)
        items[item.get("id")] = [(child.tag, _attributes(child), "".join(child.itertext()).strip())
                                 for child in payload]
    return items


def account_state(target, user, timeout=DEFAULT_TIMEOUT):
    """Everything of ``user``'s that the server keeps, as plain data (comparable across servers)."""
    async def body():
        async with session(target, user) as s:
            roster = s.xmpp.client_roster
            state = {"roster": {str(jid): (roster[jid]["subscription"], roster[jid]["name"],
                                           tuple(sorted(roster[jid]["groups"])))
                                for jid in roster.keys() if str(jid) != user}}
            iq = s.xmpp.make_iq_get()
            query = SET.SubElement(iq.xml, f"{{{NS_PRIVATE}}}query")
            SET.SubElement(query, f"{{{NS_BOOKMARKS}}}storage")
            reply = await iq.send(timeout=STEP_TIMEOUT)
            state["private_bookmarks"] = sorted(
                (_attributes(c), "".join(c.itertext()).strip()) for c in reply.xml.iter(f"{{{NS_BOOKMARKS}}}conference"))
            for name, node in (("pep_bookmarks", NS_BOOKMARKS2), ("vcard4", NS_VCARD4_NODE),
                               ("avatar_data", NS_AVATAR_DATA), ("avatar_metadata", NS_AVATAR_META)):
                state[name] = await _pep_items(s, node)
            iq = s.xmpp.make_iq_get()
            SET.SubElement(iq.xml, f"{{{NS_BLOCKING}}}blocklist")
            reply = await iq.send(timeout=STEP_TIMEOUT)
            state["blocklist"] = sorted(item.get("jid") for item in reply.xml.iter(f"{{{NS_BLOCKING}}}item"))
            state["vcard_temp"] = await _vcard_temp(s)
            state["archive"] = sorted(await _mam_bodies(s))
            return state
    return run(body(), timeout)


def make_members_only_room(target, owner, members, outcasts, texts, timeout=DEFAULT_TIMEOUT):
    """``owner`` creates a persistent, members-only room with ``members`` and ``outcasts`` and
    says ``texts`` in it. Returns its JID."""
    options = {"muc#roomconfig_membersonly": True, "muc#roomconfig_roomname": "The lab's board",
               "muc#roomconfig_roomdesc": "Members only"}
    affiliations = {**{jid: "member" for jid in members}, **{jid: "outcast" for jid in outcasts}}
    return make_room(target, owner, texts, options=options, affiliations=affiliations, prefix="board",
                     timeout=timeout)


def room_state(target, owner, room, timeout=DEFAULT_TIMEOUT):
    """A room's configuration (the owner's form), its affiliation lists and the history a
    joining occupant is sent, as plain data."""
    async def body():
        async with session(target, owner) as o:
            muc = o.xmpp.plugin["xep_0045"]
            joined = await muc.join_muc_wait(slixmpp.JID(room), "reader", maxstanzas=50, timeout=STEP_TIMEOUT)
            history = [message["body"] for message in joined[3] if message["body"]]
            form = await muc.get_room_config(slixmpp.JID(room), timeout=STEP_TIMEOUT)
            config = {var: value for var, value in form.get_values().items()
                      if var.startswith("muc#roomconfig_") and var != "muc#roomconfig_roomsecret"}
            affiliations = {}
            for affiliation in AFFILIATIONS:
                iq = o.xmpp.make_iq_get(ito=room)
                query = SET.SubElement(iq.xml, f"{{{NS_MUC_ADMIN}}}query")
                SET.SubElement(query, f"{{{NS_MUC_ADMIN}}}item", affiliation=affiliation)
                reply = await iq.send(timeout=STEP_TIMEOUT)
                affiliations[affiliation] = sorted(item.get("jid") for item in reply.xml.iter(f"{{{NS_MUC_ADMIN}}}item"))
            muc.leave_muc(slixmpp.JID(room), "reader")
            await o.roundtrip()
            return {"config": config, "affiliations": affiliations, "history": history}
    return run(body(), timeout)


def check_refused_from_room(target, user, room, timeout=DEFAULT_TIMEOUT):
    """``user`` (not a member) cannot join the members-only ``room``."""
    async def body():
        async with session(target, user) as s:
            error = s.waiter("presence_error", lambda p: p["from"].bare == room)
            s.xmpp.plugin["xep_0045"].join_muc(slixmpp.JID(room), "stranger")
            presence = await asyncio.wait_for(error, STEP_TIMEOUT)
            return presence["error"]["condition"]
    condition = run(body(), timeout)
    assert condition == "registration-required", condition
    return condition


def offline_messages(target, user, timeout=DEFAULT_TIMEOUT):
    """The bodies of the messages the server holds for ``user`` while offline: delivered when
    the first session sends its initial presence."""
    async def body():
        got = []
        async with session(target, user, presence=False) as s:
            s.xmpp.add_event_handler("message", lambda message: message["body"] and got.append(message["body"]))
            await s.xmpp.get_roster(timeout=STEP_TIMEOUT)
            s.xmpp.send_presence()
            await s.roundtrip()
            await asyncio.sleep(2)  # offline delivery follows the presence, not the ping
        return got
    return run(body(), timeout)


def user_role(vm, jid):
    """The primary role Prosody gives ``jid`` on the host ``vm`` (testinfra), e.g.
    prosody:operator, from the admin shell's ``user:role``."""
    out = vm.check_output(f"prosodyctl shell user role {jid}")  # prints "OK: <role>"
    return next((line.split()[1] for line in out.splitlines() if line.startswith("OK:")), out)


def say_in_room(target, user, room, text, timeout=DEFAULT_TIMEOUT):
    """``user`` joins ``room``, says ``text`` (and sees it echoed) and leaves."""
    async def body():
        async with session(target, user) as s:
            muc = s.xmpp.plugin["xep_0045"]
            await muc.join_muc_wait(slixmpp.JID(room), "speaker", maxstanzas=0, timeout=STEP_TIMEOUT)
            echo = s.waiter("groupchat_message", lambda msg: msg["body"] == text)
            s.xmpp.send_message(mto=room, mbody=text, mtype="groupchat")
            await asyncio.wait_for(echo, STEP_TIMEOUT)
            muc.leave_muc(slixmpp.JID(room), "speaker")
            await s.roundtrip()
    run(body(), timeout)


# ---- Kept in step between old and new clients (bookmarks, vcard_legacy) ----------------------

BOOKMARKS2_OPTIONS = {"pubsub#persist_items": "true", "pubsub#access_model": "whitelist", "pubsub#max_items": "max"}


async def _private_bookmarks(s, rooms=None):
    """The rooms of the user's XEP-0048 bookmarks in private storage; with ``rooms``, first
    replaces them with those, as Pidgin does (the whole list at once)."""
    if rooms is not None:
        iq = s.xmpp.make_iq_set()
        storage = SET.SubElement(SET.SubElement(iq.xml, f"{{{NS_PRIVATE}}}query"), f"{{{NS_BOOKMARKS}}}storage")
        for room in rooms:
            SET.SubElement(storage, f"{{{NS_BOOKMARKS}}}conference", jid=room, name=room.split("@")[0],
                           autojoin="true")
        await iq.send(timeout=STEP_TIMEOUT)
    iq = s.xmpp.make_iq_get()
    SET.SubElement(SET.SubElement(iq.xml, f"{{{NS_PRIVATE}}}query"), f"{{{NS_BOOKMARKS}}}storage")
    reply = await iq.send(timeout=STEP_TIMEOUT)
    return sorted(c.get("jid") for c in reply.xml.iter(f"{{{NS_BOOKMARKS}}}conference"))


def check_bookmarks_in_step(target, user, timeout=DEFAULT_TIMEOUT):
    """A room bookmarked through XEP-0048 by one resource (as Pidgin does) is among the XEP-0402
    bookmarks another resource reads, and one bookmarked through XEP-0402 by the second is
    among the first one's XEP-0048 bookmarks. Both are removed at the end."""
    muc = target.components["muc"]

    async def body():
        old_style, new_style = f"pidgin-{_token()}@{muc}", f"modern-{_token()}@{muc}"
        async with session(target, user, resource="pidgin") as old, session(target, user, resource="modern") as new:
            before = await _private_bookmarks(old)
            await _private_bookmarks(old, before + [old_style])
            seen_by_new = await _pep_items(new, NS_BOOKMARKS2)
            assert old_style in seen_by_new, f"XEP-0048 bookmark not seen through XEP-0402: {seen_by_new}"
            conference = SET.Element(f"{{{NS_BOOKMARKS2}}}conference", name="Modern", autojoin="true")
            await _pep_publish(new, NS_BOOKMARKS2, new_style, conference, BOOKMARKS2_OPTIONS)
            seen_by_old = await _private_bookmarks(old)
            assert new_style in seen_by_old, f"XEP-0402 bookmark not seen through XEP-0048: {seen_by_old}"
            await _private_bookmarks(old, before)
            return old_style, new_style
    return run(body(), timeout)


def check_avatars_in_step(target, owner, viewer, timeout=DEFAULT_TIMEOUT):
    """An avatar published through PEP (XEP-0084) is the photo of ``owner``'s vCard-temp that
    ``viewer`` fetches (what Pidgin shows); a photo set through vCard-temp (as Pidgin sets it)
    becomes ``owner``'s PEP avatar, under its SHA-1 as XEP-0084 names it."""
    async def body():
        pep_avatar = hashlib.sha256(b"pep " + _token().encode()).digest() * 16
        vcard_photo = hashlib.sha256(b"vcard " + _token().encode()).digest() * 16
        async with session(target, owner, presence=False) as o, session(target, viewer, presence=False) as v:
            avatar_id = hashlib.sha1(pep_avatar).hexdigest()
            await _publish_avatar(o, avatar_id, pep_avatar)
            assert (await _vcard_temp(v, of=owner))["photo_sha256"] == hashlib.sha256(pep_avatar).hexdigest(), \
                "the PEP avatar is not the vCard-temp photo"
            await _set_vcard_temp(o, "Set in Pidgin", vcard_photo)
            items = await _pep_items(o, NS_AVATAR_META)
            assert hashlib.sha1(vcard_photo).hexdigest() in items, f"the vCard-temp photo is not the PEP avatar: {items}"
            return avatar_id
    return run(body(), timeout)
