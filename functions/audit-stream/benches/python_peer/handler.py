"""The Python peer audit-stream is compared with (issue #15): a Lambda
handler on Powertools for AWS Lambda's BatchProcessor (Kinesis), doing the
rule work of audit-stream's default policy (policies/default.yaml, its six
audit-event rules) on every record, with the actions stubbed (planned and
counted, never called), as audit-stream runs in the benchmark (dry-run).

Per record (Powertools' record handler): base64 + JSON of the data
(`data_as_json`), the core fields (time, event type, user, source IP, host
of details.url, fleet / portal, service from portalArn), then the rules:
event-type lists, CIDR deny (not in the corporate networks), the
case-insensitive deny list, host exists. Per batch: threshold windows
(count N within a window by key: sliding, over the batch's events in time
order), allow-list globs, dedup per (action, target), caps per action kind
(over the cap the whole kind is refused). The response is Powertools'
partial-batch response.

Not a port of the Rust engine: the same decisions for this policy, written
the way a Python team would with Powertools.
"""

import bisect
import fnmatch
import ipaddress
from collections import defaultdict
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

CORP_NETS = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "198.51.100.0/24")
]
DENY_USERS = {"former.employee@example.com", "contractor-2025@example.com"}
ALLOW_USERS = ["breakglass-*", "warden-admin@example.com"]
ALLOW_DOMAINS = ["sso.example.com"]
CAPS = {"sign-out-user": 25, "revoke-domain": 3, "expire-sessions": 25}
DEFAULT_FLEET = "arn:aws:worklink::123456789012:fleet/corp-mobile"

# (name, service, event types or None, extra test, threshold or None, action)
# threshold = (count, window ms, key function)
RULES = [
    (
        "repeated-failed-sign-ins",
        "worklink",
        {"SignInFailed", "AuthenticationFailed"},
        None,
        (5, 600_000, lambda e: (e["user"], e["ip"])),
        "sign-out-user",
    ),
    (
        "access-from-outside-allowed-networks",
        "worklink",
        {"SignIn", "StartSession", "VisitPage"},
        lambda e: e["ip_obj"] is not None
        and not any(e["ip_obj"] in n for n in CORP_NETS),
        None,
        "sign-out-user",
    ),
    (
        "offboarded-users",
        "worklink",
        None,
        lambda e: e["user"] is not None and e["user"].lower() in DENY_USERS,
        None,
        "sign-out-user",
    ),
    (
        "domain-access-burst",
        "worklink",
        {"VisitPage"},
        lambda e: e["host"] is not None,
        (50, 60_000, lambda e: e["host"]),
        "revoke-domain",
    ),
    (
        "secure-browser-offboarded-users",
        "workspaces-web",
        {"StartSession", "VisitPage"},
        lambda e: e["user"] is not None and e["user"].lower() in DENY_USERS,
        None,
        "expire-sessions",
    ),
    (
        "secure-browser-page-burst",
        "workspaces-web",
        {"VisitPage"},
        None,
        (101, 60_000, lambda e: e["user"]),
        "expire-sessions",
    ),
]


def parse_ip(text):
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        host = text.rsplit(":", 1)[0].strip("[]")
        try:
            return ipaddress.ip_address(host)
        except ValueError:
            return None


def core_fields(raw):
    details = raw.get("details") or {}
    url = details.get("url") if isinstance(details, dict) else None
    host = urlsplit(url).hostname if isinstance(url, str) else None
    portal = raw.get("portalArn")
    service = "workspaces-web" if isinstance(portal, str) and ":portal/" in portal else "worklink"
    ts = raw.get("timestamp")
    ip = raw.get("sourceIp")
    return {
        "time": int(ts) if isinstance(ts, str) and ts.isdigit() else 0,
        "type": raw.get("eventType"),
        "user": raw.get("userName"),
        "ip": ip,
        "ip_obj": parse_ip(ip),
        "host": host.lower().rstrip(".") if host else None,
        "fleet": raw.get("fleetArn") or DEFAULT_FLEET,
        "portal": portal,
        "service": service,
    }


class Batch:
    """What one invocation's records add up to."""

    def __init__(self):
        self.matches = defaultdict(list)  # rule index -> [(time, event)]

    def evaluate(self, ev):
        for i, (_, service, types, test, _, _) in enumerate(RULES):
            if ev["service"] != service:
                continue
            if types is not None and ev["type"] not in types:
                continue
            if test is not None and not test(ev):
                continue
            self.matches[i].append(ev)

    def plan(self):
        planned = {}
        for i, evs in self.matches.items():
            name, _, _, _, threshold, action = RULES[i]
            if threshold is None:
                firing = evs
            else:
                count, window, key = threshold
                by_key = defaultdict(list)
                for ev in evs:
                    by_key[key(ev)].append(ev)
                firing = []
                for group in by_key.values():
                    times = sorted(e["time"] for e in group)
                    for k, t in enumerate(times):
                        if k + 1 - bisect.bisect_left(times, t - window + 1) >= count:
                            firing.append(group[0])
                            break
            for ev in firing:
                if action == "revoke-domain":
                    target = (ev["fleet"], ev["host"])
                    if any(fnmatch.fnmatch(ev["host"], g) for g in ALLOW_DOMAINS):
                        continue
                else:
                    target = (ev["fleet"] if action == "sign-out-user" else ev["portal"], ev["user"])
                    if ev["user"] is None or any(
                        fnmatch.fnmatch(ev["user"].lower(), g) for g in ALLOW_USERS
                    ):
                        continue
                planned.setdefault((action, target), name)
        kinds = defaultdict(list)
        for (action, target), rule in planned.items():
            kinds[action].append((target, rule))
        actions, refused = [], []
        for action, targets in kinds.items():
            (refused if len(targets) > CAPS[action] else actions).extend(
                (action, t, r) for t, r in targets
            )
        return actions, refused


processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
batch = Batch()
last_plan = None


def record_handler(record: KinesisStreamRecord):
    raw = record.kinesis.data_as_json()
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    batch.evaluate(core_fields(raw))


def handler(event, context):
    global batch, last_plan
    batch = Batch()
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    last_plan = batch.plan()
    return response
