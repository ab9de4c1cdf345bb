"""Compose files as stacks (`svc stack`): loader (read, interpolate, validate, merge), convert (the
stack's objects), plan (what a deploy writes). Pure; the CLI (svc/cli/stack.py) does the calls."""
