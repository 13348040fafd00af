"""Offline helpers of the eldwyn-xmpp deploy: data validation, Lua rendering, PKI, secrets.

Nothing in this package talks to a host: tasks/ and deploy.py do that with what it returns.
"""
