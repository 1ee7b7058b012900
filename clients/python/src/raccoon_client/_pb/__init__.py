"""Generated protobuf classes of proto/raystack/raccoon/v1beta1/raccoon.proto (generate.sh)."""
