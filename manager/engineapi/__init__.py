"""The Docker Engine API on a manager (issue #17): the real `docker` CLI drives svc's services and nodes.

A thin adapter with two parts and one rule: no second implementation of any cluster rule.
`server.py` is the aiohttp server on a root-only unix socket; each endpoint calls the manager's own
ControlService in-process. `shapes.py` is pure: svc's messages to Docker's JSON and back, filters,
and the one mapping of svc's errors to HTTP status codes.
"""
