"""Our SigV4 signer against botocore's on the same generated requests.

KINESIS_SIGN_CLI names the sign_cli binary (tests/unit/publisher/kinesis), which
signs JSON lines from stdin; botocore (Debian's python3-botocore) signs the same
requests at the same instant. Every Authorization header must match.
"""

import datetime
import json
import os
import random
import subprocess
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials

REQUESTS = 300

UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
# Sent percent-encoded, as a client puts them on the wire.
ENCODED = ["%20", "%2F", "%C3%A9", "%E2%82%AC", "%25", "%2B", "%3D"]
HEADER_VALUE_CHARS = UNRESERVED + " ;,:/=+()\"'"


def word(rng, low=1, high=8):
    return "".join(rng.choice(UNRESERVED) for _ in range(rng.randint(low, high)))


def encoded_word(rng):
    return "".join(rng.choice([word(rng, 1, 3)] + ENCODED) for _ in range(rng.randint(1, 4)))


def generate(rng):
    path = "/" + "/".join(encoded_word(rng) for _ in range(rng.randint(0, 3)))
    # botocore signs the query as sent, sorted: send it canonically encoded.
    query = "&".join(
        f"{encoded_word(rng)}={encoded_word(rng) if rng.random() < 0.8 else ''}"
        for _ in range(rng.randint(0, 3))
    )
    headers = {"Host": rng.choice(["kinesis.us-east-1.amazonaws.com", "127.0.0.1:4567"])}
    for _ in range(rng.randint(0, 4)):
        name = "X-" + word(rng, 1, 10)
        value = "".join(rng.choice(HEADER_VALUE_CHARS) for _ in range(rng.randint(1, 30)))
        headers[name.title() if rng.random() < 0.5 else name.lower()] = value
    headers["Content-Type"] = "application/x-amz-json-1.1"
    headers["X-Amz-Target"] = "Kinesis_20131202." + rng.choice(["PutRecords", "ListShards"])
    payload = json.dumps({"StreamName": word(rng), "Data": "é€" * rng.randint(0, 3) + word(rng)})
    return {
        "method": rng.choice(["GET", "POST", "PUT"]),
        "path": path,
        "query": query,
        "headers": list(headers.items()),
        "payload": payload if rng.random() < 0.9 else "",
        "access_key": "AKID" + word(rng, 4, 12).upper(),
        "secret_key": word(rng, 20, 40),
        "token": word(rng, 10, 30) if rng.random() < 0.3 else "",
        "region": rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1"]),
        "service": rng.choice(["kinesis", "iam", "service"]),
        "time": rng.randint(1_300_000_000, 2_000_000_000),
    }


def botocore_sign(case):
    scheme_host = "https://" + dict(case["headers"])["Host"]
    url = scheme_host + case["path"] + ("?" + case["query"] if case["query"] else "")
    request = botocore.awsrequest.AWSRequest(
        method=case["method"], url=url, headers=dict(case["headers"]),
        data=case["payload"].encode("utf-8"))
    credentials = botocore.credentials.Credentials(
        case["access_key"], case["secret_key"], case["token"] or None)
    instant = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc).replace(tzinfo=None)

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return instant

    # Newer botocore reads the clock through get_current_datetime(), older
    # (Debian 12's) through datetime.datetime.utcnow().
    if hasattr(botocore.auth, "get_current_datetime"):
        clock = mock.patch.object(botocore.auth, "get_current_datetime", lambda *_: instant)
    else:
        clock = mock.patch.object(botocore.auth.datetime, "datetime", Frozen)
    with clock:
        botocore.auth.SigV4Auth(credentials, case["service"], case["region"]).add_auth(request)
    return {"authorization": request.headers["Authorization"],
            "x-amz-date": request.headers["X-Amz-Date"]}


def test_signatures_match_botocore():
    rng = random.Random(20240229)
    cases = [generate(rng) for _ in range(REQUESTS)]
    result = subprocess.run(
        [os.environ["KINESIS_SIGN_CLI"]], input="".join(json.dumps(c) + "\n" for c in cases),
        capture_output=True, text=True, timeout=60, check=True)
    ours = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(ours) == len(cases)
    mismatches = [(case, mine, botocore_sign(case))
                  for case, mine in zip(cases, ours) if mine != botocore_sign(case)]
    assert not mismatches, mismatches[:3]


def test_a_changed_payload_changes_the_signature():
    # The comparison above must be able to fail: a signer that ignored the
    # payload would sign these two alike.
    case = generate(random.Random(7))
    other = dict(case, payload=case["payload"] + " ")
    assert botocore_sign(case)["authorization"] != botocore_sign(other)["authorization"]
