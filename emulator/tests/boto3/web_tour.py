"""boto3's own workspaces-web client against the emulator: list portals,
page through and filter sessions, expire one, create and associate user
access logging settings.

Usage: python web_tour.py ENDPOINT_URL
Seeded with events/emulator/web-sample.json. Exits non-zero on the first
unexpected answer; prints a JSON summary for the Rust test to check.
"""

import json
import sys

import boto3

endpoint = sys.argv[1]
client = boto3.client(
    "workspaces-web",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIDTEST",
    aws_secret_access_key="test",
)

portals = client.list_portals()["portals"]
by_name = {p["displayName"]: p for p in portals}
assert sorted(by_name) == ["Call centre", "Contractors"], by_name
call_centre = by_name["Call centre"]
portal_id = call_centre["portalArn"].rsplit("/", 1)[1]
assert call_centre["portalStatus"] == "Active", call_centre

# Every session, two at a time, through boto3's own paginator.
paginator = client.get_paginator("list_sessions")
pages = list(paginator.paginate(portalId=portal_id, PaginationConfig={"PageSize": 2}))
sessions = [s for page in pages for s in page["sessions"]]
assert len(pages) == 3 and len(sessions) == 5, (len(pages), len(sessions))
starts = [s["startTime"] for s in sessions]
assert starts == sorted(starts), starts

# Filtered: alice's active sessions, newest first.
active = client.list_sessions(
    portalId=portal_id, username="alice", status="Active", sortBy="StartTimeDescending"
)["sessions"]
ids = [s["sessionId"] for s in active]
assert ids == ["a0000000-0000-4000-8000-000000000005", "a0000000-0000-4000-8000-000000000001"], ids

detail = client.get_session(portalId=portal_id, sessionId=ids[0])["session"]
assert detail["clientIpAddresses"] == ["192.0.2.44"], detail

client.expire_session(portalId=portal_id, sessionId=ids[0])
after = client.get_session(portalId=portal_id, sessionId=ids[0])["session"]
assert after["status"] == "Terminated" and "endTime" in after, after

try:
    client.expire_session(portalId=portal_id, sessionId="f" * 36)
    raise AssertionError("expected ResourceNotFoundException")
except client.exceptions.ResourceNotFoundException as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response

# Logging settings for the portal without any.
contractors = by_name["Contractors"]["portalArn"]
try:
    client.create_user_access_logging_settings(
        kinesisStreamArn="arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-old"
    )
    raise AssertionError("expected ValidationException")
except client.exceptions.ValidationException as e:
    assert "amazon-workspaces-web-" in e.response["Error"]["Message"], e.response
arn = client.create_user_access_logging_settings(
    kinesisStreamArn="arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-contractors",
    tags=[{"Key": "owner", "Value": "secops"}],
)["userAccessLoggingSettingsArn"]
client.associate_user_access_logging_settings(portalArn=contractors, userAccessLoggingSettingsArn=arn)
portal = client.get_portal(portalArn=contractors)["portal"]
assert portal["userAccessLoggingSettingsArn"] == arn, portal

print(json.dumps({"expired": ids[0], "logging": arn, "portal": contractors}))
