//! `template.yaml` keeps the properties that matter for safety, and cannot
//! drift from the code: each function binary is started with exactly the
//! environment the template gives it (parameters at their defaults, sample
//! values for the required ones) under a local Lambda runtime API, must reach
//! `invocation/next` without a network call, and must refuse to start when
//! any one of those variables is poisoned (so every name the template sets is
//! one the code reads).
//!
//! The binaries are the `sam build` artifacts when `WARDEN_BOOTSTRAP_DIR`
//! points at them (scripts/test.sh does), else debug builds made here.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

// ------------------------------------------------------------- helpers

/// Every statement of a role's inline policies, with the condition that
/// guards it (`Fn::If [cond, statement, AWS::NoValue]`).
fn statements(t: &Value, role: &str) -> Vec<(Option<String>, Value)> {
    let r = resource(t, role);
    assert_eq!(r["Type"], "AWS::IAM::Role", "{role} is not an IAM role");
    let mut out = Vec::new();
    for p in r["Properties"]["Policies"]
        .as_array()
        .expect("inline policies")
    {
        for s in p["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
        {
            match s.get("Fn::If").and_then(Value::as_array) {
                Some(branches) => {
                    let cond = branches[0].as_str().expect("condition name").to_string();
                    assert_eq!(
                        branches[2],
                        reference("AWS::NoValue"),
                        "{role}: a conditional statement must be absent otherwise"
                    );
                    out.push((Some(cond), branches[1].clone()));
                }
                None => out.push((None, s.clone())),
            }
        }
    }
    out
}

fn actions(s: &Value) -> Vec<String> {
    match &s["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().expect("action").to_string())
            .collect(),
        other => panic!("statement without Action: {other}"),
    }
}

fn role_of(t: &Value, function: &str) -> String {
    let role = &resource(t, function)["Properties"]["Role"];
    assert_eq!(
        role["Fn::GetAtt"][1], "Arn",
        "{function} must use an explicit role of this template, not a SAM-generated one"
    );
    role["Fn::GetAtt"][0].as_str().expect("role id").to_string()
}

fn env_of<'a>(t: &'a Value, function: &str) -> &'a Value {
    &resource(t, function)["Properties"]["Environment"]["Variables"]
}

/// What each function may do, written out (the IAM summary of the README).
/// `true`: only while DryRun is "false" (condition ActionsEnabled).
fn expected_actions(function: &str) -> BTreeMap<&'static str, bool> {
    let common = [
        ("logs:CreateLogStream", false),
        ("logs:PutLogEvents", false),
        // The deployment key (KmsKeyArn), when given.
        ("kms:Decrypt", false),
        ("kms:GenerateDataKey", false),
        ("xray:PutTraceSegments", false),
        ("xray:PutTelemetryRecords", false),
        // Notifications (NotifyTopicArn), when a topic is given.
        ("sns:Publish", false),
    ];
    let own: &[(&str, bool)] = match function {
        "AuditStreamFunction" => &[
            ("kinesis:DescribeStream", false),
            ("kinesis:DescribeStreamSummary", false),
            ("kinesis:GetRecords", false),
            ("kinesis:GetShardIterator", false),
            ("kinesis:ListShards", false),
            ("sqs:SendMessage", false),
            ("worklink:DescribeDomain", false),
            ("worklink:SignOutUser", true),
            ("worklink:RevokeDomainAccess", true),
            ("workspaces-web:ListSessions", false),
            ("workspaces-web:ExpireSession", true),
            ("dynamodb:BatchGetItem", false),
            ("dynamodb:BatchWriteItem", false),
            ("dynamodb:GetItem", false),
            ("dynamodb:PutItem", false),
            ("dynamodb:UpdateItem", false),
        ],
        "InstanceCleanupFunction" => &[
            ("dynamodb:Scan", false),
            ("dynamodb:BatchWriteItem", false),
            ("workspaces-instances:ListWorkspaceInstances", false),
            ("workspaces-instances:GetWorkspaceInstance", false),
            ("workspaces-instances:ListTagsForResource", false),
            ("workspaces-instances:TagResource", true),
            ("workspaces-instances:UntagResource", true),
            ("workspaces-instances:DeleteWorkspaceInstance", true),
            ("ec2:TerminateInstances", true),
            ("ec2:CreateTags", true),
            ("sqs:SendMessage", false),
        ],
        "FleetSweepFunction" => &[
            ("worklink:ListFleets", false),
            ("worklink:DescribeAuditStreamConfiguration", false),
            ("worklink:ListDevices", false),
            ("worklink:DescribeDevice", false),
            ("worklink:ListDomains", false),
            ("worklink:DescribeDomain", false),
            ("worklink:SignOutUser", true),
            ("worklink:RevokeDomainAccess", true),
            ("worklink:RestoreDomainAccess", true),
            ("worklink:UpdateAuditStreamConfiguration", true),
            ("sqs:SendMessage", false),
            // The run lease (PutItem, BatchGetItem to name a holder,
            // DeleteItem of `l#*` only), warden's revocations (BatchGetItem,
            // BatchWriteItem).
            ("dynamodb:BatchGetItem", false),
            ("dynamodb:BatchWriteItem", false),
            ("dynamodb:PutItem", false),
            ("dynamodb:DeleteItem", false),
        ],
        other => panic!("unknown function {other}"),
    };
    common.iter().chain(own).copied().collect()
}

// --------------------------------------------------------------- tests

#[test]
fn the_template_parses_with_short_form_tags() {
    let t = load_template();
    assert_eq!(t["Transform"], "AWS::Serverless-2016-10-31");
    // `!Ref`, `!GetAtt`, `!Sub`, `!If` arrive in their long form.
    assert_eq!(
        resource(&t, "AuditStreamFunction")["Properties"]["Role"],
        get_att("AuditStreamRole", "Arn")
    );
    assert_eq!(
        env_of(&t, "AuditStreamFunction")["WARDEN_DRY_RUN"],
        reference("DryRun")
    );
    let parsed =
        parse_cfn_yaml("a: !Sub 'x-${AWS::Region}'\nb: !GetAtt Q.Arn\nc: !Equals [1, 2]\n")
            .unwrap();
    assert_eq!(
        parsed,
        json!({"a": {"Fn::Sub": "x-${AWS::Region}"}, "b": {"Fn::GetAtt": ["Q", "Arn"]}, "c": {"Fn::Equals": [1, 2]}})
    );
    assert!(
        parse_cfn_yaml("a: 1\na: 2\n").is_err(),
        "duplicate keys are refused"
    );
}

#[test]
fn functions_are_rust_on_al2023_built_by_cargo_lambda() {
    let t = load_template();
    for (id, bin) in FUNCTIONS {
        let f = resource(&t, id);
        assert_eq!(f["Type"], "AWS::Serverless::Function", "{id}");
        assert_eq!(function_prop(&t, id, "Runtime"), "provided.al2023", "{id}");
        assert_eq!(function_prop(&t, id, "Handler"), "bootstrap", "{id}");
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], bin, "{id}");
        assert_eq!(
            function_prop(&t, id, "Architectures"),
            &json!([reference("Architecture")]),
            "{id}"
        );
        let timeout = function_prop(&t, id, "Timeout")
            .as_u64()
            .expect("explicit timeout");
        assert!((10..=900).contains(&timeout), "{id} timeout {timeout}");
    }
    let arch = &t["Parameters"]["Architecture"];
    assert_eq!(arch["Default"], "arm64");
    assert_eq!(arch["AllowedValues"], json!(["arm64", "x86_64"]));
}

#[test]
fn audit_stream_consumes_the_stream_safely() {
    let t = load_template();
    let f = resource(&t, "AuditStreamFunction");
    let events = f["Properties"]["Events"].as_object().expect("events");
    let kinesis: Vec<&Value> = events.values().filter(|e| e["Type"] == "Kinesis").collect();
    assert_eq!(kinesis.len(), 1, "one Kinesis source");
    let p = &kinesis[0]["Properties"];
    assert_eq!(p["Stream"], reference("AuditStreamArn"));
    assert_eq!(p["StartingPosition"], "LATEST");
    assert_eq!(
        p["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(p["BisectBatchOnFunctionError"], true);
    assert_eq!(p["Enabled"], true);
    // The on-failure destination is the queue the function itself uses as
    // its failure sink.
    assert_eq!(
        p["DestinationConfig"]["OnFailure"]["Destination"],
        get_att("FailureQueue", "Arn")
    );
    assert_eq!(resource(&t, "FailureQueue")["Type"], "AWS::SQS::Queue");
    assert_eq!(
        env_of(&t, "AuditStreamFunction")["WARDEN_FAILURE_QUEUE_URL"],
        reference("FailureQueue")
    );
    // Tuning knobs are parameters; retries and record age are bounded (never
    // -1, which means "forever" and would stall a shard on a poison record).
    for (prop, param, min, max) in [
        ("BatchSize", "StreamBatchSize", 1, 10_000),
        (
            "MaximumBatchingWindowInSeconds",
            "StreamBatchWindowSeconds",
            0,
            300,
        ),
        (
            "ParallelizationFactor",
            "StreamParallelizationFactor",
            1,
            10,
        ),
        (
            "MaximumRetryAttempts",
            "StreamMaximumRetryAttempts",
            0,
            10_000,
        ),
        (
            "MaximumRecordAgeInSeconds",
            "StreamMaximumRecordAgeSeconds",
            60,
            604_800,
        ),
    ] {
        assert_eq!(p[prop], reference(param), "{prop}");
        let decl = &t["Parameters"][param];
        let lo = decl["MinValue"]
            .as_i64()
            .unwrap_or_else(|| panic!("{param} MinValue"));
        let hi = decl["MaxValue"]
            .as_i64()
            .unwrap_or_else(|| panic!("{param} MaxValue"));
        assert!(
            lo >= min && hi <= max && lo <= hi,
            "{param}: {lo}..={hi} not within {min}..={max}"
        );
        let default = decl["Default"]
            .as_i64()
            .unwrap_or_else(|| panic!("{param} Default"));
        assert!((lo..=hi).contains(&default), "{param} default {default}");
    }
}

#[test]
fn the_stream_parameter_only_accepts_worklink_audit_streams() {
    let t = load_template();
    let pattern = t["Parameters"]["AuditStreamArn"]["AllowedPattern"]
        .as_str()
        .expect("pattern");
    // CloudFormation matches the whole value.
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
    assert!(re.is_match(SAMPLE_STREAM));
    assert!(re.is_match(
        "arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/AmazonWorkLink-x.y_z-1"
    ));
    for bad in [
        "arn:aws:kinesis:us-east-1:123456789012:stream/audit",
        "arn:aws:kinesis:us-east-1:123456789012:stream/amazonworklink-lower",
        "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-",
        "arn:aws:sqs:us-east-1:123456789012:AmazonWorkLink-x",
        "",
    ] {
        assert!(!re.is_match(bad), "{bad} must be refused");
    }
}

/// audit-stream's Secure Browser calls (expire-sessions): ListSessions
/// always, ExpireSession only with DryRun=false, both on PortalArns only.
#[test]
fn audit_stream_ends_sessions_only_on_the_configured_portals() {
    let t = load_template();
    assert_eq!(t["Parameters"]["PortalArns"]["Type"], "CommaDelimitedList");
    let pattern = t["Parameters"]["PortalArns"]["AllowedPattern"]
        .as_str()
        .expect("PortalArns: an AllowedPattern");
    let portal = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
    for p in SAMPLE_PORTALS.split(',') {
        assert!(portal.is_match(p), "{p}");
        warden_core::arn::PortalArn::parse(p).unwrap();
    }
    for bad in [
        "arn:aws:worklink::123456789012:fleet/corp",
        "arn:aws:workspaces-web:us-east-1:123456789012:userAccessLoggingSettings/x",
        "",
    ] {
        assert!(!portal.is_match(bad), "{bad} must be refused");
    }
    let web: Vec<(Option<String>, String, Value)> = statements(&t, "AuditStreamRole")
        .into_iter()
        .flat_map(|(c, s)| {
            actions(&s)
                .into_iter()
                .filter(|a| a.starts_with("workspaces-web:"))
                .map(|a| (c.clone(), a, s["Resource"].clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        web,
        [
            (
                None,
                "workspaces-web:ListSessions".into(),
                reference("PortalArns")
            ),
            (
                Some("ActionsEnabled".into()),
                "workspaces-web:ExpireSession".into(),
                reference("PortalArns")
            ),
        ]
    );
}

#[test]
fn dry_run_is_on_until_deliberately_turned_off() {
    let t = load_template();
    let p = &t["Parameters"]["DryRun"];
    assert_eq!(p["Default"], "true");
    assert_eq!(p["AllowedValues"], json!(["true", "false"]));
    assert_eq!(
        t["Conditions"]["ActionsEnabled"],
        json!({"Fn::Equals": [reference("DryRun"), "false"]})
    );
    for (id, _) in FUNCTIONS {
        assert_eq!(
            env_of(&t, id)["WARDEN_DRY_RUN"],
            reference("DryRun"),
            "{id}"
        );
    }
    // samconfig.toml does not switch it off for a first deploy.
    let cfg = std::fs::read_to_string(repo().join("samconfig.toml")).unwrap();
    let flat: String = cfg
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\\')
        .collect();
    assert!(
        !flat.contains("DryRun=false"),
        "samconfig.toml turns dry-run off"
    );
}

#[test]
fn no_star_actions_no_managed_policies_and_only_explicit_roles() {
    let t = load_template();
    let resources = t["Resources"].as_object().unwrap();
    for (id, r) in resources {
        let props = &r["Properties"];
        assert!(
            props.get("ManagedPolicyArns").is_none(),
            "{id} attaches managed policies"
        );
        if r["Type"] == "AWS::Serverless::Function" {
            assert!(
                props.get("Policies").is_none(),
                "{id}: SAM policies (may add managed ones)"
            );
            role_of(&t, id);
        }
    }
    assert!(t["Globals"]["Function"].get("Policies").is_none());
    // `*` may stand only as the Resource of actions that have no resource type.
    let resource_star_ok = [
        "worklink:ListFleets",
        "workspaces-instances:ListWorkspaceInstances",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    ];
    let mut seen = 0;
    for (id, r) in resources {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for (_, s) in statements(&t, id) {
            seen += 1;
            assert!(s.get("NotAction").is_none(), "{id}: NotAction");
            assert!(s.get("NotResource").is_none(), "{id}: NotResource");
            for a in actions(&s) {
                assert!(!a.contains('*'), "{id}: action {a} has a wildcard");
                if s["Effect"] == "Allow" && s["Resource"] == "*" {
                    assert!(
                        resource_star_ok.contains(&a.as_str()),
                        "{id}: {a} on Resource *"
                    );
                }
            }
        }
    }
    assert!(seen > 20, "the roles' statements were found ({seen})");
}

#[test]
fn each_role_grants_exactly_what_its_function_calls() {
    let t = load_template();
    for (id, _) in FUNCTIONS {
        let role = role_of(&t, id);
        let mut granted: BTreeMap<String, bool> = BTreeMap::new();
        for (cond, s) in statements(&t, &role) {
            if s["Effect"] != "Allow" {
                continue;
            }
            let gated = match cond.as_deref() {
                Some("ActionsEnabled") => true,
                Some(_) | None => false,
            };
            for a in actions(&s) {
                // kms:Decrypt may come twice, on two keys (the stream's and
                // the deployment's); every other action once.
                assert!(
                    granted.insert(a.clone(), gated).is_none() || a.starts_with("kms:"),
                    "{role}: {a} granted twice"
                );
            }
        }
        let expected: BTreeMap<String, bool> = expected_actions(id)
            .into_iter()
            .map(|(a, g)| (a.to_string(), g))
            .collect();
        assert_eq!(
            granted, expected,
            "{role} (true: only when DryRun is \"false\")"
        );
    }
}

#[test]
fn permissions_are_scoped_to_the_fleets_stream_queue_and_table() {
    let t = load_template();
    let fleets = reference("FleetArns");
    for (id, _) in FUNCTIONS {
        let role = role_of(&t, id);
        for (cond, s) in statements(&t, &role) {
            if s["Effect"] != "Allow" {
                continue;
            }
            for a in actions(&s) {
                let want = match a.split(':').next().unwrap() {
                    "worklink" if a != "worklink:ListFleets" => fleets.clone(),
                    "workspaces-web" => reference("PortalArns"),
                    "kinesis" => reference("AuditStreamArn"),
                    "kms" if cond.as_deref() == Some("HasKmsKey") => reference("KmsKeyArn"),
                    "kms" => reference("AuditStreamKmsKeyArn"),
                    "dynamodb" if id == "InstanceCleanupFunction" => get_att("MarksTable", "Arn"),
                    "dynamodb" => get_att("StateTable", "Arn"),
                    "sqs" if id == "AuditStreamFunction" => get_att("FailureQueue", "Arn"),
                    "sqs" => get_att("ScheduleFailureQueue", "Arn"),
                    "sns" => reference("NotifyTopicArn"),
                    "logs" => {
                        let log_group = function_prop(&t, id, "LoggingConfig")["LogGroup"]["Ref"]
                            .as_str()
                            .expect("LoggingConfig.LogGroup")
                            .to_string();
                        get_att(&log_group, "Arn")
                    }
                    "workspaces-instances"
                        if a != "workspaces-instances:ListWorkspaceInstances" =>
                    {
                        json!({
                            "Fn::Sub": "arn:${AWS::Partition}:workspaces-instances:${AWS::Region}:${AWS::AccountId}:workspaceinstance/*"
                        })
                    }
                    "ec2" => {
                        assert_eq!(
                            s["Condition"]["ForAnyValue:StringEquals"]["aws:CalledVia"],
                            "workspaces-instances.amazonaws.com",
                            "{role}: EC2 only through WorkSpaces Instances"
                        );
                        json!({"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"})
                    }
                    _ => json!("*"),
                };
                assert_eq!(s["Resource"], want, "{role}: {a}");
            }
        }
    }
    // Protected instances are never deleted and keep their protect tag,
    // whatever the code or the policy says.
    let denies: Vec<Value> = statements(&t, "InstanceCleanupRole")
        .into_iter()
        .filter(|(_, s)| s["Effect"] == "Deny")
        .map(|(c, s)| {
            assert!(c.is_none(), "a deny is unconditional on parameters");
            s
        })
        .collect();
    let protect = env_of(&t, "InstanceCleanupFunction")["WARDEN_PROTECT_TAG"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(denies.iter().any(
        |s| actions(s) == ["workspaces-instances:DeleteWorkspaceInstance"]
            && s["Condition"]["Null"][format!("aws:ResourceTag/{protect}")] == "false"
    ));
    assert!(denies
        .iter()
        .any(|s| actions(s) == ["workspaces-instances:UntagResource"]
            && s["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"] == protect.as_str()));
}

#[test]
fn scheduled_functions_have_a_parameter_schedule_and_a_switch() {
    let t = load_template();
    for (id, schedule, switch, cond) in [
        (
            "InstanceCleanupFunction",
            "CleanupSchedule",
            "CleanupScheduleEnabled",
            "CleanupScheduleOn",
        ),
        (
            "FleetSweepFunction",
            "SweepSchedule",
            "SweepScheduleEnabled",
            "SweepScheduleOn",
        ),
    ] {
        let events = resource(&t, id)["Properties"]["Events"]
            .as_object()
            .unwrap();
        assert_eq!(events.len(), 1, "{id}");
        let e = events.values().next().unwrap();
        assert_eq!(e["Type"], "Schedule", "{id}");
        let p = &e["Properties"];
        assert_eq!(p["Schedule"], reference(schedule), "{id}");
        assert_eq!(
            p["State"],
            json!({"Fn::If": [cond, "ENABLED", "DISABLED"]}),
            "{id}"
        );
        assert_eq!(
            t["Conditions"][cond],
            json!({"Fn::Equals": [reference(switch), "true"]})
        );
        assert_eq!(
            p["DeadLetterConfig"]["Arn"],
            get_att("ScheduleFailureQueue", "Arn"),
            "{id}"
        );
        let dest = &resource(&t, id)["Properties"]["EventInvokeConfig"]["DestinationConfig"];
        assert_eq!(
            dest["OnFailure"]["Destination"],
            get_att("ScheduleFailureQueue", "Arn"),
            "{id}"
        );
        // Overlapping runs would double the caps: one run at a time.
        assert_eq!(
            resource(&t, id)["Properties"]["ReservedConcurrentExecutions"],
            json!(1),
            "{id}"
        );
        let r = Resolver::sample(&t, &[]);
        let expr = r.eval(&reference(schedule)).unwrap();
        let expr = expr.as_str().unwrap();
        assert!(
            expr.starts_with("rate(") || expr.starts_with("cron("),
            "{schedule} default {expr}"
        );
    }
}

#[test]
fn instance_tag_writes_carry_only_wardens_keys() {
    let t = load_template();
    let role = role_of(&t, "InstanceCleanupFunction");
    let mut tagging = 0;
    for (_, s) in statements(&t, &role) {
        let acts = actions(&s);
        if s["Effect"] != "Allow"
            || !acts.iter().any(|a| {
                a == "workspaces-instances:TagResource" || a == "workspaces-instances:UntagResource"
            })
        {
            continue;
        }
        tagging += 1;
        let keys = &s["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"];
        assert_eq!(
            keys,
            &json!(["warden:cleanup-marked-at", "warden:cleanup-reason"]),
            "{s}"
        );
        // ForAllValues alone also matches a request without tag keys.
        assert_eq!(s["Condition"]["Null"]["aws:TagKeys"], "false", "{s}");
        assert!(
            !acts
                .iter()
                .any(|a| a == "workspaces-instances:DeleteWorkspaceInstance"),
            "delete is not scoped by tag keys: {s}"
        );
    }
    assert_eq!(tagging, 1, "one statement allows tag writes");
    // The keys are the ones the default policy and the function write.
    let policy = std::fs::read_to_string(repo().join("policies/default.yaml")).unwrap();
    assert!(policy.contains("warden:cleanup-marked-at"));
    assert_eq!(
        instance_cleanup::DEFAULT_REASON_TAG,
        "warden:cleanup-reason"
    );
}

#[test]
fn a_deployment_key_encrypts_logs_queues_tables_and_environment() {
    let t = load_template();
    let key = reference("KmsKeyArn");
    let when_given = |otherwise: Value| json!({"Fn::If": ["HasKmsKey", key, otherwise]});
    assert_eq!(
        t["Globals"]["Function"]["KmsKeyArn"],
        when_given(reference("AWS::NoValue")),
        "the functions' environment"
    );
    let resources = t["Resources"].as_object().unwrap();
    let of_type = |ty: &str| -> Vec<(&String, &Value)> {
        resources.iter().filter(|(_, r)| r["Type"] == ty).collect()
    };
    for (id, r) in of_type("AWS::Logs::LogGroup") {
        assert_eq!(
            r["Properties"]["KmsKeyId"],
            when_given(reference("AWS::NoValue")),
            "{id}"
        );
    }
    for (id, r) in of_type("AWS::SQS::Queue") {
        assert_eq!(
            r["Properties"]["KmsMasterKeyId"],
            when_given(reference("AWS::NoValue")),
            "{id}"
        );
        assert_eq!(
            r["Properties"]["SqsManagedSseEnabled"],
            json!({"Fn::If": ["HasKmsKey", reference("AWS::NoValue"), true]}),
            "{id}: SQS-managed encryption without a key"
        );
    }
    for (id, r) in of_type("AWS::DynamoDB::Table") {
        let sse = &r["Properties"]["SSESpecification"];
        assert_eq!(sse["SSEEnabled"], true, "{id}");
        assert_eq!(
            sse["KMSMasterKeyId"],
            when_given(json!("alias/aws/dynamodb")),
            "{id}"
        );
    }
    // Each role may use the key (environment, queues, tables), only when given.
    for (id, _) in FUNCTIONS {
        let role = role_of(&t, id);
        let grants: Vec<_> = statements(&t, &role)
            .into_iter()
            .filter(|(c, s)| c.as_deref() == Some("HasKmsKey") && s["Resource"] == key)
            .collect();
        assert_eq!(grants.len(), 1, "{role}");
        assert_eq!(
            actions(&grants[0].1),
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "{role}"
        );
    }
    // audit-stream's concurrency is bounded (and a parameter: shards x factor).
    assert_eq!(
        resource(&t, "AuditStreamFunction")["Properties"]["ReservedConcurrentExecutions"],
        reference("StreamReservedConcurrency")
    );
}

#[test]
fn every_scanner_exception_says_why() {
    let t = load_template();
    let mut skips = 0;
    for (id, r) in t["Resources"].as_object().unwrap() {
        for skip in r["Metadata"]["checkov"]["skip"]
            .as_array()
            .into_iter()
            .flatten()
        {
            skips += 1;
            let why = skip["comment"].as_str().unwrap_or_default();
            assert!(
                skip["id"].as_str().is_some_and(|i| i.starts_with("CKV_")) && why.len() > 20,
                "{id}: a checkov skip without its reason: {skip}"
            );
        }
    }
    assert!(skips > 0, "the skips live in the template");
}

#[test]
fn operability_log_retention_and_alarms() {
    let t = load_template();
    let alarms: Vec<&Value> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    let has = |metric: &str, dim: &Value| {
        alarms.iter().any(|a| {
            let p = &a["Properties"];
            p["MetricName"] == metric && p["Dimensions"][0]["Value"] == *dim
        })
    };
    for (id, _) in FUNCTIONS {
        let log_group = function_prop(&t, id, "LoggingConfig")["LogGroup"]["Ref"]
            .as_str()
            .unwrap();
        let lg = resource(&t, log_group);
        assert_eq!(lg["Type"], "AWS::Logs::LogGroup");
        assert_eq!(
            lg["Properties"]["RetentionInDays"],
            reference("LogRetentionDays")
        );
        assert_eq!(function_prop(&t, id, "LoggingConfig")["LogFormat"], "JSON");
        assert_eq!(
            function_prop(&t, id, "LoggingConfig")["ApplicationLogLevel"],
            reference("LogLevel")
        );
        assert!(has("Errors", &reference(id)), "{id} Errors alarm");
        assert!(has("Throttles", &reference(id)), "{id} Throttles alarm");
    }
    assert!(has("IteratorAge", &reference("AuditStreamFunction")));
    // Issue 11: actions refused over a budget (the EMF metric the function
    // writes, per function).
    let budget: Vec<&&Value> = alarms
        .iter()
        .filter(|a| a["Properties"]["MetricName"] == "BudgetRefused")
        .collect();
    assert_eq!(budget.len(), 1, "one BudgetRefused alarm");
    let p = &budget[0]["Properties"];
    assert_eq!(p["Namespace"], warden_core::aws::emf::NAMESPACE);
    assert_eq!(
        p["Dimensions"],
        json!([{"Name": "Function", "Value": audit_stream::FUNCTION}])
    );
    assert_eq!(p["Statistic"], "Sum");
    assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(p["Threshold"], 0);
    for q in ["FailureQueue", "ScheduleFailureQueue"] {
        assert!(
            has(
                "ApproximateNumberOfMessagesVisible",
                &get_att(q, "QueueName")
            ),
            "{q} depth alarm"
        );
    }
    let notify = json!({"Fn::If": ["HasAlarmTopic", [reference("AlarmTopicArn")], reference("AWS::NoValue")]});
    for a in &alarms {
        assert_eq!(a["Properties"]["AlarmActions"], notify);
    }
    assert_eq!(t["Parameters"]["AlarmTopicArn"]["Default"], "");
}

#[test]
fn policies_ship_in_a_layer_with_the_embedded_copy_as_fallback() {
    let t = load_template();
    let layer = resource(&t, "PoliciesLayer");
    assert_eq!(layer["Type"], "AWS::Serverless::LayerVersion");
    assert_eq!(layer["Properties"]["ContentUri"], "policies/");
    for (id, _) in FUNCTIONS {
        assert_eq!(layer_dirs(&t, id), vec![repo().join("policies/")], "{id}");
        assert_eq!(
            env_of(&t, id)["WARDEN_POLICY_FILE"],
            json!({"Fn::If": ["HasPolicyFile", {"Fn::Sub": "/opt/${PolicyFile}"}, ""]}),
            "{id}"
        );
    }
    // The default policy file is in the layer, and an empty PolicyFile means
    // the embedded copy (the variable is empty, which the code reads as unset).
    let r = Resolver::sample(
        &t,
        &[
            ("FailureQueue", "https://q"),
            ("MarksTable", "t-1"),
            ("StateTable", "s-1"),
        ],
    );
    let env = template_env(&t, "FleetSweepFunction", &r);
    assert_eq!(
        env["WARDEN_POLICY_FILE"],
        repo().join("policies/default.yaml").display().to_string()
    );
    let empty = Resolver::new(
        &t,
        &[
            ("FleetArns", SAMPLE_FLEETS),
            ("AuditStreamArn", SAMPLE_STREAM),
            ("PortalArns", SAMPLE_PORTALS),
            ("PolicyFile", ""),
        ],
        &[("StateTable", "s-1")],
    )
    .unwrap();
    assert_eq!(
        template_env(&t, "FleetSweepFunction", &empty)["WARDEN_POLICY_FILE"],
        ""
    );
}

#[test]
fn the_state_table_is_on_demand_with_ttl_and_recovery_and_named_to_its_users() {
    use warden_core::state::{PK, SK, TTL};
    let t = load_template();
    let table = resource(&t, "StateTable");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    // The keys and TTL attribute the store writes.
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}])
    );
    assert_eq!(
        p["AttributeDefinitions"],
        json!([{"AttributeName": PK, "AttributeType": "S"}, {"AttributeName": SK, "AttributeType": "S"}])
    );
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": TTL, "Enabled": true})
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    for (id, _) in FUNCTIONS {
        let var = &env_of(&t, id)["WARDEN_STATE_TABLE"];
        if id == "InstanceCleanupFunction" {
            assert!(var.is_null(), "{id} keeps no state in the state table");
        } else {
            assert_eq!(*var, reference("StateTable"), "{id}");
        }
    }
    // fleet-sweep may delete run leases (`l#...`) only; nobody else deletes
    // or scans the state table (that is `warden state`, an operator's).
    let deletes: Vec<Value> = statements(&t, "FleetSweepRole")
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| actions(s).contains(&"dynamodb:DeleteItem".to_string()))
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        json!(["l#*"])
    );
    assert_eq!(
        t["Outputs"]["StateTableName"]["Value"],
        reference("StateTable")
    );
}

// ------------------------------------------------- the code, for real

/// Sample values for the resources the functions' environments refer to.
const SAMPLE_RESOURCES: [(&str, &str); 3] = [
    (
        "FailureQueue",
        "https://sqs.us-east-1.amazonaws.com/123456789012/euc-warden-FailureQueue-1A2B3C",
    ),
    ("MarksTable", "euc-warden-MarksTable-1A2B3C"),
    ("StateTable", "euc-warden-StateTable-1A2B3C"),
];

const POISON: &str = "#poison#";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_starts_on_the_template_env_and_reads_every_variable() {
    let t = load_template();
    let r = Resolver::sample(&t, &SAMPLE_RESOURCES);
    let bins = binaries(&t);
    let timeout = Duration::from_secs(30);
    let mut problems = Vec::new();
    for (id, bin) in FUNCTIONS {
        let binary = &bins[id];
        let vars = template_env(&t, id, &r);
        assert!(!vars.is_empty(), "{id} has no environment");
        let sentinel = Sentinel::new();
        let base = |extra: Option<(&String, &str)>| {
            let mut env = lambda_env(&t, id, &r, "");
            env.extend(sentinel.env().map(|(k, v)| (k.to_string(), v)));
            env.extend(vars.clone());
            if let Some((k, v)) = extra {
                env.insert(k.clone(), v.to_string());
            }
            env
        };

        // 1. Exactly the template's environment: it initialises, without
        //    touching the network (credentials are resolved lazily).
        let mut p = lambda_process(binary, bin, &base(None)).await;
        match p.init(timeout).await {
            Init::Ready(init) => {
                println!(
                    "{bin}: ready on the template env in {:.1} ms ({})",
                    init.as_secs_f64() * 1e3,
                    binary.display()
                );
                // Let a would-be eager call happen before looking.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let calls = sentinel.connections();
                if calls != 0 {
                    problems.push(format!(
                        "{bin}: {calls} network connection(s) during initialisation"
                    ));
                }
            }
            other => problems.push(format!(
                "{bin} does not start on the template's environment {vars:?}: {other:?}"
            )),
        }
        drop(p);

        // 2. Each variable poisoned in turn: the function refuses to start
        //    and says which, so the template sets nothing the code ignores.
        for name in vars.keys() {
            let mut p = lambda_process(binary, bin, &base(Some((name, POISON)))).await;
            match p.init(timeout).await {
                Init::Failed(detail) => {
                    if !detail.contains(name.as_str()) && !detail.contains(POISON) {
                        problems.push(format!("{bin}: {name}={POISON} failed without naming it: {detail}"));
                    }
                }
                Init::Ready(_) => problems.push(format!(
                    "{bin} starts with {name}={POISON}: the template sets a variable the function does not read"
                )),
                Init::TimedOut(d) => problems.push(format!("{bin} with {name}={POISON}: no answer in {d:?}")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "template and code disagree:\n{}",
        problems.join("\n")
    );
}

/// Issue 14 item 7: the notification topic is optional; when given, every
/// function may publish to that topic only, and reads it (and whether
/// dry-run actions are announced) from its environment.
#[test]
fn notifications_are_optional_and_scoped_to_the_topic() {
    let t = load_template();
    let p = &t["Parameters"]["NotifyTopicArn"];
    assert_eq!(p["Type"], "String");
    assert_eq!(p["Default"], "", "no notifications unless asked");
    let pattern = regex::Regex::new(p["AllowedPattern"].as_str().unwrap()).unwrap();
    assert!(pattern.is_match(""));
    assert!(pattern.is_match("arn:aws:sns:eu-west-1:123456789012:warden-actions"));
    assert!(!pattern.is_match("arn:aws:sqs:eu-west-1:123456789012:warden-actions"));
    assert!(!pattern.is_match("warden-actions"));
    assert_eq!(t["Parameters"]["NotifyDryRun"]["Default"], "false");
    assert_eq!(
        t["Conditions"]["HasNotifyTopic"],
        json!({"Fn::Not": [{"Fn::Equals": [reference("NotifyTopicArn"), ""]}]})
    );
    let r = Resolver::sample(&t, &SAMPLE_RESOURCES);
    assert_eq!(r.condition("HasNotifyTopic"), Ok(false));
    for (id, _) in FUNCTIONS {
        let env = env_of(&t, id);
        assert_eq!(
            env["WARDEN_NOTIFY_TOPIC_ARN"],
            reference("NotifyTopicArn"),
            "{id}"
        );
        assert_eq!(
            env["WARDEN_NOTIFY_DRY_RUN"],
            reference("NotifyDryRun"),
            "{id}"
        );
        let role = role_of(&t, id);
        let publish: Vec<(Option<String>, Value)> = statements(&t, &role)
            .into_iter()
            .filter(|(_, s)| actions(s).iter().any(|a| a.starts_with("sns:")))
            .collect();
        assert_eq!(publish.len(), 1, "{role}: one sns statement");
        let (cond, s) = &publish[0];
        assert_eq!(
            cond.as_deref(),
            Some("HasNotifyTopic"),
            "{role}: only when a topic is given"
        );
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(
            actions(s),
            ["sns:Publish"],
            "{role}: PublishBatch is sns:Publish"
        );
        assert_eq!(
            s["Resource"],
            reference("NotifyTopicArn"),
            "{role}: that topic only"
        );
    }
}
