"""The Docker Engine API on a manager (issue #17): the real `docker` CLI drives svc's services, nodes,
networks, secrets, configs and stacks.

A thin adapter with one rule: no second implementation of any cluster rule. `server.py` serves the
app on a root-only unix socket (and on TCP with the cluster's mutual TLS, for admins: `tcp.py`); one
module per resource turns each request into in-process ControlService calls (`base.py`); the pure
modules (`shapes`, `specin`, `updateconfig`, `objshapes`) write svc's messages as Docker's JSON and read
Docker's back. The protocol rules and the aiohttp glue both daemons' servers share (the API version,
the one mapping of svc's errors to HTTP status codes, filters, stdcopy frames, times, the root-only
socket) are svc/dockerapi's.
"""
