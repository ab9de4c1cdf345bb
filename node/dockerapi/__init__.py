"""The Docker Engine API of a node's engine (`svcd node`, `<run dir>/node-docker.sock`): docs/docker-api.md."""
