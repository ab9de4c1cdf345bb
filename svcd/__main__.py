"""`python -m svcd`: the same as the `svcd` command."""

from svcd.main import run

run()
