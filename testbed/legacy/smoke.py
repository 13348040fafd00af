"""Smoke test of a running legacy Eldwyn (testbed/legacy/up), from this machine's namespace.

    .venv/bin/python testbed/legacy/smoke.py [-v]     (-v: slixmpp debug log)

(Re-)creates alice@cslabs.clarkson.edu with prosodyctl over SSH (into the SQL store), logs in
over c2s 5222 with STARTTLS verifying the certificate against the legacy CA for
cslabs.clarkson.edu, creates the persistent room lobby@muc.comm.cslabs.clarkson.edu with one
message, sends admin@ a message (offline: to its archive), uploads a file through
upload.comm.cslabs.clarkson.edu (HTTPS 5281, checked against the same CA) and fetches it back,
then lists what that left under /var/lib/prosody. Network: 10.231.5.2 only.
"""

import asyncio
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET

import slixmpp

CACHE = "/var/cache/eldwyn-testbed"
SSH = ["ssh", "-F", f"{CACHE}/legacy-ssh/config", "-o", "BatchMode=yes", "legacy-eldwyn"]
CA = f"{CACHE}/legacy-ca.crt"
ADDR = "10.231.5.2"
REALM = "cslabs.clarkson.edu"
MUC = f"muc.comm.{REALM}"
UPLOAD = f"upload.comm.{REALM}"
ROOM = f"lobby@{MUC}"
HTTP_UPLOAD = "urn:xmpp:http:upload:0"


def ssh(command, check=True):
    return subprocess.run(SSH + [command], check=check, capture_output=True, text=True).stdout


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.ca_certs = CA  # verify against the legacy CA only (hostname: the realm)
        self.enable_direct_tls = False  # 5222 is STARTTLS only (slixmpp would try direct TLS first)
        self.enable_starttls = True
        self.enable_plaintext = False
        self.result = {}
        for plugin in ("xep_0030", "xep_0004", "xep_0045"):
            self.register_plugin(plugin)
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("ssl_invalid_chain", lambda e: self.fail(f"certificate rejected: {e}"))

    def fail(self, why):
        self.result["error"] = why
        self.disconnect()

    async def start(self, _):
        try:
            tls = self.transport.get_extra_info("ssl_object")
            cert = tls.getpeercert()
            self.result["tls"] = (tls.version(), dict(x[0] for x in cert["subject"]),
                                  cert.get("subjectAltName"))
            self.send_presence()
            await self.get_roster()
            await self.room()
            self.send_message(mto=f"admin@{REALM}", mbody="hello admin (offline)", mtype="chat")
            await self.upload()
        except Exception as e:  # noqa: BLE001 - reported, the script exits non-zero
            self.result["error"] = f"{type(e).__name__}: {e}"
        self.disconnect()

    async def room(self):
        muc = self.plugin["xep_0045"]
        await muc.join_muc_wait(slixmpp.JID(ROOM), "alice", timeout=15)
        form = self.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/muc#roomconfig")
        form.add_field(var="muc#roomconfig_persistentroom", ftype="boolean", value=True)
        form.add_field(var="muc#roomconfig_roomname", value="Lobby")
        await muc.set_room_config(slixmpp.JID(ROOM), form)
        self.send_message(mto=ROOM, mbody="hello room", mtype="groupchat")
        self.result["room"] = ROOM

    async def upload(self):
        data = b"hello from the legacy smoke test\n"
        iq = self.make_iq_get(ito=UPLOAD)
        iq.append(ET.Element(f"{{{HTTP_UPLOAD}}}request", filename="hello.txt",
                             size=str(len(data)), **{"content-type": "text/plain"}))
        slot = (await iq.send(timeout=15)).xml.find(f"{{{HTTP_UPLOAD}}}slot")
        put = slot.find(f"{{{HTTP_UPLOAD}}}put")
        get_url = slot.find(f"{{{HTTP_UPLOAD}}}get").get("url")
        headers = [f"{h.get('name')}: {h.text}" for h in put.findall(f"{{{HTTP_UPLOAD}}}header")]
        curl = ["curl", "-sS", "--fail", "--cacert", CA, "--resolve", f"{UPLOAD}:5281:{ADDR}"]
        subprocess.run(curl + ["-X", "PUT", "-H", "Content-Type: text/plain", "--data-binary", "@-"]
                       + sum((["-H", h] for h in headers), []) + [put.get("url")],
                       input=data, check=True, capture_output=True)
        back = subprocess.run(curl + [get_url], check=True, capture_output=True).stdout
        assert back == data, back
        self.result["upload"] = get_url


def main():
    if "-v" in sys.argv:
        import logging
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)-8s %(message)s")
    password = secrets.token_urlsafe(12)
    ssh(f"sudo prosodyctl deluser alice@{REALM}", check=False)
    ssh(f"sudo prosodyctl register alice {REALM} {password}")
    client = Client(f"alice@{REALM}", password)
    client.connect(ADDR, 5222)  # STARTTLS (the default), SNI and verification for the realm
    loop = asyncio.get_event_loop()
    loop.run_until_complete(asyncio.wait_for(client.disconnected, 60))
    client.cancel_connection_attempt()
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for key, value in client.result.items():
        print(f"{key}: {value}")
    print(ssh("sudo find /var/lib/prosody -mindepth 1 -not -name '*.crt' -not -name '*.key' | sort"))
    print(ssh("sudo sqlite3 /var/lib/prosody/prosody.sqlite "
              "'select host, store, count(*) from prosody group by 1, 2' "
              "'select host, store, count(*) from prosodyarchive group by 1, 2'"))
    ok = "error" not in client.result and {"tls", "room", "upload"} <= client.result.keys()
    print("smoke: ok" if ok else "smoke: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
