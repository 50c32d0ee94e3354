//! Shared by `tests/template.rs` and `benches/coldstart.rs`:
//!
//! * `template.yaml` read as JSON, CloudFormation short-form tags (`!Ref`,
//!   `!GetAtt`, `!Sub`, ...) turned into their long form (`{"Ref": ..}`,
//!   `{"Fn::GetAtt": [..]}`, ...), so assertions see what CloudFormation sees;
//! * a small resolver of intrinsic functions with sample parameter values, to
//!   compute the exact environment Lambda would give each function;
//! * a function binary run as a Lambda process under the local runtime API
//!   (`warden_emulator::runtime_api`), with a loopback "sentinel" as every
//!   AWS endpoint so any network call during initialisation is seen.
//!
//! YAML: `saphyr` (already the workspace's YAML parser, in warden-core) keeps
//! user-defined tags as `Yaml::Tagged` nodes instead of failing on them or
//! dropping them, which is exactly what CloudFormation's short forms need.
//! serde_yaml is archived; serde-saphyr maps into typed structs and would
//! need a custom type for every tagged position.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{json, Map, Value};
pub use warden_emulator::function::{FunctionProcess, Init, Launch};

/// The repository root (the root package's manifest directory).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The three functions: template logical id, cargo binary, sample trigger.
pub const FUNCTIONS: [(&str, &str); 3] = [
    ("AuditStreamFunction", "audit-stream"),
    ("InstanceCleanupFunction", "instance-cleanup"),
    ("FleetSweepFunction", "fleet-sweep"),
];

// ------------------------------------------------------------------ YAML

/// `template.yaml` as JSON.
pub fn load_template() -> Value {
    let path = repo().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_cfn_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses a CloudFormation YAML document into JSON with long-form intrinsics.
pub fn parse_cfn_yaml(text: &str) -> Result<Value, String> {
    let docs = Yaml::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [doc] => to_json(doc),
        other => Err(format!("expected one YAML document, found {}", other.len())),
    }
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => json!(i),
        Scalar::FloatingPoint(f) => json!(f.into_inner()),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

fn to_json(y: &Yaml<'_>) -> Result<Value, String> {
    Ok(match y {
        Yaml::Value(s) => scalar(s),
        Yaml::Representation(s, _, _) => Value::String(s.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k)? {
                    Value::String(s) => s,
                    Value::Null => return Err("a null mapping key".into()),
                    other => other.to_string(),
                };
                if out.insert(key.clone(), to_json(v)?).is_some() {
                    return Err(format!("duplicate key `{key}`"));
                }
            }
            Value::Object(out)
        }
        Yaml::Tagged(tag, inner) => {
            if tag.handle != "!" {
                // A core-schema tag (`!!str`): the value as it is.
                return to_json(inner);
            }
            let inner = to_json(inner)?;
            let name = tag.suffix.as_str();
            match name {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (res, attr) = s
                            .split_once('.')
                            .ok_or_else(|| format!("!GetAtt {s}: expected Resource.Attribute"))?;
                        json!({ "Fn::GetAtt": [res, attr] })
                    }
                    list => json!({ "Fn::GetAtt": list }),
                },
                _ => {
                    let mut m = Map::new();
                    m.insert(format!("Fn::{name}"), inner);
                    Value::Object(m)
                }
            }
        }
        Yaml::Alias(_) => return Err("YAML aliases are not used in templates".into()),
        Yaml::BadValue => return Err("a value YAML cannot represent".into()),
    })
}

// -------------------------------------------------------------- template

/// A resource by logical id.
pub fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    let r = &t["Resources"][id];
    assert!(r.is_object(), "template.yaml has no resource {id}");
    r
}

/// A function's property, falling back to `Globals.Function`.
pub fn function_prop<'a>(t: &'a Value, id: &str, prop: &str) -> &'a Value {
    let own = &resource(t, id)["Properties"][prop];
    if own.is_null() {
        &t["Globals"]["Function"][prop]
    } else {
        own
    }
}

/// `{"Ref": name}`.
pub fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

/// `{"Fn::GetAtt": [res, attr]}`.
pub fn get_att(res: &str, attr: &str) -> Value {
    json!({ "Fn::GetAtt": [res, attr] })
}

// -------------------------------------------------------------- resolver

/// Evaluates the intrinsic functions a function's environment uses, with
/// sample values for parameters without a default, pseudo parameters and the
/// resources the environment refers to.
pub struct Resolver<'t> {
    template: &'t Value,
    params: BTreeMap<String, Value>,
    resources: BTreeMap<String, String>,
}

/// Sample values for the parameters that have no default.
pub const SAMPLE_FLEETS: &str =
    "arn:aws:worklink::123456789012:fleet/corp-mobile,arn:aws:worklink::123456789012:fleet/partner-portal";
/// A sample AuditStreamArn: audit-stream reads it, and fleet-sweep's
/// WARDEN_AUDIT_STREAM_ARN is set from it (the default policy's
/// `ensure-audit-stream` points fleets at it).
pub const SAMPLE_STREAM: &str =
    "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit";
/// Sample PortalArns: portal-sweep sweeps them.
pub const SAMPLE_PORTALS: &str = "arn:aws:workspaces-web:us-east-1:123456789012:portal/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0,arn:aws:workspaces-web:us-east-1:123456789012:portal/1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1";
pub const STACK: &str = "euc-warden";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

impl<'t> Resolver<'t> {
    /// Parameters take `overrides`, else their default; every parameter
    /// without a default must be overridden. `resources`: the value of
    /// `Ref <logical id>` for the resources the caller expects to meet.
    pub fn new(
        template: &'t Value,
        overrides: &[(&str, &str)],
        resources: &[(&str, &str)],
    ) -> Result<Self, String> {
        let mut params = BTreeMap::new();
        let declared = template["Parameters"]
            .as_object()
            .ok_or("template has no Parameters")?;
        for (name, _) in overrides {
            if !declared.contains_key(*name) {
                return Err(format!("override of an unknown parameter {name}"));
            }
        }
        for (name, decl) in declared {
            let raw = match overrides.iter().find(|(n, _)| n == name) {
                Some((_, v)) => Value::String(v.to_string()),
                None => match &decl["Default"] {
                    Value::Null => {
                        return Err(format!(
                            "parameter {name} has no default and no sample value"
                        ))
                    }
                    Value::String(s) => Value::String(s.clone()),
                    other => Value::String(other.to_string()),
                },
            };
            let value = if decl["Type"] == "CommaDelimitedList" {
                let s = raw.as_str().unwrap_or_default();
                Value::Array(
                    s.split(',')
                        .map(|x| Value::String(x.trim().into()))
                        .collect(),
                )
            } else {
                raw
            };
            params.insert(name.clone(), value);
        }
        Ok(Resolver {
            template,
            params,
            resources: resources
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// The standard sample: every required parameter set, the Architecture
    /// this machine runs.
    pub fn sample(template: &'t Value, resources: &[(&str, &str)]) -> Self {
        Resolver::new(
            template,
            &[
                ("FleetArns", SAMPLE_FLEETS),
                ("AuditStreamArn", SAMPLE_STREAM),
                ("PortalArns", SAMPLE_PORTALS),
                ("Architecture", "x86_64"),
            ],
            resources,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn reference(&self, name: &str) -> Result<Value, String> {
        if let Some(p) = self.params.get(name) {
            return Ok(p.clone());
        }
        Ok(Value::String(match name {
            "AWS::StackName" => STACK.into(),
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::NoValue" => return Ok(Value::Null),
            other => match self.resources.get(other) {
                Some(v) => v.clone(),
                None => {
                    let ty = &self.template["Resources"][other]["Type"];
                    return Err(format!(
                        "no sample value for Ref {other} ({ty}); the test must give one"
                    ));
                }
            },
        }))
    }

    /// Whether the named condition holds.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        let c = &self.template["Conditions"][name];
        if c.is_null() {
            return Err(format!("no condition {name}"));
        }
        self.truth(c)
    }

    fn truth(&self, v: &Value) -> Result<bool, String> {
        if let Some(name) = v.get("Condition").and_then(Value::as_str) {
            return self.condition(name);
        }
        if let Some(args) = v.get("Fn::Equals").and_then(Value::as_array) {
            let [a, b] = args.as_slice() else {
                return Err(format!("Fn::Equals needs two values: {v}"));
            };
            return Ok(self.eval(a)? == self.eval(b)?);
        }
        if let Some(args) = v.get("Fn::Not").and_then(Value::as_array) {
            let [a] = args.as_slice() else {
                return Err(format!("Fn::Not needs one condition: {v}"));
            };
            return Ok(!self.truth(a)?);
        }
        if let Some(args) = v.get("Fn::And").and_then(Value::as_array) {
            return args
                .iter()
                .try_fold(true, |acc, a| Ok(acc && self.truth(a)?));
        }
        if let Some(args) = v.get("Fn::Or").and_then(Value::as_array) {
            return args
                .iter()
                .try_fold(false, |acc, a| Ok(acc || self.truth(a)?));
        }
        Err(format!("not a condition: {v}"))
    }

    /// Evaluates `v` to plain JSON (`AWS::NoValue` is `null`).
    pub fn eval(&self, v: &Value) -> Result<Value, String> {
        match v {
            Value::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .filter(|r| !matches!(r, Ok(Value::Null)))
                    .collect::<Result<_, _>>()?,
            )),
            Value::Object(m) if is_intrinsic(m) => {
                let (k, arg) = m.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => self.reference(arg.as_str().ok_or("Ref of a non-string")?),
                    "Fn::If" => {
                        let [c, yes, no] = arg.as_array().map(Vec::as_slice).unwrap_or_default()
                        else {
                            return Err(format!("Fn::If needs three values: {v}"));
                        };
                        let c = c.as_str().ok_or("Fn::If condition name")?;
                        self.eval(if self.condition(c)? { yes } else { no })
                    }
                    "Fn::Sub" => self.sub(arg),
                    "Fn::Join" => {
                        let [sep, list] = arg.as_array().map(Vec::as_slice).unwrap_or_default()
                        else {
                            return Err(format!("Fn::Join needs two values: {v}"));
                        };
                        let sep = sep.as_str().ok_or("Fn::Join separator")?;
                        let list = self.eval(list)?;
                        let parts: Vec<String> = list
                            .as_array()
                            .ok_or("Fn::Join of a non-list")?
                            .iter()
                            .map(|p| {
                                p.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| p.to_string())
                            })
                            .collect();
                        Ok(Value::String(parts.join(sep)))
                    }
                    "Fn::Select" => {
                        let [i, list] = arg.as_array().map(Vec::as_slice).unwrap_or_default()
                        else {
                            return Err(format!("Fn::Select needs two values: {v}"));
                        };
                        let i: usize = match self.eval(i)? {
                            Value::Number(n) => n.as_u64().unwrap_or(u64::MAX) as usize,
                            Value::String(s) => s.parse().map_err(|_| "Fn::Select index")?,
                            _ => return Err("Fn::Select index".into()),
                        };
                        self.eval(list)?
                            .as_array()
                            .and_then(|l| l.get(i).cloned())
                            .ok_or_else(|| format!("Fn::Select {i} out of range: {v}"))
                    }
                    k => Err(format!("{k} is not supported by the test resolver: {v}")),
                }
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    let x = self.eval(x)?;
                    if !x.is_null() {
                        out.insert(k.clone(), x);
                    }
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn sub(&self, arg: &Value) -> Result<Value, String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Array(a) if a.len() == 2 => (a[0].as_str().ok_or("Fn::Sub text")?, Some(&a[1])),
            _ => return Err(format!("Fn::Sub: {arg}")),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("Fn::Sub unclosed: {text}"))?;
            let name = &after[..end];
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
            } else {
                let value = match vars.and_then(|v| v.get(name)) {
                    Some(v) => self.eval(v)?,
                    None if name.contains('.') => {
                        return Err(format!(
                            "Fn::Sub of an attribute ${{{name}}} is not supported"
                        ))
                    }
                    None => self.reference(name)?,
                };
                match value {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }
}

fn is_intrinsic(m: &Map<String, Value>) -> bool {
    m.len() == 1
        && m.keys()
            .all(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
}

// ------------------------------------------------------- function env

/// Where a function's layers are mounted on Lambda, and the local folder
/// that holds the same files (the layer's ContentUri).
pub fn layer_dirs(t: &Value, id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for l in function_prop(t, id, "Layers")
        .as_array()
        .into_iter()
        .flatten()
    {
        let layer = l["Ref"].as_str().unwrap_or_else(|| {
            panic!("{id}: a layer that is not a Ref to this template's layer: {l}")
        });
        let uri = resource(t, layer)["Properties"]["ContentUri"]
            .as_str()
            .unwrap_or_else(|| panic!("layer {layer} has no local ContentUri"));
        out.push(repo().join(uri));
    }
    out
}

/// The environment variables the template gives function `id`, evaluated.
/// Paths under `/opt/` (the layer mount) are mapped to the layer's local
/// folder, so a policy file the template names is the one `policies/` holds.
pub fn template_env(t: &Value, id: &str, r: &Resolver<'_>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let globals = &t["Globals"]["Function"]["Environment"]["Variables"];
    let own = &resource(t, id)["Properties"]["Environment"]["Variables"];
    let layers = layer_dirs(t, id);
    for source in [globals, own] {
        let Some(m) = source.as_object() else {
            continue;
        };
        for (k, v) in m {
            let v = r.eval(v).unwrap_or_else(|e| panic!("{id} {k}: {e}"));
            let v = match v {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => panic!("{id} {k}: not a scalar: {other}"),
            };
            let v = match v.strip_prefix("/opt/") {
                Some(rel) => {
                    let local = layers
                        .iter()
                        .map(|d| d.join(rel))
                        .find(|p| p.exists())
                        .unwrap_or_else(|| {
                            panic!("{id} {k}={v}: no layer of the function holds {rel}")
                        });
                    local.display().to_string()
                }
                None => v,
            };
            vars.insert(k.clone(), v);
        }
    }
    vars
}

/// What Lambda itself sets for the function (name, memory, log settings,
/// region, credentials), hermetic: no profile, no config file.
pub fn lambda_env(
    t: &Value,
    id: &str,
    r: &Resolver<'_>,
    runtime_api: &str,
) -> BTreeMap<String, String> {
    let s = |v: &Value| -> String {
        match r.eval(v).unwrap_or_else(|e| panic!("{id}: {e}")) {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    let name = s(function_prop(t, id, "FunctionName"));
    let logging = function_prop(t, id, "LoggingConfig");
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("AWS_LAMBDA_RUNTIME_API", runtime_api.into());
    set("AWS_LAMBDA_FUNCTION_NAME", name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into());
    set(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        s(function_prop(t, id, "MemorySize")),
    );
    // `LogGroup: !Ref <log group of this template>`: its LogGroupName.
    let log_group = match logging["LogGroup"]["Ref"].as_str() {
        Some(lg) => s(&resource(t, lg)["Properties"]["LogGroupName"]),
        None => s(&logging["LogGroup"]),
    };
    set("AWS_LAMBDA_LOG_GROUP_NAME", log_group);
    set(
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "2026/11/23/[$LATEST]00000000000000000000000000000000".into(),
    );
    set("AWS_LAMBDA_LOG_FORMAT", s(&logging["LogFormat"]));
    set("AWS_LAMBDA_LOG_LEVEL", s(&logging["ApplicationLogLevel"]));
    set("AWS_REGION", REGION.into());
    set("AWS_DEFAULT_REGION", REGION.into());
    set("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST".into());
    set("AWS_SECRET_ACCESS_KEY", "local-test-secret".into());
    set("AWS_SESSION_TOKEN", "local-test-token".into());
    set("AWS_CONFIG_FILE", "/dev/null".into());
    set("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into());
    set("LAMBDA_TASK_ROOT", "/var/task".into());
    set("LAMBDA_RUNTIME_DIR", "/var/runtime".into());
    set("_HANDLER", s(function_prop(t, id, "Handler")));
    set("TZ", ":UTC".into());
    env
}

// ------------------------------------------------------------ sentinel

/// A loopback listener standing in for every AWS endpoint that must not be
/// called: it counts the connections it received.
pub struct Sentinel {
    listener: TcpListener,
    pub addr: SocketAddr,
}

impl Sentinel {
    pub fn new() -> Sentinel {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("its address");
        Sentinel { listener, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections received so far (accepting them).
    pub fn connections(&self) -> usize {
        let mut n = 0;
        loop {
            match self.listener.accept() {
                Ok(_) => n += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
                Err(e) => panic!("sentinel accept: {e}"),
            }
        }
    }

    /// Endpoint variables pointing every service and the instance metadata
    /// service at the sentinel.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ENDPOINT_URL", self.url()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", self.url()),
        ]
    }
}

impl Default for Sentinel {
    fn default() -> Self {
        Sentinel::new()
    }
}

// ------------------------------------------------------------- process

/// A function binary as a Lambda process with exactly `env` (nothing
/// inherited, no test defaults) plus the Runtime API address; killed when
/// dropped. The shared harness of `warden_emulator::function`.
pub async fn lambda_process(
    binary: &Path,
    name: &str,
    env: &BTreeMap<String, String>,
) -> FunctionProcess {
    FunctionProcess::spawn(&Launch::new(binary, name).exact().vars(env))
        .await
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

// ------------------------------------------------------------ binaries

/// The function binaries: from `$WARDEN_BOOTSTRAP_DIR/<LogicalId>/bootstrap`
/// (the `sam build` artifacts, as scripts/test.sh sets it), else built now
/// with `cargo build` from the binary names the template gives.
pub fn binaries(t: &Value) -> BTreeMap<String, PathBuf> {
    let names: Vec<(String, String)> = FUNCTIONS
        .iter()
        .map(|(id, _)| {
            let bin = resource(t, id)["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: no Metadata.BuildProperties.Binary"))
                .to_string();
            (id.to_string(), bin)
        })
        .collect();
    if let Some(dir) = std::env::var_os("WARDEN_BOOTSTRAP_DIR") {
        let dir = PathBuf::from(dir);
        return names
            .into_iter()
            .map(|(id, _)| {
                let p = dir.join(&id).join("bootstrap");
                assert!(
                    p.is_file(),
                    "{} is missing (WARDEN_BOOTSTRAP_DIR)",
                    p.display()
                );
                (id, p)
            })
            .collect();
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(repo()).args([
        "build",
        "--locked",
        "--workspace",
        "--message-format=json-render-diagnostics",
    ]);
    for (_, bin) in &names {
        cmd.args(["--bin", bin]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build of the function binaries failed"
    );
    let mut built = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["kind"][0] == "bin" {
            if let (Some(name), Some(exe)) =
                (msg["target"]["name"].as_str(), msg["executable"].as_str())
            {
                built.insert(name.to_string(), PathBuf::from(exe));
            }
        }
    }
    names
        .into_iter()
        .map(|(id, bin)| {
            let p = built
                .remove(&bin)
                .unwrap_or_else(|| panic!("cargo built no binary `{bin}` (template {id})"));
            (id, p)
        })
        .collect()
}
