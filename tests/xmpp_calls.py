"""Calls, from the client's side: the STUN/TURN services the server announces (XEP-0215)."""

import time
import xml.etree.ElementTree as ET

from tests.xmpp import DEFAULT_TIMEOUT, STEP_TIMEOUT, _refusal, run, session

NS_EXTDISCO = "urn:xmpp:extdisco:2"


def _services_request(s, server):
    iq = s.xmpp.Iq(stype="get", sto=server)
    iq.xml.append(ET.Element(f"{{{NS_EXTDISCO}}}services"))
    return iq.send(timeout=STEP_TIMEOUT + 25)  # over s2s, the first hop may take a while


def external_services(target, user, timeout=DEFAULT_TIMEOUT):
    """What ``user`` gets from the realm for <services xmlns='urn:xmpp:extdisco:2'/>: a list of
    dicts of each service's attributes, and the time of the answer."""
    async def body():
        async with session(target, user, presence=False) as s:
            result = await _services_request(s, target.realm)
            services = result.xml.find(f"{{{NS_EXTDISCO}}}services")
            assert services is not None, result
            return [dict(service.attrib) for service in services.findall(f"{{{NS_EXTDISCO}}}service")], time.time()
    return run(body(), timeout)


def external_services_refusal(target, user, server, timeout=DEFAULT_TIMEOUT):
    """The error condition when ``user`` (e.g. of another server) asks ``server`` for its
    external services."""
    async def body():
        async with session(target, user, presence=False) as s:
            return await _refusal(_services_request(s, server))
    return run(body(), timeout)
