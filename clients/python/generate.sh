#!/usr/bin/env bash
# Regenerates src/raccoon_client/_pb/raccoon_pb2.py(i) from the repository's
# proto/ with grpcio-tools (pinned in pyproject.toml's dev extra). The output
# is committed so `pip install ./clients/python` needs no protoc;
# tests/unit/test_generated.py runs this into a temporary dir and compares.
# The gRPC call is made with grpc's generic unary_unary, so no _pb2_grpc
# module is needed.
#
#   generate.sh [OUT_DIR]      default: src/raccoon_client/_pb
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto_root=$(cd "$here/../../proto" && pwd)
out=${1:-$here/src/raccoon_client/_pb}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m grpc_tools.protoc --proto_path="$proto_root" --python_out="$work" --pyi_out="$work" \
    raystack/raccoon/v1beta1/raccoon.proto
mkdir -p "$out"
# The module keeps its proto path's name inside; only its folder differs.
cp "$work"/raystack/raccoon/v1beta1/raccoon_pb2.py "$work"/raystack/raccoon/v1beta1/raccoon_pb2.pyi "$out"/
