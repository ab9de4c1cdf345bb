"""What every Docker Engine API server of svc shares (a manager's, a node's): pure protocol rules in
proto.py, the aiohttp glue (answers, errors, routes with and without `/v1.NN`, the root-only socket,
hijacked streams) in http.py. Neither imports a daemon."""
