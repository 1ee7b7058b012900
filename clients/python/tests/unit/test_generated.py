"""The committed _pb2 module is what generate.sh makes from proto/."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def test_generated_code_is_current(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools is the dev extra")
    subprocess.run(
        ["bash", os.path.join(ROOT, "generate.sh"), str(tmp_path)],
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=120,
    )
    for name in ("raccoon_pb2.py", "raccoon_pb2.pyi"):
        with (
            open(tmp_path / name, "rb") as fresh,
            open(os.path.join(ROOT, "src", "raccoon_client", "_pb", name), "rb") as committed,
        ):
            assert fresh.read() == committed.read(), f"_pb/{name} is stale: run clients/python/generate.sh"
