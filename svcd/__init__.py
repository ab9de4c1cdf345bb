"""svcd: the daemons' composition root, the one package that imports both manager/ and node/.

See main.py for the roles, roles.py for how each is assembled, lifecycle.py for how a daemon
starts and stops, datadir.py for the role record and the data-dir lock.
"""
