"""The integration tests' helpers, imported rather than copied: the server
under test and the request encoders (tests/integration/conftest.py), the Pub/Sub
emulator's client (tests/integration/pubsub/pubsub_emulator.py) and kinesalite's
(tests/integration/kinesis/kinesalite_peer.py).

This folder has no conftest.py: it would take the module name `conftest`,
which these helpers import from each other.
"""

import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INTEGRATION = os.path.join(REPO, "tests", "integration")
SCRIPTS = os.path.join(REPO, "scripts")

# The peers' scripts are the repository's own unless the caller names others.
os.environ.setdefault("RACCOON_KAFKA_SCRIPT", os.path.join(SCRIPTS, "kafka.sh"))
os.environ.setdefault("RACCOON_PUBSUB_SCRIPT", os.path.join(SCRIPTS, "pubsub-emulator.sh"))
os.environ.setdefault("RACCOON_KINESALITE_SCRIPT", os.path.join(SCRIPTS, "kinesalite.sh"))
# Google's client code in the server would otherwise look for a metadata server.
os.environ.setdefault("METADATA_SERVER_DETECTION", "none")

for folder in (os.path.join(INTEGRATION, "kinesis"), os.path.join(INTEGRATION, "pubsub"),
               INTEGRATION):
    if folder not in sys.path:
        sys.path.insert(0, folder)

from conftest import (  # noqa: E402,F401
    HOST,
    STATUS_SUCCESS,
    Event,
    KafkaReader,
    RaccoonFactory,
    decode_response,
    decode_ws_ack,
    env_path,
    json_request,
    pb,
    post_events,
    proto_request,
    ws_url,
)
from kinesalite_peer import (  # noqa: E402,F401
    KinesisReader,
    kinesis_settings,
    start_kinesalite,
    stop_kinesalite,
)
from pubsub_emulator import PROJECT as PUBSUB_PROJECT  # noqa: E402,F401
from pubsub_emulator import PUBLISH_TIMEOUT_MS as PUBSUB_PUBLISH_TIMEOUT_MS  # noqa: E402,F401
from pubsub_emulator import PubsubEmulator  # noqa: E402,F401
