"""boto3's own workspaces-instances client, in its default protocol
(awsJson1_0), through all 14 operations against the emulator.

Usage: python wsi_all_operations.py ENDPOINT_URL
Seeded with events/emulator/wsi-sample.json. Exits non-zero on the first
unexpected answer; prints a JSON summary for the Rust test to check.
"""

import json
import sys

import boto3

endpoint = sys.argv[1]
client = boto3.client(
    "workspaces-instances",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIDTEST",
    aws_secret_access_key="test",
)
assert client.meta.service_model.resolved_protocol == "json", client.meta.service_model.resolved_protocol

called = []


def call(operation, **params):
    called.append(operation)
    return client._make_api_call(operation, params)


# Catalogues, paged by hand through opaque tokens.
regions, token = [], None
while True:
    page = call("ListRegions", MaxResults=5, **({"NextToken": token} if token else {}))
    regions += [r["RegionName"] for r in page["Regions"]]
    token = page.get("NextToken")
    if not token:
        break
assert "us-east-1" in regions and len(regions) == len(set(regions)), regions
types = call("ListInstanceTypes", MaxResults=10)
assert len(types["InstanceTypes"]) == 10 and types.get("NextToken"), types

# Instances.
created = call(
    "CreateWorkspaceInstance",
    ManagedInstance={"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"},
    Tags=[{"Key": "team", "Value": "boto3"}],
)["WorkspaceInstanceId"]
got = call("GetWorkspaceInstance", WorkspaceInstanceId=created)
assert got["ProvisionState"] == "ALLOCATING", got
errored = call("ListWorkspaceInstances", ProvisionStates=["ERROR_ALLOCATING"])
errored_ids = [i["WorkspaceInstanceId"] for i in errored["WorkspaceInstances"]]
assert errored_ids == ["wsinst-0a1b2c3d4e5f60004", "wsinst-0a1b2c3d4e5f60005"], errored_ids

# Tags.
call("TagResource", WorkspaceInstanceId=created, Tags=[{"Key": "owner", "Value": "secops"}])
tags = {t["Key"]: t["Value"] for t in call("ListTagsForResource", WorkspaceInstanceId=created)["Tags"]}
assert tags == {"team": "boto3", "owner": "secops"}, tags
call("UntagResource", WorkspaceInstanceId=created, TagKeys=["owner"])
tags = {t["Key"]: t["Value"] for t in call("ListTagsForResource", WorkspaceInstanceId=created)["Tags"]}
assert tags == {"team": "boto3"}, tags

# Volumes.
host = "wsinst-0a1b2c3d4e5f60002"
volume = call("CreateVolume", AvailabilityZone="us-east-1a", SizeInGB=20, VolumeType="gp3")["VolumeId"]
call("AssociateVolume", WorkspaceInstanceId=host, VolumeId=volume, Device="/dev/sdg")
call("DisassociateVolume", WorkspaceInstanceId=host, VolumeId=volume)
call("ModifyVolume", VolumeId=volume, SizeInGB=40)
call("DeleteVolume", VolumeId=volume)

# Deleting an errored instance starts its deallocation.
call("DeleteWorkspaceInstance", WorkspaceInstanceId="wsinst-0a1b2c3d4e5f60004")
state = call("GetWorkspaceInstance", WorkspaceInstanceId="wsinst-0a1b2c3d4e5f60004")["ProvisionState"]
assert state == "DEALLOCATING", state

# Typed errors arrive as boto3's modelled exceptions.
try:
    call("GetWorkspaceInstance", WorkspaceInstanceId="wsinst-0a1b2c3d4e5f6ffff")
    raise AssertionError("expected ResourceNotFoundException")
except client.exceptions.ResourceNotFoundException as e:
    assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response
try:
    call("ListRegions", MaxResults=26)
    raise AssertionError("expected ValidationException")
except client.exceptions.ValidationException as e:
    assert "MaxResults" in e.response["Error"]["Message"], e.response

print(json.dumps({"operations": sorted(set(called)), "created": created, "volume": volume}))
