#!/usr/bin/env bash
# Regenerates internal/pb from the repository's proto/ with Debian's protoc
# and the pinned Go plugins (installed into a private GOBIN). The output is
# committed, as Go modules do, so `go get` needs no protoc; the unit test
# TestGeneratedCodeIsCurrent runs this into a temporary dir and compares.
#
#   generate.sh [OUT_DIR]     default: internal/pb next to this script
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto_root=$(cd "$here/../../proto" && pwd)
out=${1:-$here/internal/pb}
protoc_gen_go_version=v1.36.12
protoc_gen_go_grpc_version=v1.6.2
module=github.com/raccoon-cpp/raccoon/clients/go

gobin=${RACCOON_GO_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/raccoon/go-tools}
mkdir -p "$gobin"
if [ ! -x "$gobin/protoc-gen-go-$protoc_gen_go_version" ]; then
    GOBIN="$gobin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$protoc_gen_go_version"
    mv "$gobin/protoc-gen-go" "$gobin/protoc-gen-go-$protoc_gen_go_version"
fi
if [ ! -x "$gobin/protoc-gen-go-grpc-$protoc_gen_go_grpc_version" ]; then
    GOBIN="$gobin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$protoc_gen_go_grpc_version"
    mv "$gobin/protoc-gen-go-grpc" "$gobin/protoc-gen-go-grpc-$protoc_gen_go_grpc_version"
fi

mkdir -p "$out"
map="Mraystack/raccoon/v1beta1/raccoon.proto=$module/internal/pb;pb"
protoc --proto_path="$proto_root" \
    --plugin=protoc-gen-go="$gobin/protoc-gen-go-$protoc_gen_go_version" \
    --plugin=protoc-gen-go-grpc="$gobin/protoc-gen-go-grpc-$protoc_gen_go_grpc_version" \
    --go_out="$out" --go_opt=paths=source_relative,"$map" \
    --go-grpc_out="$out" --go-grpc_opt=paths=source_relative,"$map" \
    raystack/raccoon/v1beta1/raccoon.proto
# source_relative keeps the proto's folders; the package is one flat folder.
mv "$out"/raystack/raccoon/v1beta1/*.go "$out"/
rm -rf "$out/raystack"
