"""A registry client following the OCI distribution spec: references, platforms, auth, pull.

Nothing here trusts the network: every manifest and blob is checked for size, then digest, before use,
and every layer's diff id is checked after decompression (by the image store).
"""
