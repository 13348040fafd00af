#!/usr/bin/env python3
"""xmppload: a lean asyncio XMPP c2s load generator (standard library only).

Two commands:

``xmppload.py run ...``
    Opens N concurrent authenticated c2s sessions (STARTTLS, SASL SCRAM-SHA-1/-256 or PLAIN,
    resource binding) with bounded concurrency, sends M messages between random pairs of them
    (each to the recipient's full JID, carrying an id and a send timestamp), waits until every
    message is delivered or a timeout, then counts each message in the sender's and in the
    recipient's MAM archive (XEP-0313, urn:xmpp:mam:2) by paging through them. Writes a JSON
    result and a short human summary, including the generator's CPU time against wall time
    (and the server's and the whole machine's, when given the server's pid) so that a run
    says which side was the limit.

``xmppload.py accounts ...``
    Prints the ``prosodyctl shell`` lines creating the N accounts the run logs in with:
    ``user:create("load0001@load.test", "password", "prosody:member")``, one per line.

Why not slixmpp: one asyncio process must hold 1,000+ sessions and move thousands of
messages per second while measuring someone else's CPU; slixmpp's per-stanza cost (full
stanza objects, plugin dispatch, XML serialisation) makes the client the bottleneck well
before Prosody. Here a stanza costs one expat parse into ElementTree elements and a format
string; nothing else runs per message.

Delivery is made deterministic by sending to the full JID the server bound: Prosody routes a
message to a full JID straight to that session, with no presence, priority or offline store
involved, and mod_mam archives it on both sides (c2s "pre-message/full" for the sender,
"message/full" for the recipient), so M messages must give exactly 2*M archive entries.
"""

import argparse
import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import math
import os
import random
import resource
import ssl
import sys
import time
from xml.etree.ElementTree import Element, SubElement
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_MAM = "urn:xmpp:mam:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_RSM = "http://jabber.org/protocol/rsm"

T_FEATURES = f"{{{NS_STREAM}}}features"
T_STREAM_ERROR = f"{{{NS_STREAM}}}error"
T_STARTTLS = f"{{{NS_TLS}}}starttls"
T_PROCEED = f"{{{NS_TLS}}}proceed"
T_MECHANISMS = f"{{{NS_SASL}}}mechanisms"
T_MECHANISM = f"{{{NS_SASL}}}mechanism"
T_CHALLENGE = f"{{{NS_SASL}}}challenge"
T_SUCCESS = f"{{{NS_SASL}}}success"
T_FAILURE = f"{{{NS_SASL}}}failure"
T_BIND = f"{{{NS_BIND}}}bind"
T_JID = f"{{{NS_BIND}}}jid"
T_SESSION = f"{{{NS_SESSION}}}session"
T_OPTIONAL = f"{{{NS_SESSION}}}optional"
T_MESSAGE = f"{{{NS_CLIENT}}}message"
T_IQ = f"{{{NS_CLIENT}}}iq"
T_BODY = f"{{{NS_CLIENT}}}body"
T_MAM_RESULT = f"{{{NS_MAM}}}result"
T_MAM_FIN = f"{{{NS_MAM}}}fin"
T_FORWARDED = f"{{{NS_FORWARD}}}forwarded"
T_RSM_SET = f"{{{NS_RSM}}}set"
T_RSM_COUNT = f"{{{NS_RSM}}}count"
T_RSM_LAST = f"{{{NS_RSM}}}last"

SCRAM_HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}
SASL_PREFERENCE = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")  # for --sasl auto


class XmppError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Measurement helpers


def _proc_cpu_seconds(pid):
    """utime+stime of a process (all its threads), or None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _machine_cpu():
    """(busy, total) jiffies of the whole machine from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return None


def _schedstat_wait_s(pid="self"):
    """Seconds the (main thread of the) process spent runnable but waiting for a CPU."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _proc_write_bytes(pid):
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class Meter:
    """Wall, generator CPU, server CPU and machine CPU over one phase; with a server pid, also
    how often the server was seen running (R), waiting for the disk (D) or idle (S), sampled
    every 20 ms, and the bytes it made the kernel write to disk."""

    SAMPLE_S = 0.02

    def __init__(self, server_pid=None):
        self.server_pid = server_pid
        self.states = {}
        self.sampler = None

    async def _sample(self):
        while True:
            state = _proc_state(self.server_pid)
            if state:
                self.states[state] = self.states.get(state, 0) + 1
            await asyncio.sleep(self.SAMPLE_S)

    def __enter__(self):
        self.wall0 = time.perf_counter()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu0 = ru.ru_utime + ru.ru_stime
        self.server0 = _proc_cpu_seconds(self.server_pid) if self.server_pid else None
        self.io0 = _proc_write_bytes(self.server_pid) if self.server_pid else None
        self.wait0 = _schedstat_wait_s()
        self.server_wait0 = _schedstat_wait_s(self.server_pid) if self.server_pid else None
        self.machine0 = _machine_cpu()
        if self.server_pid:
            try:
                self.sampler = asyncio.get_running_loop().create_task(self._sample())
            except RuntimeError:
                self.sampler = None
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        wall = time.perf_counter() - self.wall0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu = ru.ru_utime + ru.ru_stime - self.cpu0
        self.result = {
            "wall_s": round(wall, 3),
            "generator_cpu_s": round(cpu, 3),
            "generator_cpu_share": round(cpu / wall, 3) if wall > 0 else None,
        }
        if self.server0 is not None:
            now = _proc_cpu_seconds(self.server_pid)
            if now is not None:
                self.result["server_cpu_s"] = round(now - self.server0, 3)
                self.result["server_cpu_share"] = round((now - self.server0) / wall, 3) if wall else None
        wait1 = _schedstat_wait_s()
        if self.wait0 is not None and wait1 is not None and wall > 0:
            self.result["generator_cpu_wait_share"] = round((wait1 - self.wait0) / wall, 3)
        if self.server_wait0 is not None:
            wait1 = _schedstat_wait_s(self.server_pid)
            if wait1 is not None and wall > 0:
                self.result["server_cpu_wait_share"] = round((wait1 - self.server_wait0) / wall, 3)
        if self.sampler is not None:
            self.sampler.cancel()
            total = sum(self.states.values())
            if total:
                self.result["server_state_samples"] = {
                    k: round(v / total, 3) for k, v in sorted(self.states.items())
                }
        if self.io0 is not None:
            io1 = _proc_write_bytes(self.server_pid)
            if io1 is not None:
                self.result["server_disk_write_mib"] = round((io1 - self.io0) / 2**20, 2)
        m1 = _machine_cpu()
        if self.machine0 and m1 and m1[1] > self.machine0[1]:
            share = (m1[0] - self.machine0[0]) / (m1[1] - self.machine0[1])
            self.result["machine_cpu_busy_cores"] = round(share * (os.cpu_count() or 1), 3)
            self.result["machine_cores"] = os.cpu_count()
        return self.result


def limit_of(phase, rate=None, idle="the window (Little's law: throughput = window / latency)"):
    """Which side limited a phase, from its CPU, CPU-wait, disk-wait and machine figures.

    The generator's CPU-wait is its main thread's only (SCRAM's PBKDF2 runs in helper threads,
    whose CPU is in generator_cpu_share)."""
    gen = phase.get("generator_cpu_share") or 0
    gen_wait = phase.get("generator_cpu_wait_share") or 0
    srv = phase.get("server_cpu_share")
    srv_wait = phase.get("server_cpu_wait_share") or 0
    busy = phase.get("machine_cpu_busy_cores")
    cores = phase.get("machine_cores") or 1
    disk = (phase.get("server_state_samples") or {}).get("D", 0)
    if (phase.get("wall_s") or 0) < 0.5:
        return "phase too short to tell"
    if rate:
        if gen + gen_wait >= 0.9:
            return f"generator could barely keep the rate (CPU {gen:.0%} + {gen_wait:.0%} waiting for a core)"
        return "target rate (neither side saturated)"
    if gen >= 0.9 or gen + gen_wait >= 0.95:
        return f"generator (its thread busy: {gen:.0%} on CPU + {gen_wait:.0%} waiting for a core)"
    if srv is None:
        return (f"not the generator (CPU {gen:.0%}); give --server-pid to see the server's share")
    if srv >= 0.9:
        return f"server CPU (Prosody {srv:.0%} of one core; it is single-threaded)"
    if srv + srv_wait >= 0.9:
        return (f"server CPU, under contention (Prosody's one thread never idle: {srv:.0%} on CPU"
                f" + {srv_wait:.0%} waiting for a core; machine {busy} of {cores} cores busy)")
    if disk >= 0.1:
        return (f"server storage I/O (Prosody on CPU {srv:.0%}, waiting for a core {srv_wait:.0%},"
                f" in disk wait in {disk:.0%} of samples: its one thread blocks on synchronous"
                " store writes)")
    if busy is not None and busy >= 0.9 * cores:
        return f"machine ({busy} of {cores} cores busy with other load)"
    return f"neither side saturated (generator {gen:.0%}, server {srv:.0%}): {idle}"


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values) - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --------------------------------------------------------------------------------------------
# SASL


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


class Scram:
    def __init__(self, mechanism, username, password):
        self.hash = SCRAM_HASHES[mechanism]
        self.password = password.encode("utf-8")
        self.nonce = base64.b64encode(os.urandom(18)).decode("ascii")
        self.gs2 = "n,,"  # the client does not do channel binding (-PLUS is never chosen)
        self.first_bare = f"n={_saslname(username)},r={self.nonce}"

    def initial(self):
        return (self.gs2 + self.first_bare).encode("utf-8")

    def salt_and_iterations(self, challenge):
        self.server_first = challenge.decode("utf-8")
        attrs = dict(part.split("=", 1) for part in self.server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise XmppError("SCRAM: server nonce does not extend ours")
        self.server_nonce = attrs["r"]
        return base64.b64decode(attrs["s"]), int(attrs["i"])

    def salted(self, salt, iterations):  # the expensive step: run it in a thread
        return hashlib.pbkdf2_hmac(self.hash, self.password, salt, iterations)

    def final(self, salted):
        h = self.hash
        client_key = hmac.new(salted, b"Client Key", h).digest()
        stored_key = hashlib.new(h, client_key).digest()
        without_proof = f"c={_b64(self.gs2.encode())},r={self.server_nonce}"
        auth_message = f"{self.first_bare},{self.server_first},{without_proof}".encode("utf-8")
        signature = hmac.new(stored_key, auth_message, h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", h).digest()
        self.server_signature = hmac.new(server_key, auth_message, h).digest()
        return f"{without_proof},p={_b64(proof)}".encode("utf-8")

    def verify(self, success_data):
        attrs = dict(part.split("=", 1) for part in success_data.decode("utf-8").split(","))
        if "v" not in attrs or not hmac.compare_digest(
            base64.b64decode(attrs["v"]), self.server_signature
        ):
            raise XmppError("SCRAM: wrong server signature")


# --------------------------------------------------------------------------------------------
# One c2s connection


class Connection(asyncio.Protocol):
    """One XMPP c2s session. Stanzas go to a queue while the stream is being set up, then to
    ``self.dispatch`` (set by the load run) for the rest of its life."""

    def __init__(self, loop, username, index):
        self.loop = loop
        self.username = username
        self.index = index
        self.transport = None
        self.jid = None
        self.closed = False
        self.close_reason = None
        self.dispatch = None
        self.queue = []
        self.waiter = None
        self.pending_iq = {}
        self._new_parser()

    # --- expat: elements at depth 1 are stanzas, built as ElementTree elements
    def _new_parser(self):
        p = expat.ParserCreate(namespace_separator="}")
        p.buffer_text = True
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        self.parser = p
        self.depth = 0
        self.stack = []

    def _start(self, name, attrs):
        tag = "{" + name if "}" in name else name
        depth = self.depth
        self.depth = depth + 1
        if depth == 0:
            if tag != f"{{{NS_STREAM}}}stream":
                raise XmppError(f"not an XMPP stream: {tag}")
            self.stream_id = attrs.get("id")
        elif depth == 1:
            self.stack = [Element(tag, attrs)]
        else:
            self.stack.append(SubElement(self.stack[-1], tag, attrs))

    def _end(self, name):
        self.depth -= 1
        if self.depth == 1:
            self._stanza(self.stack.pop())
        elif self.depth > 1:
            self.stack.pop()
        else:
            self._lost("server closed the stream")

    def _text(self, data):
        if self.depth > 1:
            el = self.stack[-1]
            if len(el):
                last = el[-1]
                last.tail = (last.tail or "") + data
            else:
                el.text = (el.text or "") + data

    def _stanza(self, el):
        if el.tag == T_IQ and el.get("id") in self.pending_iq:
            future = self.pending_iq.pop(el.get("id"))
            if not future.done():
                future.set_result(el)
            return
        if el.tag == T_STREAM_ERROR:
            self._lost("stream error: " + ",".join(child.tag.split("}")[-1] for child in el))
            return
        if self.dispatch is not None:
            self.dispatch(self, el)
            return
        self.queue.append(el)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # --- asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        try:
            self.parser.Parse(data, False)
        except (expat.ExpatError, XmppError) as e:
            self._lost(f"bad XML from server: {e}")
            if self.transport is not None:
                self.transport.close()

    def eof_received(self):
        self._lost("server closed the connection")
        return False

    def connection_lost(self, exc):
        self._lost(f"connection lost: {exc}" if exc else "connection closed")

    def _lost(self, reason):
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        error = XmppError(reason)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        for future in self.pending_iq.values():
            if not future.done():
                future.set_exception(error)
        self.pending_iq.clear()

    # --- helpers for the set-up phase
    def send(self, data):
        self.transport.write(data.encode("utf-8") if isinstance(data, str) else data)

    async def recv(self, timeout):
        while not self.queue:
            if self.closed:
                raise XmppError(self.close_reason)
            self.waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self.waiter, timeout)
            except asyncio.TimeoutError:
                raise XmppError("timed out waiting for the server") from None
            finally:
                self.waiter = None
        return self.queue.pop(0)

    async def iq(self, iq_id, xml, timeout):
        future = self.loop.create_future()
        self.pending_iq[iq_id] = future
        self.send(xml)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self.pending_iq.pop(iq_id, None)
            raise XmppError(f"iq {iq_id} timed out") from None

    def _open_stream(self, domain):
        self._new_parser()
        self.queue.clear()
        self.send(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
            f" xmlns:stream='{NS_STREAM}' to={quoteattr(domain)} version='1.0'"
            f" from={quoteattr(self.username + '@' + domain)}>"
        )

    async def _features(self, timeout):
        el = await self.recv(timeout)
        if el.tag != T_FEATURES:
            raise XmppError(f"expected stream features, got {el.tag}")
        return el

    async def establish(self, opts, ssl_context):
        """Connect, STARTTLS, authenticate, bind. Raises XmppError on any failure."""
        t = opts.connect_timeout
        self.transport, _ = await asyncio.wait_for(
            self.loop.create_connection(lambda: self, opts.host, opts.port), t
        )
        self._open_stream(opts.domain)
        features = await self._features(t)
        if ssl_context is not None:
            if features.find(T_STARTTLS) is None:
                raise XmppError("server offers no STARTTLS")
            self.send(f"<starttls xmlns='{NS_TLS}'/>")
            el = await self.recv(t)
            if el.tag != T_PROCEED:
                raise XmppError(f"STARTTLS refused: {el.tag}")
            self.transport = await asyncio.wait_for(
                self.loop.start_tls(
                    self.transport, self, ssl_context, server_hostname=opts.tls_name
                ),
                t,
            )
            self._open_stream(opts.domain)
            features = await self._features(t)
        await self._authenticate(features, opts, t)
        self._open_stream(opts.domain)
        features = await self._features(t)
        if features.find(T_BIND) is None:
            raise XmppError("server offers no resource binding")
        resource_name = f"{opts.resource}{self.index}"
        result = await self.iq(
            "bind",
            f"<iq type='set' id='bind'><bind xmlns='{NS_BIND}'>"
            f"<resource>{escape(resource_name)}</resource></bind></iq>",
            t,
        )
        jid = result.find(f"{T_BIND}/{T_JID}")
        if result.get("type") != "result" or jid is None or not jid.text:
            raise XmppError("resource binding failed")
        self.jid = jid.text
        session = features.find(T_SESSION)
        if session is not None and session.find(T_OPTIONAL) is None:
            await self.iq("sess", f"<iq type='set' id='sess'><session xmlns='{NS_SESSION}'/></iq>", t)

    async def _authenticate(self, features, opts, t):
        offered = [m.text for m in features.iter(T_MECHANISM)]
        if opts.sasl == "auto":
            choices = [m for m in SASL_PREFERENCE if m in offered]
            if not choices:
                raise XmppError(f"no supported SASL mechanism in {offered}")
            mechanism = choices[0]
        else:
            mechanism = opts.sasl
            if mechanism not in offered:
                raise XmppError(f"server does not offer {mechanism} (offers {offered})")
        self.mechanism = mechanism
        if mechanism == "PLAIN":
            token = f"\0{self.username}\0{opts.password}".encode("utf-8")
            self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{_b64(token)}</auth>")
        else:
            scram = Scram(mechanism, self.username, opts.password)
            self.send(f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>{_b64(scram.initial())}</auth>")
            el = await self.recv(t)
            if el.tag != T_CHALLENGE:
                raise XmppError(f"SASL {mechanism}: {el.tag.split('}')[-1]} {_sasl_condition(el)}")
            salt, iterations = scram.salt_and_iterations(base64.b64decode(el.text or ""))
            salted = await self.loop.run_in_executor(None, scram.salted, salt, iterations)
            self.send(f"<response xmlns='{NS_SASL}'>{_b64(scram.final(salted))}</response>")
        el = await self.recv(t)
        if el.tag != T_SUCCESS:
            raise XmppError(f"SASL {mechanism} failed: {_sasl_condition(el)}")
        if mechanism != "PLAIN":
            scram.verify(base64.b64decode(el.text or ""))

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.transport.write(b"</stream:stream>")
            except Exception:
                pass
            self.transport.close()


def _sasl_condition(el):
    return ",".join(child.tag.split("}")[-1] for child in el) or "(no condition)"


def _bare(jid):
    return jid.split("/", 1)[0] if jid else jid


# --------------------------------------------------------------------------------------------
# The load run


def make_ssl_context(opts):
    if opts.no_tls:
        return None
    if opts.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        if not opts.ca_file:
            raise SystemExit("xmppload: --ca-file is required unless --insecure is given")
        context = ssl.create_default_context(cafile=opts.ca_file)
    return context


def usernames(prefix, count, first=1):
    width = max(4, len(str(first + count - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(first, first + count)]


class LoadRun:
    def __init__(self, opts):
        self.opts = opts
        self.loop = asyncio.get_running_loop()
        self.run_id = opts.run_id or f"{int(time.time()):x}{random.randrange(16**4):04x}"
        self.prefix = f"xl-{self.run_id}-"
        self.result = {
            "tool": "xmppload",
            "run_id": self.run_id,
            "label": opts.label,
            "python": sys.version.split()[0],
            "options": {
                k: v for k, v in vars(opts).items()
                if k not in ("password", "func", "json", "summary")
            },
        }

    # --- phase 1: sessions
    async def connect_all(self):
        opts = self.opts
        ssl_context = make_ssl_context(opts)
        names = usernames(opts.prefix, opts.users, opts.first)
        self.conns = [Connection(self.loop, name, i) for i, name in enumerate(names)]
        gate = asyncio.Semaphore(opts.connect_concurrency)
        errors = {}

        async def one(conn):
            async with gate:
                try:
                    await conn.establish(opts, ssl_context)
                    return True
                except (XmppError, OSError, asyncio.TimeoutError, ssl.SSLError) as e:
                    key = f"{type(e).__name__}: {e}"[:200]
                    errors[key] = errors.get(key, 0) + 1
                    conn.close()
                    return False

        with Meter(opts.server_pid) as meter:
            ok = await asyncio.gather(*(one(c) for c in self.conns))
        self.live = [c for c, good in zip(self.conns, ok) if good]
        self.result["sessions"] = {
            "requested": opts.users,
            "established": len(self.live),
            "failed": opts.users - len(self.live),
            "errors": errors,
            "sasl_mechanism": getattr(self.live[0], "mechanism", None) if self.live else None,
            "connect_concurrency": opts.connect_concurrency,
            "sessions_per_s": round(len(self.live) / meter.result["wall_s"], 1)
            if meter.result["wall_s"] else None,
            **meter.result,
        }

    # --- phase 2: messages
    def _on_stanza(self, conn, el):
        tag = el.tag
        if tag == T_MESSAGE:
            mam = el.find(T_MAM_RESULT)
            if mam is not None:
                self._on_mam_result(conn, mam)
                return
            msg_id = el.get("id")
            if not msg_id or not msg_id.startswith(self.prefix):
                self.stray += 1
                return
            try:
                seq = int(msg_id[len(self.prefix):])
            except ValueError:
                self.stray += 1
                return
            if not 0 <= seq < self.total:
                self.stray += 1
                return
            if el.get("type") == "error":
                if self.state[seq] == 1:
                    self.state[seq] = 3
                    self.bounced += 1
                    self.window.release()
                    self._maybe_done()
                return
            now = time.monotonic_ns()
            if self.state[seq] != 1:
                self.duplicates += 1
                return
            if self.recipient[seq] != conn.index:
                self.misrouted += 1
            body = el.findtext(T_BODY) or ""
            try:
                sent_ns = int(body.split()[1])
            except (IndexError, ValueError):
                sent_ns = self.sent_ns[seq]
            self.state[seq] = 2
            self.latencies.append(now - sent_ns)
            self.delivered += 1
            self.last_delivery = now
            self.window.release()
            self._maybe_done()
        elif tag == T_IQ and el.get("type") == "get":
            # answer pings and anything else with an error, as a client must
            ping = el.find("{urn:xmpp:ping}ping")
            if ping is not None:
                reply = f"<iq type='result' id={quoteattr(el.get('id', ''))}/>"
            else:
                reply = (
                    f"<iq type='error' id={quoteattr(el.get('id', ''))}><error type='cancel'>"
                    "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                )
            if el.get("from"):
                reply = reply.replace("<iq ", f"<iq to={quoteattr(el.get('from'))} ", 1)
            conn.send(reply)
        else:
            self.other_stanzas += 1

    def _maybe_done(self):
        if self.delivered + self.bounced >= self.target and not self.all_done.done():
            self.all_done.set_result(None)

    def prepare_messages(self):
        """Draw every message's pair (both phases) and route the sessions' stanzas to us."""
        opts = self.opts
        live = self.live
        rng = random.Random(opts.seed)
        m = opts.messages + opts.paced_messages
        self.total = m
        self.sender = [0] * m
        self.recipient = [0] * m
        self.state = bytearray(m)  # 0 unsent, 1 in flight, 2 delivered, 3 bounced
        self.sent_ns = [0] * m
        self.latencies = []
        self.delivered = self.bounced = self.duplicates = self.misrouted = 0
        self.stray = self.other_stanzas = 0
        self.target = 0
        self.all_done = self.loop.create_future()
        self.by_index = {c.index: c for c in live}
        # Pairs are drawn among the sessions that are up; sender != recipient.
        for seq in range(m):
            s = rng.randrange(len(live))
            r = rng.randrange(len(live) - 1)
            if r >= s:
                r += 1
            self.sender[seq] = live[s].index
            self.recipient[seq] = live[r].index
        for c in live:
            c.dispatch = self._on_stanza

    def _maybe_done(self):
        if self.delivered + self.bounced >= self.target and not self.all_done.done():
            self.all_done.set_result(None)

    async def send_phase(self, key, lo, hi, window, rate):
        """Send messages lo..hi-1: at most `window` in flight, at `rate` msg/s if rate > 0;
        then wait for their delivery (or --deliver-timeout). Result in self.result[key]."""
        opts = self.opts
        live = self.live
        by_index = self.by_index
        base_delivered, base_bounced = self.delivered, self.bounced
        base_dup, base_misrouted = self.duplicates, self.misrouted
        self.latencies = []
        self.window = asyncio.Semaphore(window)
        self.all_done = self.loop.create_future()
        self.target = base_delivered + base_bounced + (hi - lo)  # lowered below if fewer are sent
        self._maybe_done()
        sent = 0
        self.last_delivery = None

        meter = Meter(opts.server_pid).__enter__()
        start_ns = time.monotonic_ns()
        interval_ns = int(1e9 / rate) if rate > 0 else 0
        send_deadline = time.monotonic() + opts.send_timeout
        prefix = self.prefix
        try:
            for seq in range(lo, hi):
                if interval_ns:
                    ahead = start_ns + (seq - lo) * interval_ns - time.monotonic_ns()
                    if ahead > 1_000_000:
                        await asyncio.sleep(ahead / 1e9)
                remaining = send_deadline - time.monotonic()
                if remaining <= 0:
                    raise asyncio.TimeoutError
                if self.window.locked():
                    await asyncio.wait_for(self.window.acquire(), remaining)
                else:
                    await self.window.acquire()
                sender = by_index[self.sender[seq]]
                recipient = by_index[self.recipient[seq]]
                if sender.closed:
                    self.window.release()
                    continue
                now = time.monotonic_ns()
                self.sent_ns[seq] = now
                self.state[seq] = 1
                sender.transport.write(
                    f"<message to='{recipient.jid}' id='{prefix}{seq}' type='chat'>"
                    f"<body>{seq} {now}</body></message>".encode()
                )
                sent += 1
        except asyncio.TimeoutError:
            pass
        send_end_ns = time.monotonic_ns()
        self.target = base_delivered + base_bounced + sent  # unsent messages cannot arrive
        self._maybe_done()
        try:
            await asyncio.wait_for(asyncio.shield(self.all_done), opts.deliver_timeout)
        except asyncio.TimeoutError:
            pass
        meter.stop()
        delivered = self.delivered - base_delivered
        bounced = self.bounced - base_bounced
        end_ns = self.last_delivery or send_end_ns
        active_s = (end_ns - start_ns) / 1e9
        lat = sorted(self.latencies)
        ms = lambda ns: None if ns is None else round(ns / 1e6, 3)  # noqa: E731
        self.result[key] = {
            "requested": hi - lo,
            "sent": sent,
            "delivered": delivered,
            "lost": sent - delivered - bounced,
            "bounced_with_error": bounced,
            "duplicates": self.duplicates - base_dup,
            "misrouted": self.misrouted - base_misrouted,
            "window": window,
            "target_rate": rate or None,
            "send_s": round((send_end_ns - start_ns) / 1e9, 3),
            "first_send_to_last_delivery_s": round(active_s, 3),
            "msgs_per_s": round(delivered / active_s, 1) if active_s > 0 else None,
            "latency_ms": {
                "p50": ms(percentile(lat, 0.50)),
                "p90": ms(percentile(lat, 0.90)),
                "p99": ms(percentile(lat, 0.99)),
                "max": ms(lat[-1] if lat else None),
                "mean": ms(sum(lat) / len(lat) if lat else None),
            },
            **meter.result,
        }
        self.result[key]["limit"] = self._verdict(meter.result, rate)
        self.result["sessions"][f"held_after_{key}"] = sum(1 for c in live if not c.closed)
        self.result["sessions"]["dropped"] = {c.username: c.close_reason for c in live if c.closed}

    def _verdict(self, phase, rate):
        return limit_of(phase, rate)

    # --- phase 3: archives
    def _on_mam_result(self, conn, result):
        bucket = self.mam_buckets.get(result.get("queryid"))
        if bucket is None:
            return
        forwarded = result.find(T_FORWARDED)
        inner = forwarded.find(T_MESSAGE) if forwarded is not None else None
        if inner is None:
            bucket["other"] += 1
            return
        msg_id = inner.get("id") or ""
        if not msg_id.startswith(self.prefix):
            bucket["other"] += 1
            return
        try:
            seq = int(msg_id[len(self.prefix):])
        except ValueError:
            bucket["other"] += 1
            return
        own = _bare(conn.jid)
        if _bare(inner.get("from")) == own and self.sender[seq] == conn.index:
            self.archived_out[seq] += 1
        elif _bare(inner.get("to")) == own and self.recipient[seq] == conn.index:
            self.archived_in[seq] += 1
        else:
            bucket["other"] += 1

    async def count_archives(self):
        opts = self.opts
        self.archived_out = bytearray(self.total)
        self.archived_in = bytearray(self.total)
        self.mam_buckets = {}
        expected_per_user = {}
        for seq in range(self.total):
            if self.state[seq] in (1, 2):  # sent
                for idx in (self.sender[seq], self.recipient[seq]):
                    expected_per_user[idx] = expected_per_user.get(idx, 0) + 1
        gate = asyncio.Semaphore(opts.mam_concurrency)
        start = self.mam_start.strftime("%Y-%m-%dT%H:%M:%SZ")
        totals = {"queries": 0, "rsm_count_sum": 0, "rsm_count_missing": 0, "errors": {},
                  "count_mismatch_users": 0}

        async def one(conn):
            async with gate:
                after = None
                rsm_count = None
                seen_other = 0
                for page in range(10_000):
                    qid = f"mam{conn.index}p{page}"
                    self.mam_buckets[qid] = bucket = {"other": 0}
                    rsm = f"<max>{opts.mam_page}</max>"
                    if after:
                        rsm += f"<after>{escape(after)}</after>"
                    xml = (
                        f"<iq type='set' id='{qid}'><query xmlns='{NS_MAM}' queryid='{qid}'>"
                        f"<x xmlns='jabber:x:data' type='submit'>"
                        f"<field var='FORM_TYPE' type='hidden'><value>{NS_MAM}</value></field>"
                        f"<field var='start'><value>{start}</value></field></x>"
                        f"<set xmlns='{NS_RSM}'>{rsm}</set></query></iq>"
                    )
                    try:
                        reply = await conn.iq(qid, xml, opts.mam_timeout)
                    except XmppError as e:
                        key = str(e)[:200]
                        totals["errors"][key] = totals["errors"].get(key, 0) + 1
                        return
                    totals["queries"] += 1
                    seen_other += bucket["other"]
                    del self.mam_buckets[qid]
                    if reply.get("type") != "result":
                        key = "iq error: " + ",".join(
                            c.tag.split("}")[-1] for e in reply.iter() for c in e
                            if e.tag.endswith("error"))
                        totals["errors"][key] = totals["errors"].get(key, 0) + 1
                        return
                    fin = reply.find(T_MAM_FIN)
                    if fin is None:
                        totals["errors"]["no <fin/>"] = totals["errors"].get("no <fin/>", 0) + 1
                        return
                    rsm_set = fin.find(T_RSM_SET)
                    if page == 0:
                        count = rsm_set.findtext(T_RSM_COUNT) if rsm_set is not None else None
                        if count is None:
                            totals["rsm_count_missing"] += 1
                        else:
                            rsm_count = int(count)
                            totals["rsm_count_sum"] += rsm_count
                    last = rsm_set.findtext(T_RSM_LAST) if rsm_set is not None else None
                    if fin.get("complete") == "true" or not last:
                        break
                    after = last
                if rsm_count is not None and rsm_count - seen_other != expected_per_user.get(conn.index, 0):
                    totals["count_mismatch_users"] += 1

        live = [c for c in self.live if not c.closed]
        with Meter(opts.server_pid) as meter:
            await asyncio.gather(*(one(c) for c in live))
        sent = sum(1 for s in self.state if s in (1, 2))
        out_ok = sum(1 for seq in range(self.total) if self.state[seq] in (1, 2) and self.archived_out[seq])
        in_ok = sum(1 for seq in range(self.total) if self.state[seq] in (1, 2) and self.archived_in[seq])
        self.result["archive"] = {
            "method": f"MAM page-through (max {opts.mam_page}/page) of every session's own archive from {start}",
            "expected": 2 * sent,
            "archived": out_ok + in_ok,
            "sender_copies": out_ok,
            "recipient_copies": in_ok,
            "missing": 2 * sent - out_ok - in_ok,
            "duplicate_entries": sum(max(0, v - 1) for v in self.archived_out)
            + sum(max(0, v - 1) for v in self.archived_in),
            "rsm_count_sum": totals["rsm_count_sum"],
            "rsm_count_missing": totals["rsm_count_missing"],
            "users_whose_rsm_count_differs": totals["count_mismatch_users"],
            "queries": totals["queries"],
            "query_errors": totals["errors"],
            "sessions_queried": len(live),
            **meter.result,
        }

    async def run(self):
        opts = self.opts
        self.t_start = time.perf_counter()
        # MAM timestamps have one-second resolution: count from one second before the start.
        self.mam_start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
        try:
            await self.connect_all()
            print(self._line_sessions(), file=sys.stderr, flush=True)
            if len(self.live) < 2:
                print("xmppload: fewer than 2 sessions: no messages sent", file=sys.stderr)
                return self._finish()
            self.prepare_messages()
            m = opts.messages
            await self.send_phase("messages", 0, m, opts.window, opts.rate)
            print(self._line_messages("messages"), file=sys.stderr, flush=True)
            if opts.paced_messages:
                await self.send_phase("paced", m, m + opts.paced_messages, opts.paced_window, opts.paced_rate)
                print(self._line_messages("paced"), file=sys.stderr, flush=True)
            self.result["stray_stanzas"] = self.stray
            if opts.mam != "off":
                await asyncio.sleep(opts.mam_delay)
                await self.count_archives()
            self.result["sessions"]["held_at_end"] = sum(1 for c in self.live if not c.closed)
        finally:
            for c in getattr(self, "conns", []):
                c.close()
            await asyncio.sleep(0.2)
        return self._finish()

    def _finish(self):
        self.result["sessions"].setdefault("held_at_end", sum(1 for c in self.live if not c.closed))
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.result["process"] = {
            "wall_s": round(time.perf_counter() - self.t_start, 3),
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
            "max_rss_mib": round(ru.ru_maxrss / 1024, 1),
        }
        return self.result

    def _line_sessions(self):
        s = self.result["sessions"]
        return (f"xmppload: sessions {s['established']}/{s['requested']} in {s['wall_s']} s"
                f" ({s['sessions_per_s']}/s), errors {s['errors'] or 'none'}")

    def _line_messages(self, key):
        m = self.result[key]
        return (f"xmppload: {key} {m['delivered']}/{m['sent']} delivered, {m['msgs_per_s']} msg/s,"
                f" p50 {m['latency_ms']['p50']} ms p99 {m['latency_ms']['p99']} ms, lost {m['lost']}")


def summary(result):
    s = result["sessions"]
    a = result.get("archive")

    def cpu(phase):
        parts = [f"generator {phase['generator_cpu_share']:.0%}"]
        if phase.get("server_cpu_share") is not None:
            parts.append(f"server {phase['server_cpu_share']:.0%}")
        if phase.get("server_cpu_wait_share") is not None:
            parts.append(f"server waiting for a CPU {phase['server_cpu_wait_share']:.0%}")
        if phase.get("machine_cpu_busy_cores") is not None:
            parts.append(f"machine {phase['machine_cpu_busy_cores']:.2f}/{phase['machine_cores']} cores")
        text = ", ".join(parts) + " of wall time"
        states = phase.get("server_state_samples")
        if states:
            text += "; server seen " + " ".join(f"{k} {v:.0%}" for k, v in states.items())
        if phase.get("server_disk_write_mib") is not None:
            text += f", wrote {phase['server_disk_write_mib']} MiB"
        return text

    lines = [
        f"xmppload {result['label'] or ''} run {result['run_id']}".replace("  ", " "),
        f"  sessions   requested {s['requested']}, established {s['established']}, held to the end"
        f" {s.get('held_at_end', s.get('held_after_messages'))}; connect {s['wall_s']} s"
        f" ({s['sessions_per_s']}/s, SASL {s['sasl_mechanism']}); CPU: {cpu(s)}",
        f"    limit      {limit_of(s, idle='the connect concurrency')}",
    ]
    for key, title in (("messages", "as fast as the window allows"), ("paced", "paced")):
        m = result.get(key)
        if not m:
            continue
        lat = m["latency_ms"]
        how = f"window {m['window']}" if not m["target_rate"] else f"target {m['target_rate']:g} msg/s"
        lines += [
            f"  {key} ({title}, {how})",
            f"    sent {m['sent']}/{m['requested']}, delivered {m['delivered']}, lost {m['lost']}"
            f" (bounced {m['bounced_with_error']}, duplicates {m['duplicates']}, misrouted {m['misrouted']})",
            f"    throughput {m['msgs_per_s']} msg/s over {m['first_send_to_last_delivery_s']} s",
            f"    latency    p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, max {lat['max']} ms",
            f"    CPU        {cpu(m)}",
            f"    limit      {m.get('limit') or limit_of(m, m['target_rate'])}",
        ]
    if a:
        lines.append(
            f"  archived   {a['archived']}/{a['expected']} (sender copies {a['sender_copies']},"
            f" recipient copies {a['recipient_copies']}, missing {a['missing']}; RSM count sum"
            f" {a['rsm_count_sum']}, absent in {a['rsm_count_missing']} answers); {a['queries']} MAM"
            f" queries in {a['wall_s']} s, errors {a['query_errors'] or 'none'}"
        )
        lines.append(f"    CPU        {cpu(a)}")
        lines.append(f"    limit      {limit_of(a, idle='the MAM query concurrency')}")
    p = result["process"]
    lines.append(f"  generator  process CPU {p['cpu_s']} s over {p['wall_s']} s wall, max RSS {p['max_rss_mib']} MiB")
    return "\n".join(lines)


def cmd_run(opts):
    if opts.tls_name is None:
        opts.tls_name = opts.domain
    if opts.password is None:
        opts.password = os.environ.get("XMPPLOAD_PASSWORD")
    if not opts.password:
        raise SystemExit("xmppload: give --password or XMPPLOAD_PASSWORD")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = opts.users + 64
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))
        except (ValueError, OSError):
            pass
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
            raise SystemExit(f"xmppload: open-file limit too low for {opts.users} sessions: ulimit -n {need}")

    async def main():
        return await LoadRun(opts).run()

    result = asyncio.run(main())
    text = summary(result)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=False)
            f.write("\n")
    if opts.summary:
        with open(opts.summary, "w") as f:
            f.write(text + "\n")
    print(text)
    phases = [result[k] for k in ("messages", "paced") if k in result]
    a = result.get("archive")
    ok = (
        result["sessions"]["established"] == opts.users
        and all(p["lost"] == 0 and p["sent"] == p["requested"] for p in phases)
        and (a is None or a["missing"] == 0)
    )
    return 0 if ok else 1


# --------------------------------------------------------------------------------------------
# Accounts


def lua_quote(text):
    """A double-quoted Lua string literal for any text (same rules as eldwyn/lua.py)."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char.isprintable() and char not in "\r\n\t":
            out.append(char)
        else:
            out.extend(f"\\{b:03d}" for b in char.encode("utf-8"))
    return '"' + "".join(out) + '"'


def cmd_accounts(opts):
    password = opts.password or os.environ.get("XMPPLOAD_PASSWORD")
    if not password:
        raise SystemExit("xmppload: give --password or XMPPLOAD_PASSWORD")
    for name in usernames(opts.prefix, opts.users, opts.first):
        print(f"user:create({lua_quote(name + '@' + opts.domain)}, {lua_quote(password)}, \"prosody:member\")")
    return 0


def cmd_summary(opts):
    for path in opts.files:
        with open(path) as f:
            print(summary(json.load(f)))
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="xmppload", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--domain", required=True, help="the XMPP realm, e.g. load.test")
        p.add_argument("--users", "-n", type=int, required=True, help="number of accounts/sessions N")
        p.add_argument("--prefix", default="load", help="account name prefix (load0001, ...)")
        p.add_argument("--first", type=int, default=1, help="number of the first account")
        p.add_argument("--password", help="the accounts' password (or env XMPPLOAD_PASSWORD)")

    acc = sub.add_parser("accounts", help="print prosodyctl shell lines creating the accounts")
    common(acc)
    acc.set_defaults(func=cmd_accounts)

    show = sub.add_parser("summary", help="print the human summary of result JSON files")
    show.add_argument("files", nargs="+")
    show.set_defaults(func=cmd_summary)

    run = sub.add_parser("run", help="run the load")
    common(run)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=5222)
    run.add_argument("--tls-name", help="TLS server name (SNI and verification); default --domain")
    run.add_argument("--ca-file", help="CA certificate(s) to verify the server with")
    run.add_argument("--insecure", action="store_true", help="STARTTLS without verifying (dev only)")
    run.add_argument("--no-tls", action="store_true", help="no STARTTLS at all (servers allowing it)")
    run.add_argument("--sasl", default="SCRAM-SHA-1",
                     choices=["auto", "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"])
    run.add_argument("--resource", default="xl", help="resource prefix (session i binds <prefix><i>)")
    run.add_argument("--messages", "-m", type=int, required=True, help="number of messages M")
    run.add_argument("--window", type=int, default=500,
                     help="most messages in flight (sent, not yet delivered) at once")
    run.add_argument("--rate", type=float, default=0, help="target send rate, msg/s (0: as fast as the window allows)")
    run.add_argument("--paced-messages", type=int, default=0,
                     help="then a second phase of this many messages at --paced-rate, for latency below capacity")
    run.add_argument("--paced-rate", type=float, default=100, help="msg/s of the paced phase")
    run.add_argument("--paced-window", type=int, default=100_000, help="in-flight cap of the paced phase")
    run.add_argument("--connect-concurrency", type=int, default=50)
    run.add_argument("--connect-timeout", type=float, default=60)
    run.add_argument("--send-timeout", type=float, default=600, help="give up sending after this many s")
    run.add_argument("--deliver-timeout", type=float, default=60,
                     help="wait this long after the last send for outstanding deliveries")
    run.add_argument("--mam", default="page", choices=["page", "off"])
    run.add_argument("--mam-page", type=int, default=50, help="RSM page size (Prosody caps at 50 by default)")
    run.add_argument("--mam-concurrency", type=int, default=50)
    run.add_argument("--mam-timeout", type=float, default=60)
    run.add_argument("--mam-delay", type=float, default=0.5, help="pause before counting archives, s")
    run.add_argument("--seed", type=int, default=1, help="random pairs seed")
    run.add_argument("--run-id", help="tag in every message id (default: time-based)")
    run.add_argument("--server-pid", type=int, help="pid of the server, to report its CPU share")
    run.add_argument("--label", default="", help="free text, e.g. the storage backend")
    run.add_argument("--json", help="write the full result here")
    run.add_argument("--summary", help="write the human summary here")
    run.set_defaults(func=cmd_run)
    return parser.parse_args(argv)


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    return opts.func(opts)


if __name__ == "__main__":
    sys.exit(main())
