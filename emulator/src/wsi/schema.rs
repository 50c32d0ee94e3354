//! Input validation from the API reference: a small declarative schema per
//! operation input (types, required members, lengths, ranges, enums and
//! patterns), checked before the operation runs. The first violation becomes
//! a `ValidationException` naming the member path, e.g.
//! `ManagedInstance.Placement.AvailabilityZone` or `Tags[3].Key`.
//!
//! Patterns are matched against the whole value (the service anchors them).
//! Members the schema does not know are ignored, so a newer SDK's extra
//! members are accepted. Lengths count Unicode code points, as Smithy does.
//!
//! Two reference patterns are read for their evident intent:
//! * `Placement.AvailabilityZone` is printed as `[a-z]{2}-[a-z]+\d[a-z]...`,
//!   which no zone name matches; it is checked as
//!   `[a-z]{2}-[a-z]+-\d[a-z](-[a-z0-9]+)?` (`us-east-1a`, `ap-southeast-2b`).
//! * Tag keys and values use `\p{L}\p{Z}\p{N}`; letters are approximated by
//!   Rust's `char::is_alphabetic`, separators by non-control whitespace.
//!
//! The IPv4/IPv6 *prefix* patterns are not checked (length-free, any text).

use ciborium::Value;

use super::cbor::{epoch_seconds, type_name, Obj};
use super::error::ApiError;

/// A string pattern from the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pat {
    Any,
    /// `wsinst-[0-9a-zA-Z]{8,63}`
    WsInstId,
    /// `<prefix>[0-9a-zA-Z]{1,63}` (`vol-`, `ami-`, `subnet-`, `sg-`, ...).
    Prefixed(&'static str),
    /// `arn:.*`
    Arn,
    /// `[a-z0-9-]+\.[a-z0-9-]+`
    InstanceType,
    Ipv4,
    AvailabilityZone,
    TagKey,
    TagValue,
    /// `ephemeral(0|[1-9][0-9]{0,2})`
    Ephemeral,
    /// `(?!sg-)[\w .:/()#,@\[\]\+=&;{}!\$\*-]{0,255}`
    SecurityGroupName,
    /// `[-0-9a-z]{1,31}`
    RegionName,
}

impl Pat {
    pub fn describe(self) -> String {
        match self {
            Pat::Any => ".*".into(),
            Pat::WsInstId => "wsinst-[0-9a-zA-Z]{8,63}".into(),
            Pat::Prefixed(p) => format!("{p}[0-9a-zA-Z]{{1,63}}"),
            Pat::Arn => "arn:.*".into(),
            Pat::InstanceType => "[a-z0-9-]+\\.[a-z0-9-]+".into(),
            Pat::Ipv4 => "an IPv4 address".into(),
            Pat::AvailabilityZone => "[a-z]{2}-[a-z]+-\\d[a-z](-[a-z0-9]+)?".into(),
            Pat::TagKey => "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+".into(),
            Pat::TagValue => "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*".into(),
            Pat::Ephemeral => "ephemeral(0|[1-9][0-9]{0,2})".into(),
            Pat::SecurityGroupName => "(?!sg-)[\\w .:/()#,@\\[\\]\\+=&;{}!\\$\\*-]{0,255}".into(),
            Pat::RegionName => "[-0-9a-z]{1,31}".into(),
        }
    }

    pub fn matches(self, s: &str) -> bool {
        match self {
            Pat::Any => true,
            Pat::WsInstId => s
                .strip_prefix("wsinst-")
                .is_some_and(|rest| alnum_run(rest, 8, 63)),
            Pat::Prefixed(p) => s.strip_prefix(p).is_some_and(|rest| alnum_run(rest, 1, 63)),
            Pat::Arn => s.starts_with("arn:"),
            Pat::InstanceType => match s.split_once('.') {
                Some((a, b)) => {
                    let part = |x: &str| {
                        !x.is_empty()
                            && x.bytes()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    };
                    part(a) && part(b)
                }
                None => false,
            },
            Pat::Ipv4 => {
                let parts: Vec<&str> = s.split('.').collect();
                parts.len() == 4
                    && parts.iter().all(|p| {
                        (1..=3).contains(&p.len())
                            && p.bytes().all(|c| c.is_ascii_digit())
                            && p.parse::<u16>().is_ok_and(|n| n <= 255)
                    })
            }
            Pat::AvailabilityZone => is_availability_zone(s),
            Pat::TagKey => !s.is_empty() && s.chars().all(tag_char),
            Pat::TagValue => s.chars().all(tag_char),
            Pat::Ephemeral => s.strip_prefix("ephemeral").is_some_and(|n| {
                n == "0"
                    || ((1..=3).contains(&n.len())
                        && n.bytes().all(|c| c.is_ascii_digit())
                        && !n.starts_with('0'))
            }),
            Pat::SecurityGroupName => {
                !s.starts_with("sg-")
                    && s.chars().count() <= 255
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || " _.:/()#,@[]+=&;{}!$*-".contains(c))
            }
            Pat::RegionName => {
                (1..=31).contains(&s.len())
                    && s.bytes()
                        .all(|c| c == b'-' || c.is_ascii_digit() || c.is_ascii_lowercase())
            }
        }
    }
}

fn alnum_run(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`
pub fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || "_.:/=+-@".contains(c)
}

fn is_availability_zone(s: &str) -> bool {
    // [a-z]{2}-[a-z]+-\d[a-z](-[a-z0-9]+)?
    let b = s.as_bytes();
    if b.len() < 8 || !b[0].is_ascii_lowercase() || !b[1].is_ascii_lowercase() || b[2] != b'-' {
        return false;
    }
    let rest = &s[3..];
    let Some((word, tail)) = rest.split_once('-') else {
        return false;
    };
    if word.is_empty() || !word.bytes().all(|c| c.is_ascii_lowercase()) {
        return false;
    }
    let t = tail.as_bytes();
    if t.len() < 2 || !t[0].is_ascii_digit() || !t[1].is_ascii_lowercase() {
        return false;
    }
    match &tail[2..] {
        "" => true,
        local => local.strip_prefix('-').is_some_and(|x| {
            !x.is_empty()
                && x.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        }),
    }
}

/// The shape of one member.
#[derive(Debug)]
pub enum S {
    Str {
        min: usize,
        max: usize,
        pat: Pat,
    },
    Enum(&'static [&'static str]),
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    Timestamp,
    List {
        item: &'static S,
        min: usize,
        max: usize,
    },
    Struct(&'static [F]),
}

/// One member of a structure.
#[derive(Debug)]
pub struct F {
    pub name: &'static str,
    pub shape: S,
    pub required: bool,
}

const fn opt(name: &'static str, shape: S) -> F {
    F {
        name,
        shape,
        required: false,
    }
}

const fn req(name: &'static str, shape: S) -> F {
    F {
        name,
        shape,
        required: true,
    }
}

const INT32_MAX: i64 = i32::MAX as i64;
const UNBOUNDED: usize = usize::MAX;

const fn len(min: usize, max: usize) -> S {
    S::Str {
        min,
        max,
        pat: Pat::Any,
    }
}

const fn pat(p: Pat) -> S {
    S::Str {
        min: 0,
        max: UNBOUNDED,
        pat: p,
    }
}

const fn id_of(prefix: &'static str) -> S {
    pat(Pat::Prefixed(prefix))
}

const fn nonneg() -> S {
    S::Int {
        min: 0,
        max: INT32_MAX,
    }
}

const fn list(item: &'static S) -> S {
    S::List {
        item,
        min: 0,
        max: UNBOUNDED,
    }
}

pub const WSINST_ID: S = S::Str {
    min: 15,
    max: 70,
    pat: Pat::WsInstId,
};
pub const VOLUME_ID: S = id_of("vol-");
const CLIENT_TOKEN: S = len(1, 64);
const NEXT_TOKEN: S = len(1, 2048);
const MAX_RESULTS: S = S::Int { min: 1, max: 25 };
const ARN: S = S::Str {
    min: 0,
    max: 2048,
    pat: Pat::Arn,
};
pub const PROVISION_STATES: &[&str] = &[
    "ALLOCATING",
    "ALLOCATED",
    "DEALLOCATING",
    "DEALLOCATED",
    "ERROR_ALLOCATING",
    "ERROR_DEALLOCATING",
];
pub const VOLUME_TYPES: &[&str] = &["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"];
pub const BILLING_MODES: &[&str] = &["HOURLY", "MONTHLY"];
pub const PLATFORM_TYPES: &[&str] = &[
    "Windows",
    "Windows BYOL",
    "Linux/UNIX",
    "Ubuntu Pro Linux",
    "Red Hat Enterprise Linux",
    "Red Hat BYOL Linux",
    "SUSE Linux",
];
pub const TENANCIES: &[&str] = &["SHARED", "DEDICATED"];
const ENABLED_DISABLED: S = S::Enum(&["enabled", "disabled"]);

pub const TAG_KEY: S = S::Str {
    min: 1,
    max: 128,
    pat: Pat::TagKey,
};
pub const TAG_VALUE: S = S::Str {
    min: 0,
    max: 256,
    pat: Pat::TagValue,
};
// The reference marks Key and Value optional in `Tag`; the service cannot
// store a tag without a key, so Key is required here (Value defaults to "").
const TAG: S = S::Struct(&[req("Key", TAG_KEY), opt("Value", TAG_VALUE)]);
const TAGS: S = S::List {
    item: &TAG,
    min: 0,
    max: 30,
};
const TAG_SPECIFICATION: S = S::Struct(&[
    opt(
        "ResourceType",
        S::Enum(&[
            "instance",
            "volume",
            "spot-instances-request",
            "network-interface",
        ]),
    ),
    opt("Tags", TAGS),
]);
const TAG_SPECIFICATIONS: S = S::List {
    item: &TAG_SPECIFICATION,
    min: 0,
    max: 30,
};

const EBS: S = S::Struct(&[
    opt("Encrypted", S::Bool),
    opt("Iops", nonneg()),
    opt("KmsKeyId", len(0, 128)),
    opt("Throughput", nonneg()),
    opt("VolumeSize", nonneg()),
    opt("VolumeType", S::Enum(VOLUME_TYPES)),
]);
const BLOCK_DEVICE_MAPPING: S = S::Struct(&[
    opt("DeviceName", len(0, 32)),
    opt("Ebs", EBS),
    opt("NoDevice", len(0, 32)),
    opt("VirtualName", pat(Pat::Ephemeral)),
]);
const INSTANCE_IPV6_ADDRESS: S = S::Struct(&[
    opt("Ipv6Address", len(0, 128)),
    opt("IsPrimaryIpv6", S::Bool),
]);
const PRIVATE_IP: S = pat(Pat::Ipv4);
const NETWORK_INTERFACE: S = S::Struct(&[
    opt("AssociateCarrierIpAddress", S::Bool),
    opt("AssociatePublicIpAddress", S::Bool),
    opt(
        "ConnectionTrackingSpecification",
        S::Struct(&[
            opt("TcpEstablishedTimeout", nonneg()),
            opt("UdpStreamTimeout", nonneg()),
            opt("UdpTimeout", nonneg()),
        ]),
    ),
    opt("Description", len(0, 1000)),
    opt("DeviceIndex", nonneg()),
    opt(
        "EnaSrdSpecification",
        S::Struct(&[
            opt("EnaSrdEnabled", S::Bool),
            opt(
                "EnaSrdUdpSpecification",
                S::Struct(&[opt("EnaSrdUdpEnabled", S::Bool)]),
            ),
        ]),
    ),
    opt("Groups", list(&id_of("sg-"))),
    opt("InterfaceType", S::Enum(&["interface", "efa", "efa-only"])),
    opt("Ipv4PrefixCount", nonneg()),
    opt(
        "Ipv4Prefixes",
        list(&S::Struct(&[opt("Ipv4Prefix", pat(Pat::Any))])),
    ),
    opt("Ipv6AddressCount", nonneg()),
    opt("Ipv6Addresses", list(&INSTANCE_IPV6_ADDRESS)),
    opt("Ipv6PrefixCount", nonneg()),
    opt(
        "Ipv6Prefixes",
        list(&S::Struct(&[opt("Ipv6Prefix", pat(Pat::Any))])),
    ),
    opt("NetworkCardIndex", nonneg()),
    opt("NetworkInterfaceId", id_of("eni-")),
    opt("PrimaryIpv6", S::Bool),
    opt("PrivateIpAddress", PRIVATE_IP),
    opt(
        "PrivateIpAddresses",
        list(&S::Struct(&[
            opt("Primary", S::Bool),
            opt("PrivateIpAddress", PRIVATE_IP),
        ])),
    ),
    opt("SecondaryPrivateIpAddressCount", nonneg()),
    opt("SubnetId", id_of("subnet-")),
]);
const PLACEMENT: S = S::Struct(&[
    opt("Affinity", len(0, 64)),
    opt("AvailabilityZone", pat(Pat::AvailabilityZone)),
    opt("GroupId", id_of("pg-")),
    opt("GroupName", len(0, 64)),
    opt("HostId", id_of("h-")),
    opt("HostResourceGroupArn", ARN),
    opt("PartitionNumber", nonneg()),
    opt("Tenancy", S::Enum(&["default", "dedicated", "host"])),
]);
const MANAGED_INSTANCE: S = S::Struct(&[
    opt("BlockDeviceMappings", list(&BLOCK_DEVICE_MAPPING)),
    opt(
        "CapacityReservationSpecification",
        S::Struct(&[
            opt(
                "CapacityReservationPreference",
                S::Enum(&["capacity-reservations-only", "open", "none"]),
            ),
            opt(
                "CapacityReservationTarget",
                S::Struct(&[
                    opt("CapacityReservationId", len(0, 128)),
                    opt("CapacityReservationResourceGroupArn", ARN),
                ]),
            ),
        ]),
    ),
    opt(
        "CpuOptions",
        S::Struct(&[
            opt("AmdSevSnp", ENABLED_DISABLED),
            opt("CoreCount", nonneg()),
            opt("ThreadsPerCore", nonneg()),
        ]),
    ),
    opt(
        "CreditSpecification",
        S::Struct(&[opt("CpuCredits", S::Enum(&["standard", "unlimited"]))]),
    ),
    opt("DisableApiStop", S::Bool),
    opt("EbsOptimized", S::Bool),
    opt("EnablePrimaryIpv6", S::Bool),
    opt("EnclaveOptions", S::Struct(&[opt("Enabled", S::Bool)])),
    opt(
        "HibernationOptions",
        S::Struct(&[opt("Configured", S::Bool)]),
    ),
    opt(
        "IamInstanceProfile",
        S::Struct(&[opt("Arn", ARN), opt("Name", len(0, 64))]),
    ),
    opt("ImageId", id_of("ami-")),
    opt(
        "InstanceMarketOptions",
        S::Struct(&[
            opt("MarketType", S::Enum(&["spot", "capacity-block"])),
            opt(
                "SpotOptions",
                S::Struct(&[
                    opt("BlockDurationMinutes", nonneg()),
                    opt(
                        "InstanceInterruptionBehavior",
                        S::Enum(&["hibernate", "stop"]),
                    ),
                    opt("MaxPrice", len(0, 64)),
                    opt("SpotInstanceType", S::Enum(&["one-time", "persistent"])),
                    opt("ValidUntilUtc", S::Timestamp),
                ]),
            ),
        ]),
    ),
    opt("InstanceType", pat(Pat::InstanceType)),
    opt("Ipv6AddressCount", nonneg()),
    opt("Ipv6Addresses", list(&INSTANCE_IPV6_ADDRESS)),
    opt("KernelId", len(0, 128)),
    opt("KeyName", len(0, 64)),
    opt(
        "LicenseSpecifications",
        list(&S::Struct(&[opt("LicenseConfigurationArn", ARN)])),
    ),
    opt(
        "MaintenanceOptions",
        S::Struct(&[opt("AutoRecovery", S::Enum(&["disabled", "default"]))]),
    ),
    opt(
        "MetadataOptions",
        S::Struct(&[
            opt("HttpEndpoint", ENABLED_DISABLED),
            opt("HttpProtocolIpv6", ENABLED_DISABLED),
            opt("HttpPutResponseHopLimit", S::Int { min: 1, max: 64 }),
            opt("HttpTokens", S::Enum(&["optional", "required"])),
            opt("InstanceMetadataTags", ENABLED_DISABLED),
        ]),
    ),
    opt("Monitoring", S::Struct(&[opt("Enabled", S::Bool)])),
    opt("NetworkInterfaces", list(&NETWORK_INTERFACE)),
    opt(
        "NetworkPerformanceOptions",
        S::Struct(&[opt(
            "BandwidthWeighting",
            S::Enum(&["default", "vpc-1", "ebs-1"]),
        )]),
    ),
    opt("Placement", PLACEMENT),
    opt(
        "PrivateDnsNameOptions",
        S::Struct(&[
            opt("EnableResourceNameDnsAAAARecord", S::Bool),
            opt("EnableResourceNameDnsARecord", S::Bool),
            opt("HostnameType", S::Enum(&["ip-name", "resource-name"])),
        ]),
    ),
    opt("PrivateIpAddress", PRIVATE_IP),
    opt("RamdiskId", len(0, 128)),
    opt("SecurityGroupIds", list(&id_of("sg-"))),
    opt("SecurityGroups", list(&pat(Pat::SecurityGroupName))),
    opt("SubnetId", id_of("subnet-")),
    opt("TagSpecifications", TAG_SPECIFICATIONS),
    opt("UserData", len(0, 16000)),
]);

pub const ASSOCIATE_VOLUME: S = S::Struct(&[
    req("Device", len(0, 32)),
    req("VolumeId", VOLUME_ID),
    req("WorkspaceInstanceId", WSINST_ID),
]);
pub const CREATE_VOLUME: S = S::Struct(&[
    req("AvailabilityZone", len(0, 64)),
    opt("ClientToken", CLIENT_TOKEN),
    opt("Encrypted", S::Bool),
    opt("Iops", nonneg()),
    opt("KmsKeyId", len(0, 128)),
    opt("SizeInGB", nonneg()),
    opt("SnapshotId", id_of("snap-")),
    opt("TagSpecifications", TAG_SPECIFICATIONS),
    opt("Throughput", nonneg()),
    opt("VolumeType", S::Enum(VOLUME_TYPES)),
]);
pub const CREATE_WORKSPACE_INSTANCE: S = S::Struct(&[
    opt("ClientToken", CLIENT_TOKEN),
    req("ManagedInstance", MANAGED_INSTANCE),
    opt("Tags", TAGS),
    opt(
        "BillingConfiguration",
        S::Struct(&[req("BillingMode", S::Enum(BILLING_MODES))]),
    ),
]);
pub const DELETE_VOLUME: S = S::Struct(&[req("VolumeId", VOLUME_ID)]);
pub const INSTANCE_ID_ONLY: S = S::Struct(&[req("WorkspaceInstanceId", WSINST_ID)]);
pub const DISASSOCIATE_VOLUME: S = S::Struct(&[
    opt("Device", len(0, 32)),
    opt("DisassociateMode", S::Enum(&["FORCE", "NO_FORCE"])),
    req("VolumeId", VOLUME_ID),
    req("WorkspaceInstanceId", WSINST_ID),
]);
pub const LIST_INSTANCE_TYPES: S = S::Struct(&[
    opt("MaxResults", MAX_RESULTS),
    opt("NextToken", NEXT_TOKEN),
    opt(
        "InstanceConfigurationFilter",
        S::Struct(&[
            req("BillingMode", S::Enum(BILLING_MODES)),
            req("PlatformType", S::Enum(PLATFORM_TYPES)),
            req("Tenancy", S::Enum(TENANCIES)),
        ]),
    ),
]);
pub const LIST_REGIONS: S =
    S::Struct(&[opt("MaxResults", MAX_RESULTS), opt("NextToken", NEXT_TOKEN)]);
pub const LIST_WORKSPACE_INSTANCES: S = S::Struct(&[
    opt("MaxResults", MAX_RESULTS),
    opt("NextToken", NEXT_TOKEN),
    opt("ProvisionStates", list(&S::Enum(PROVISION_STATES))),
]);
pub const MODIFY_VOLUME: S = S::Struct(&[
    req("VolumeId", VOLUME_ID),
    opt("SizeInGB", nonneg()),
    opt("VolumeType", S::Enum(VOLUME_TYPES)),
    opt("Iops", nonneg()),
    opt("Throughput", nonneg()),
    opt("ClientToken", CLIENT_TOKEN),
]);
pub const TAG_RESOURCE: S = S::Struct(&[req("Tags", TAGS), req("WorkspaceInstanceId", WSINST_ID)]);
pub const UNTAG_RESOURCE: S = S::Struct(&[
    req(
        "TagKeys",
        S::List {
            item: &TAG_KEY,
            min: 1,
            max: 30,
        },
    ),
    req("WorkspaceInstanceId", WSINST_ID),
]);

/// Shortens a value for an error message.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    format!("{out:?}")
}

/// Checks `v` against `shape`; `path` names it in the error.
pub fn check(v: &Value, shape: &S, path: &str) -> Result<(), ApiError> {
    let wrong_type = |want: &str| {
        ApiError::field(
            path,
            format!("expected {want}, got a CBOR {}", type_name(v)),
        )
    };
    match shape {
        S::Str { min, max, pat } => {
            let s = v.as_text().ok_or_else(|| wrong_type("a text string"))?;
            let n = s.chars().count();
            if n < *min || n > *max {
                let bound = if *max == UNBOUNDED {
                    format!("at least {min}")
                } else {
                    format!("between {min} and {max}")
                };
                return Err(ApiError::field(
                    path,
                    format!("value {} has length {n}; length must be {bound}", shown(s)),
                ));
            }
            if !pat.matches(s) {
                return Err(ApiError::field(
                    path,
                    format!(
                        "value {} does not match the pattern {}",
                        shown(s),
                        pat.describe()
                    ),
                ));
            }
        }
        S::Enum(values) => {
            let s = v.as_text().ok_or_else(|| wrong_type("a text string"))?;
            if !values.contains(&s) {
                return Err(ApiError::field(
                    path,
                    format!("value {} is not one of [{}]", shown(s), values.join(", ")),
                ));
            }
        }
        S::Int { min, max } => {
            let i = v.as_integer().ok_or_else(|| wrong_type("an integer"))?;
            let i = i128::from(i);
            if i < i128::from(*min) || i > i128::from(*max) {
                return Err(ApiError::field(
                    path,
                    format!("value {i} is out of range; it must be between {min} and {max}"),
                ));
            }
        }
        S::Bool => {
            v.as_bool().ok_or_else(|| wrong_type("a boolean"))?;
        }
        S::Timestamp => {
            let inner = match v {
                Value::Tag(1, inner) => inner.as_ref(),
                other => other,
            };
            if epoch_seconds(inner).is_none() {
                return Err(wrong_type("a timestamp (epoch seconds, CBOR tag 1)"));
            }
        }
        S::List { item, min, max } => {
            let items = v.as_array().ok_or_else(|| wrong_type("an array"))?;
            if items.len() < *min || items.len() > *max {
                let bound = if *max == UNBOUNDED {
                    format!("at least {min}")
                } else {
                    format!("between {min} and {max}")
                };
                return Err(ApiError::field(
                    path,
                    format!("has {} items; it must have {bound}", items.len()),
                ));
            }
            for (i, item_value) in items.iter().enumerate() {
                // Sparse lists are not modelled: a null item is an error.
                check(item_value, item, &format!("{path}[{i}]"))?;
            }
        }
        S::Struct(fields) => {
            let obj = Obj::new(v).ok_or_else(|| wrong_type("a map"))?;
            for f in fields.iter() {
                let member = if path.is_empty() {
                    f.name.to_string()
                } else {
                    format!("{path}.{}", f.name)
                };
                match obj.get(f.name) {
                    Some(value) => check(value, &f.shape, &member)?,
                    None if f.required => {
                        return Err(ApiError::field(&member, "member is required"))
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(Pat::WsInstId.matches("wsinst-abcd1234"));
        assert!(!Pat::WsInstId.matches("wsinst-abc"));
        assert!(!Pat::WsInstId.matches("wsinst-abcd_1234"));
        assert!(!Pat::WsInstId.matches("xwsinst-abcd1234"));
        assert!(Pat::Prefixed("vol-").matches("vol-0a1b"));
        assert!(!Pat::Prefixed("vol-").matches("vol-"));
        assert!(Pat::InstanceType.matches("g4dn.xlarge"));
        assert!(!Pat::InstanceType.matches("g4dn"));
        assert!(!Pat::InstanceType.matches("G4.x"));
        assert!(Pat::AvailabilityZone.matches("us-east-1a"));
        assert!(Pat::AvailabilityZone.matches("ap-southeast-2b"));
        assert!(Pat::AvailabilityZone.matches("us-east-1a-x1"));
        assert!(!Pat::AvailabilityZone.matches("us-east-1"));
        assert!(!Pat::AvailabilityZone.matches("useast1a"));
        assert!(Pat::Ipv4.matches("10.0.0.255"));
        assert!(!Pat::Ipv4.matches("10.0.0.256"));
        assert!(!Pat::Ipv4.matches("10.0.0"));
        assert!(Pat::TagKey.matches("warden:protect"));
        assert!(Pat::TagKey.matches("Café Ωmega 9"));
        assert!(!Pat::TagKey.matches("bad*key"));
        assert!(!Pat::TagKey.matches(""));
        assert!(Pat::TagValue.matches(""));
        assert!(!Pat::TagValue.matches("tab\there"));
        assert!(Pat::Ephemeral.matches("ephemeral0"));
        assert!(Pat::Ephemeral.matches("ephemeral23"));
        assert!(!Pat::Ephemeral.matches("ephemeral01"));
        assert!(Pat::SecurityGroupName.matches("default"));
        assert!(!Pat::SecurityGroupName.matches("sg-123"));
    }

    #[test]
    fn check_names_the_nested_member() {
        let v = Value::Map(vec![(
            Value::Text("ManagedInstance".into()),
            Value::Map(vec![(
                Value::Text("Placement".into()),
                Value::Map(vec![(
                    Value::Text("AvailabilityZone".into()),
                    Value::Text("nowhere".into()),
                )]),
            )]),
        )]);
        let err = check(&v, &CREATE_WORKSPACE_INSTANCE, "").unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("ManagedInstance.Placement.AvailabilityZone")
        );
        let err = check(&Value::Map(vec![]), &CREATE_WORKSPACE_INSTANCE, "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("ManagedInstance"));
    }
}
