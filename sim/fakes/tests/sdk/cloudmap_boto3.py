"""Drives the Cloud Map fake with boto3's `servicediscovery` client, a client nobody here wrote.

botocore validates every request against AWS's service model and parses every answer against it
(error codes included), so a wire-shape mistake in the fake fails here. Run by
`sim/fakes/tests/fakes/cloudmap_sdk.rs`, which serves the fake on loopback and seeds a namespace
and a service (the fake has no CreateHttpNamespace/CreateService): `backends`, with a custom health check,
and `plain`, without one.

    python3 cloudmap_boto3.py <endpoint-url> <backends-id> <plain-id> <throttle-capacity>

The fake's clock stands still while this runs, with delays of 0: every change is visible at
once, and the throttle bucket never refills, so its `throttle-capacity`+1st DiscoverInstances
is throttled.
"""

import sys

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

NAMESPACE, SERVICE = "corp.internal", "backends"


def main(endpoint, service_id, plain_id, capacity):
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, endpoint {endpoint}")
    client = boto3.client(
        "servicediscovery",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="dummy-secret",
        config=Config(
            # One attempt: a throttled call must reach the check, not botocore's backoff.
            retries={"total_max_attempts": 1, "mode": "standard"},
            # AWS serves DiscoverInstances on `data-servicediscovery.<region>...` (the model's
            # hostPrefix `data-`); one loopback endpoint serves every operation here.
            inject_host_prefix=False,
        ),
    )
    # Requests on the wire, by operation (the event name ends with it).
    sent = {"DiscoverInstances": 0}

    def count(event_name, **_):
        operation = event_name.rsplit(".", 1)[-1]
        sent[operation] = sent.get(operation, 0) + 1

    client.meta.events.register("before-send.servicediscovery", count)

    def discover(**kw):
        return client.discover_instances(NamespaceName=NAMESPACE, ServiceName=SERVICE, **kw)

    def ids(answer):
        return sorted(i["InstanceId"] for i in answer["Instances"])

    attrs = {
        "i-1": {"AWS_INSTANCE_IPV4": "10.0.1.7", "AWS_INSTANCE_PORT": "8080", "AVAILABILITY_ZONE": "use1-az1"},
        "i-2": {"AWS_INSTANCE_IPV4": "10.0.2.7", "AWS_INSTANCE_PORT": "8080", "AVAILABILITY_ZONE": "use1-az2"},
        "i-3": {"AWS_INSTANCE_IPV4": "10.0.1.8", "AWS_INSTANCE_PORT": "8080", "AVAILABILITY_ZONE": "use1-az1",
                "AWS_INIT_HEALTH_STATUS": "UNHEALTHY"},
    }
    for instance_id, a in attrs.items():
        r = client.register_instance(ServiceId=service_id, InstanceId=instance_id, Attributes=a)
        check(isinstance(r["OperationId"], str) and r["OperationId"], f"RegisterInstance {instance_id} OperationId", r)

    # DiscoverInstances: every field of every instance, as botocore parsed it.
    r = discover(HealthStatus="ALL")
    check(ids(r) == ["i-1", "i-2", "i-3"], "ALL returns every instance", r)
    check(r["InstancesRevision"] == 3 and isinstance(r["InstancesRevision"], int), "InstancesRevision counts three registrations", r)
    for i in r["Instances"]:
        expected = {"InstanceId": i["InstanceId"], "NamespaceName": NAMESPACE, "ServiceName": SERVICE,
                    "HealthStatus": "UNHEALTHY" if i["InstanceId"] == "i-3" else "HEALTHY",
                    "Attributes": attrs[i["InstanceId"]]}
        check(i == expected, f"instance {i['InstanceId']} as registered", i)

    # HealthStatus filters (the fake's choice: no HealthStatus means HEALTHY).
    check(ids(discover()) == ["i-1", "i-2"], "no HealthStatus returns the healthy ones")
    check(ids(discover(HealthStatus="HEALTHY")) == ["i-1", "i-2"], "HEALTHY")
    check(ids(discover(HealthStatus="UNHEALTHY")) == ["i-3"], "UNHEALTHY")
    check(ids(discover(HealthStatus="HEALTHY_OR_ELSE_ALL")) == ["i-1", "i-2"], "HEALTHY_OR_ELSE_ALL with healthy ones")

    # QueryParameters (all must match) and OptionalParameters (only if something is left).
    az1 = {"AVAILABILITY_ZONE": "use1-az1"}
    check(ids(discover(QueryParameters=az1, HealthStatus="ALL")) == ["i-1", "i-3"], "QueryParameters AZ, ALL")
    check(ids(discover(QueryParameters=az1)) == ["i-1"], "QueryParameters AZ, healthy")
    check(ids(discover(QueryParameters={**az1, "AWS_INSTANCE_IPV4": "10.0.1.8"}, HealthStatus="ALL")) == ["i-3"], "QueryParameters AND")
    check(ids(discover(QueryParameters={"AVAILABILITY_ZONE": "use1-az9"})) == [], "QueryParameters matching nothing")
    check(ids(discover(OptionalParameters={"AVAILABILITY_ZONE": "use1-az2"})) == ["i-2"], "OptionalParameters narrowing")
    check(ids(discover(OptionalParameters={"AVAILABILITY_ZONE": "use1-az9"})) == ["i-1", "i-2"], "OptionalParameters ignored when nothing matches")
    check(len(discover(HealthStatus="ALL", MaxResults=1)["Instances"]) == 1, "MaxResults")

    # GetInstancesHealthStatus, then a custom health change (the fake's delay is 0 here).
    r = client.get_instances_health_status(ServiceId=service_id)
    check(r["Status"] == {"i-1": "HEALTHY", "i-2": "HEALTHY", "i-3": "UNHEALTHY"}, "GetInstancesHealthStatus", r)
    # `Instances` names the ones wanted; `MaxResults` and `NextToken` page.
    r = client.get_instances_health_status(ServiceId=service_id, Instances=["i-3", "i-1"])
    check(r["Status"] == {"i-1": "HEALTHY", "i-3": "UNHEALTHY"} and "NextToken" not in r, "GetInstancesHealthStatus Instances", r)
    first = client.get_instances_health_status(ServiceId=service_id, MaxResults=2)
    check(first["Status"] == {"i-1": "HEALTHY", "i-2": "HEALTHY"} and first.get("NextToken"), "GetInstancesHealthStatus first page", first)
    rest = client.get_instances_health_status(ServiceId=service_id, MaxResults=2, NextToken=first["NextToken"])
    check(rest["Status"] == {"i-3": "UNHEALTHY"} and "NextToken" not in rest, "GetInstancesHealthStatus last page", rest)
    r = client.update_instance_custom_health_status(ServiceId=service_id, InstanceId="i-1", Status="UNHEALTHY")
    check(set(r) == {"ResponseMetadata"}, "UpdateInstanceCustomHealthStatus answers nothing", r)
    r = client.get_instances_health_status(ServiceId=service_id)
    check(r["Status"] == {"i-1": "UNHEALTHY", "i-2": "HEALTHY", "i-3": "UNHEALTHY"}, "health after the update", r)
    check(ids(discover(QueryParameters=az1)) == [], "no healthy instance left in the AZ")
    check(ids(discover(QueryParameters=az1, HealthStatus="HEALTHY_OR_ELSE_ALL")) == ["i-1", "i-3"], "HEALTHY_OR_ELSE_ALL fails open")
    client.update_instance_custom_health_status(ServiceId=service_id, InstanceId="i-1", Status="HEALTHY")
    check(ids(discover()) == ["i-1", "i-2"], "healthy again")

    # A service without a health check: every instance, health UNKNOWN, whatever the filter.
    client.register_instance(ServiceId=plain_id, InstanceId="p-1", Attributes={"AWS_INSTANCE_IPV4": "10.0.3.7"})
    r = client.discover_instances(NamespaceName=NAMESPACE, ServiceName="plain", HealthStatus="HEALTHY")
    check([(i["InstanceId"], i["HealthStatus"]) for i in r["Instances"]] == [("p-1", "UNKNOWN")], "no health check: UNKNOWN, not filtered", r)

    # DeregisterInstance: gone from discovery and health; the revision moves.
    r = client.deregister_instance(ServiceId=service_id, InstanceId="i-2")
    check(isinstance(r["OperationId"], str) and r["OperationId"], "DeregisterInstance OperationId", r)
    r = discover(HealthStatus="ALL")
    check(ids(r) == ["i-1", "i-3"] and r["InstancesRevision"] == 4, "after DeregisterInstance", r)
    check(set(client.get_instances_health_status(ServiceId=service_id)["Status"]) == {"i-1", "i-3"}, "health after DeregisterInstance")

    # Errors: botocore maps `__type` to the modelled exception classes.
    expect_error(lambda: client.discover_instances(NamespaceName=NAMESPACE, ServiceName="nope"), client.exceptions.ServiceNotFound, "ServiceNotFound")
    expect_error(lambda: client.register_instance(ServiceId="srv-missing", InstanceId="i-9", Attributes=attrs["i-1"]), client.exceptions.ServiceNotFound, "ServiceNotFound")
    expect_error(lambda: client.get_instances_health_status(ServiceId="srv-missing"), client.exceptions.ServiceNotFound, "ServiceNotFound")
    expect_error(lambda: client.deregister_instance(ServiceId=service_id, InstanceId="i-2"), client.exceptions.InstanceNotFound, "InstanceNotFound")
    expect_error(lambda: client.update_instance_custom_health_status(ServiceId=service_id, InstanceId="i-9", Status="HEALTHY"),
                 client.exceptions.InstanceNotFound, "InstanceNotFound")
    expect_error(lambda: client.get_instances_health_status(ServiceId=service_id, Instances=["i-9"]), client.exceptions.InstanceNotFound, "InstanceNotFound")
    expect_error(lambda: client.update_instance_custom_health_status(ServiceId=plain_id, InstanceId="p-1", Status="UNHEALTHY"),
                 client.exceptions.CustomHealthNotFound, "CustomHealthNotFound")
    expect_error(lambda: client.discover_instances(NamespaceName="nope.internal", ServiceName=SERVICE), client.exceptions.NamespaceNotFound, "NamespaceNotFound")

    # Throttling: the bucket holds `capacity` DiscoverInstances calls and does not refill while
    # the clock stands still. botocore must see RequestLimitExceeded as throttling (so a real
    # client backs off) and, with one attempt allowed, hand it straight back.
    while sent["DiscoverInstances"] < capacity:
        discover()
    err = expect_error(discover, client.exceptions.RequestLimitExceeded, "RequestLimitExceeded")
    check(sent["DiscoverInstances"] == capacity + 1, f"throttled on call {capacity + 1} exactly", sent)
    check(err.response["ResponseMetadata"]["HTTPStatusCode"] == 400, "throttled with HTTP 400", err.response)
    throttled = ThrottledRetryableChecker().is_retryable(RetryContext(attempt_number=1, parsed_response=err.response))
    check(throttled, "botocore's standard retry mode classes it as throttling")
    print(f"ok: {sum(sent.values())} requests; DiscoverInstances {sent['DiscoverInstances']}")


def check(cond, what, got=None):
    if not cond:
        raise SystemExit(f"FAILED: {what}" + (f"\n  got: {got!r}" if got is not None else ""))
    print(f"ok: {what}")


def expect_error(call, exception, code):
    try:
        r = call()
    except exception as e:
        check(e.response["Error"]["Code"] == code, f"{code}", e.response)
        check(e.response["Error"].get("Message"), f"{code} carries a message", e.response)
        return e
    except ClientError as e:
        raise SystemExit(f"FAILED: expected {code}, got {e.response['Error']}")
    raise SystemExit(f"FAILED: expected {code}, got an answer: {r!r}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
