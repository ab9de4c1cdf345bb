"""The registry client, shared by the managers (resolving a tag to the digest a service pins) and
the nodes (pulling): the distribution API over HTTP (client), its auth challenges (auth), platform
selection from an index (platforms) and the registry settings of a daemon (settings). What a pull
does with the bytes (verify, unpack, record) belongs to the node's engine."""
