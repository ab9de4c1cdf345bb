"""Pulling an image into the engine's store: fetch through the shared client (svc.registry), verify
every byte, unpack, record."""
