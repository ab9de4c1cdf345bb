#!/usr/bin/env bash
# Regenerate svc/v1 from proto/svc/v1. The generated modules are checked in;
# tests/unit/test_proto_generated.py fails if they drift from the sources.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here}
python=${PYTHON:-python3}
cd "$here"
"$python" -m grpc_tools.protoc -I proto --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" proto/svc/v1/*.proto
touch "$out/svc/v1/__init__.py"
