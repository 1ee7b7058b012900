#!/bin/sh
# Generates src/gen/ from the repository's proto/ with protoc and
# @bufbuild/protoc-gen-es (a devDependency): `npm run generate`. The output is
# committed, so the package installs without protoc; test/unit/generated.test.js
# regenerates it into a temporary directory and fails when it differs.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/src/gen}
mkdir -p "$out"
protoc --proto_path="$here/../../proto" \
    --plugin=protoc-gen-es="$here/node_modules/.bin/protoc-gen-es" \
    --es_out="$out" --es_opt=target=js+dts,import_extension=js \
    raystack/raccoon/v1beta1/raccoon.proto
