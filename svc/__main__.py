from svc.cli.main import run

run()
