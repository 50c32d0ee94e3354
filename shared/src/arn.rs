//! The identifiers euc-warden reads from policies, configuration and
//! events, parsed in one place: WorkLink fleet ARNs, WorkSpaces Secure
//! Browser portal ARNs, Kinesis stream ARNs (and the WorkLink audit-stream
//! rule on their names), and WorkSpaces Instance ids.
//!
//! Every parser returns a borrowed view of its input or a message that
//! quotes the input and shows the expected shape, ready for a located
//! policy error or an environment-variable error.

/// An ARN split into its six parts:
/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`. The resource keeps any
/// further `:` or `/` it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// The service namespace (`worklink`, `kinesis`, `workspaces-web`).
    pub service: &'a str,
    /// The region; empty for global resources such as WorkLink fleets.
    pub region: &'a str,
    /// The account id; may be empty.
    pub account: &'a str,
    /// Everything after the fifth `:` (`fleet/corp`, `stream/name`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text` into an ARN's parts; `None` unless it has the six parts,
    /// begins with `arn:` and names an AWS partition (`aws...`).
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let (partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        partition.starts_with("aws").then_some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }
}

/// The shape of a fleet ARN, as error messages show it.
const FLEET_SHAPE: &str = "arn:aws:worklink::<account>:fleet/<name>, 20 to 2048 characters";

/// A WorkLink fleet ARN: `arn:aws:worklink::<account>:fleet/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetArn<'a> {
    /// The whole ARN, as given.
    pub arn: &'a str,
    /// The fleet name (after `fleet/`).
    pub name: &'a str,
}

impl<'a> FleetArn<'a> {
    /// Parses a fleet ARN: service `worklink`, resource `fleet/<name>` with
    /// a non-empty name, 20 to 2048 characters in all (the API's limits).
    pub fn parse(text: &'a str) -> Result<FleetArn<'a>, String> {
        let name = Arn::parse(text)
            .filter(|a| a.service == "worklink" && (20..=2048).contains(&text.len()))
            .and_then(|a| a.resource.strip_prefix("fleet/"))
            .filter(|n| !n.is_empty());
        match name {
            Some(name) => Ok(FleetArn { arn: text, name }),
            None => Err(format!(
                "`{text}` is not a fleet ARN (expected a WorkLink fleet ARN: {FLEET_SHAPE})"
            )),
        }
    }
}

/// A WorkSpaces Secure Browser portal ARN:
/// `arn:aws:workspaces-web:<region>:<account>:portal/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalArn<'a> {
    /// The whole ARN, as given.
    pub arn: &'a str,
    /// The region.
    pub region: &'a str,
    /// The portal id: the last `/` part of the resource.
    pub id: &'a str,
}

impl<'a> PortalArn<'a> {
    /// Whether `text` is a portal ARN, without building an error message
    /// (for reading events, where most ARNs are WorkLink fleets).
    pub fn is_portal(text: &str) -> bool {
        // The service is a whole `:`-separated part: without this
        // substring (a WorkLink fleet, most events) it cannot be a
        // portal, and nothing is parsed.
        text.contains(":workspaces-web:")
            && Arn::parse(text).is_some_and(|a| {
                a.service == "workspaces-web"
                    && a.resource
                        .strip_prefix("portal/")
                        .and_then(|r| r.rsplit('/').next())
                        .is_some_and(|id| !id.is_empty())
            })
    }

    /// Parses a portal ARN: service `workspaces-web`, resource `portal/...`;
    /// the id is the resource's last `/` part and must not be empty.
    pub fn parse(text: &'a str) -> Result<PortalArn<'a>, String> {
        let parsed = Arn::parse(text)
            .filter(|a| a.service == "workspaces-web" && a.resource.starts_with("portal/"))
            .and_then(|a| {
                let id = a.resource.rsplit('/').next().filter(|id| !id.is_empty())?;
                Some(PortalArn {
                    arn: text,
                    region: a.region,
                    id,
                })
            });
        parsed.ok_or_else(|| {
            format!(
                "`{text}` is not a WorkSpaces Secure Browser portal ARN (arn:aws:workspaces-web:<region>:<account>:portal/<id>)"
            )
        })
    }
}

/// Every WorkLink audit stream's name begins with this: the service only
/// writes to Kinesis streams named so.
pub const WORKLINK_STREAM_PREFIX: &str = "AmazonWorkLink-";

/// A Kinesis data stream ARN:
/// `arn:aws:kinesis:<region>:<account>:stream/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamArn<'a> {
    /// The whole ARN, as given.
    pub arn: &'a str,
    /// The region.
    pub region: &'a str,
    /// The stream name (1 to 128 characters, no `/`).
    pub name: &'a str,
}

impl<'a> StreamArn<'a> {
    /// Parses a Kinesis data stream ARN; the errors say which part is wrong.
    pub fn parse(text: &'a str) -> Result<StreamArn<'a>, String> {
        let Some(arn) = Arn::parse(text).filter(|a| a.service == "kinesis") else {
            return Err(format!(
                "`{text}` is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)"
            ));
        };
        let Some(name) = arn.resource.strip_prefix("stream/") else {
            return Err(format!(
                "`{text}` is not a Kinesis data stream ARN (the resource must be stream/<name>)"
            ));
        };
        if name.is_empty() || name.len() > 128 || name.contains('/') {
            return Err(format!(
                "stream name `{name}` is not valid (1 to 128 characters, no `/`)"
            ));
        }
        Ok(StreamArn {
            arn: text,
            region: arn.region,
            name,
        })
    }

    /// Parses the ARN of a stream WorkLink can write its audit events to: a
    /// Kinesis data stream whose name begins with
    /// [`WORKLINK_STREAM_PREFIX`].
    pub fn parse_worklink_audit(text: &'a str) -> Result<StreamArn<'a>, String> {
        let stream = StreamArn::parse(text).map_err(|e| {
            if e.starts_with("stream name") {
                e
            } else {
                format!(
                    "{e}; a WorkLink audit stream's name begins with `{WORKLINK_STREAM_PREFIX}`"
                )
            }
        })?;
        if !stream.name.starts_with(WORKLINK_STREAM_PREFIX) {
            return Err(format!(
                "stream name `{}` does not begin with `{WORKLINK_STREAM_PREFIX}`; WorkLink only writes audit events to streams named `{WORKLINK_STREAM_PREFIX}*`",
                stream.name
            ));
        }
        Ok(stream)
    }
}

/// Checks a WorkSpaces Instance id: `wsinst-` then 8 to 63 ASCII letters or
/// digits (the API's `WorkspaceInstanceId` pattern).
pub fn instance_id(text: &str) -> Result<&str, String> {
    let ok = text.strip_prefix("wsinst-").is_some_and(|rest| {
        (8..=63).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if ok {
        Ok(text)
    } else {
        Err(format!(
            "`{text}` is not a WorkSpaces Instance id (wsinst- then 8 to 63 letters or digits)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parts() {
        let a = Arn::parse("arn:aws:kinesis:us-east-1:123456789012:stream/a:b").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws", "kinesis", "us-east-1", "123456789012", "stream/a:b")
        );
        assert!(Arn::parse("arn:aws:kinesis:us-east-1:123456789012").is_none());
        assert!(Arn::parse("arm:aws:kinesis:r:a:stream/x").is_none());
        assert!(Arn::parse("arn:gcp:kinesis:r:a:stream/x").is_none());
    }

    #[test]
    fn fleet_arns() {
        let f = FleetArn::parse("arn:aws:worklink::123456789012:fleet/corp").unwrap();
        assert_eq!(f.name, "corp");
        assert_eq!(
            FleetArn::parse("arn:aws:worklink::1:fleet/a").unwrap().name,
            "a"
        );
        assert!(FleetArn::parse("arn:aws-cn:worklink::1:fleet/corp-mobile").is_ok());
        for bad in [
            "corp",
            "nope",
            "arn:aws:worklink::123456789012:fleet/",
            "arn:aws:worklink::123456789012:domain/corp",
            "arn:aws:kinesis::123456789012:fleet/corp",
        ] {
            let e = FleetArn::parse(bad).unwrap_err();
            assert!(
                e.contains(bad) && e.contains("not a fleet ARN") && e.contains("20 to 2048"),
                "{e}"
            );
        }
        let long = format!("arn:aws:worklink::1:fleet/{}", "x".repeat(2048));
        assert!(FleetArn::parse(&long).is_err());
    }

    #[test]
    fn portal_arns() {
        let p = PortalArn::parse(
            "arn:aws:workspaces-web:us-east-1:123456789012:portal/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
        )
        .unwrap();
        assert_eq!(p.id, "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9");
        assert_eq!(p.region, "us-east-1");
        assert_eq!(
            PortalArn::parse("arn:aws:workspaces-web:us-east-1:1:portal/a/b")
                .unwrap()
                .id,
            "b"
        );
        for bad in [
            "arn:aws:workspaces-web:us-east-1:1:portal/",
            "arn:aws:workspaces-web:us-east-1:1:browserSettings/x",
            "arn:aws:worklink::123456789012:fleet/corp",
        ] {
            assert!(
                PortalArn::parse(bad).unwrap_err().contains("portal ARN"),
                "{bad}"
            );
        }
        // `is_portal` (read per event and rule) says what `parse` says.
        for text in [
            "arn:aws:workspaces-web:us-east-1:1:portal/p",
            "arn:aws-cn:workspaces-web:cn-north-1:1:portal/a/b",
            "arn:aws:workspaces-web:us-east-1:1:portal/",
            "arn:aws:workspaces-web-x:us-east-1:1:portal/p",
            "arn:aws:x-workspaces-web:us-east-1:1:portal/p",
            "arn:aws:worklink::1:fleet/workspaces-web:portal/p",
            "arn:gov:workspaces-web:us-east-1:1:portal/p",
            "workspaces-web:portal/p",
            "",
        ] {
            assert_eq!(
                PortalArn::is_portal(text),
                PortalArn::parse(text).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn stream_arns() {
        let s =
            StreamArn::parse("arn:aws:kinesis:us-east-1:123456789012:stream/corp-audit").unwrap();
        assert_eq!((s.region, s.name), ("us-east-1", "corp-audit"));
        let w = StreamArn::parse_worklink_audit(
            "arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/AmazonWorkLink-a",
        )
        .unwrap();
        assert_eq!(w.name, "AmazonWorkLink-a");
        let e = StreamArn::parse_worklink_audit(
            "arn:aws:kinesis:us-east-1:123456789012:stream/corp-audit",
        )
        .unwrap_err();
        assert!(
            e.contains("corp-audit") && e.contains("does not begin with `AmazonWorkLink-`"),
            "{e}"
        );
        for bad in [
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/AmazonWorkLink-a",
            "AmazonWorkLink-a",
            "",
        ] {
            let e = StreamArn::parse_worklink_audit(bad).unwrap_err();
            assert!(e.contains("AmazonWorkLink-") && e.contains("ARN"), "{e}");
        }
        for bad in [
            "arn:aws:kinesis:us-east-1:1:stream/",
            "arn:aws:kinesis:us-east-1:1:stream/a/b",
        ] {
            assert!(
                StreamArn::parse(bad).unwrap_err().contains("not valid"),
                "{bad}"
            );
        }
        let long = format!(
            "arn:aws:kinesis:us-east-1:1:stream/AmazonWorkLink-{}",
            "x".repeat(114)
        );
        assert!(StreamArn::parse_worklink_audit(&long).is_err());
    }

    #[test]
    fn instance_ids() {
        assert_eq!(instance_id("wsinst-12345678"), Ok("wsinst-12345678"));
        assert!(instance_id(&format!("wsinst-{}", "a".repeat(63))).is_ok());
        for bad in ["wsinst-1234567", "i-12345678", "wsinst-1234_5678", ""] {
            assert!(
                instance_id(bad)
                    .unwrap_err()
                    .contains("WorkSpaces Instance id"),
                "{bad}"
            );
        }
    }
}
