#!/usr/bin/env python3
"""Writes the sample Kinesis events in events/kinesis-*.json.

Each record's data is shown here in clear; the files hold it base64 (and
gzip where marked), exactly as Lambda delivers it. Deterministic output:
re-running gives the same files. Run from the repository root:

    python3 functions/audit-stream/scripts/gen_events.py
"""
import base64
import gzip
import json

STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-demo"
CORP = "arn:aws:worklink::123456789012:fleet/corp-mobile"
T0 = 1795433400  # 2026-11-23T11:30:00Z


def ms(sec):
    return str((T0 + sec) * 1000)


def gz(text):
    # mtime=0: the same bytes every run.
    return gzip.compress(text.encode(), mtime=0)


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events)


def record(shard, i, pk, data, arrival):
    if isinstance(data, str):
        data = data.encode()
    seq = "49654325434200000000000000000000000000000000000000%06d" % i
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": pk,
            "sequenceNumber": seq,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": T0 + arrival + 0.25,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "%s:%s" % (shard, seq),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/audit-stream-role",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM,
    }


def event(records):
    return {"Records": records}


def write(name, ev):
    with open("events/" + name, "w") as f:
        json.dump(ev, f, indent=2)
        f.write("\n")


def visit(user, url, ip, sec, fleet=True):
    e = {"timestamp": ms(sec), "eventType": "VisitPage", "userName": user,
         "sourceIp": ip, "details": {"url": url}}
    if fleet:
        e["fleetArn"] = CORP
    return e


SHARD = "shardId-000000000000"

# The main scenario: every audit rule of policies/default.yaml fires once.
audit = [
    # 1. alice signs in from the office: nothing.
    {"timestamp": ms(0), "eventType": "SignIn", "userName": "alice",
     "sourceIp": "10.1.2.3", "fleetArn": CORP},
    # 2. bob visits the intranet from outside the corporate networks.
    visit("bob", "https://intranet.example.com/", "203.0.113.50", 10),
    # 3. five failed sign-ins of dave in four minutes (gzip NDJSON).
    gz(ndjson([{"timestamp": ms(20 + 60 * i), "eventType": "SignInFailed",
                "userName": "dave", "sourceIp": "10.9.8.7"} for i in range(5)])),
    # 4. an offboarded user who has no device in the fleet: a permanent
    #    failure (ResourceNotFoundException), a finding.
    visit("Former.Employee@example.com", "https://intranet.example.com/x",
          "10.1.1.1", 30),
    # 5. fifty hits on the wiki within a minute (gzip NDJSON): revoke it.
    gz(ndjson([visit("alice", "https://wiki.example.com/export?page=%d" % i,
                     "10.1.2.3", 40 + i, fleet=False) for i in range(50)])),
    # 6. a break-glass account from outside: allow-listed, refused.
    {"timestamp": ms(50), "eventType": "SignIn", "userName": "breakglass-admin",
     "sourceIp": "203.0.113.9", "fleetArn": CORP},
    # 7. carol (devices already signed out) starts a session from outside:
    #    the sign-out succeeds ("already in that state").
    {"timestamp": ms(60), "eventType": "StartSession", "userName": "carol",
     "sourceIp": "198.18.0.1"},
    # 8. bob again from outside: still one sign-out for bob in the batch.
    {"timestamp": ms(70), "eventType": "SignIn", "userName": "bob",
     "sourceIp": "203.0.113.51", "fleetArn": CORP},
]
write("kinesis-audit-batch.json", event([
    record(SHARD, i + 1, "pk-%d" % (i + 1),
           d if isinstance(d, bytes) else json.dumps(d), i)
    for i, d in enumerate(audit)
]))

# Malformed records among good ones.
malformed = [
    json.dumps({"timestamp": ms(0), "eventType": "SignIn", "userName": "alice",
                "sourceIp": "10.1.2.3"}),                  # good, nothing
    b'{"eventType": "SignIn", "userName": ',               # not-json
    b'[1, 2, 3]',                                          # not-object
    b'{"userName": "al\xffice"}',                          # not-utf8
    b'',                                                   # empty
    b'\x1f\x8b\x08\x00garbage',                            # bad-gzip
    ndjson([{"eventType": "SignIn", "userName": "x"}]) + "42\n",  # not-object (event 2)
    json.dumps({"timestamp": ms(5), "eventType": "SignIn", "userName": "bob",
                "sourceIp": "203.0.113.50"}),              # good: sign out bob
]
write("kinesis-malformed.json", event([
    record(SHARD, 100 + i, "pk-%d" % i, d, i) for i, d in enumerate(malformed)
]))

# "Already in that state" and permanent failures.
findings = [
    # payroll.example.com is already INACTIVE: the revoke counts as done.
    gz(ndjson([visit("erin", "https://payroll.example.com/p%d" % i, "10.2.2.2",
                     i) for i in range(50)])),
    # legacy.example.com is DISASSOCIATED: InvalidRequest, a finding.
    gz(ndjson([visit("erin", "https://legacy.example.com/p%d" % i, "10.2.2.2",
                     i) for i in range(50)])),
    # a fleet that does not exist: ResourceNotFound, a finding.
    json.dumps({"timestamp": ms(5), "eventType": "SignIn", "userName": "alice",
                "sourceIp": "203.0.113.77",
                "fleetArn": "arn:aws:worklink::123456789012:fleet/gone"}),
]
write("kinesis-findings.json", event([
    record("shardId-000000000001", 200 + i, "pk-%d" % i, d, i)
    for i, d in enumerate(findings)
]))
