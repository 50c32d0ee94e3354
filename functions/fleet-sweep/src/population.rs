//! The population of `max-percent` caps in a sweep: what it listed, fleet
//! by fleet (`docs/fleet-sweep.md`, "Caps").

use std::collections::HashSet;

use warden_core::plan::Population;
use warden_core::resource::Resource;

use crate::report::FleetReport;

/// The population of a sweep's targets:
///
/// * users (`sign-out-user`): the distinct fleet + user pairs of the
///   devices described, summed over the fleets (a user with three devices
///   counts once per fleet); unknown when no fleet's devices were listed;
/// * domains (`revoke-domain`, `restore-domain`): every domain ListDomains
///   returned, transitional ones included; unknown when none was listed;
/// * fleets (`set-audit-stream`): every fleet listed.
///
/// Devices listed but not described (signed out, with
/// `WARDEN_DESCRIBE_SIGNED_OUT=false`) have no known user and are not
/// counted: the population never counts a user it has not seen.
pub fn of(resources: &[Resource], fleets: &[FleetReport]) -> Population {
    let devices_listed: usize = fleets.iter().map(|f| f.devices_listed).sum();
    let domains_listed: usize = fleets.iter().map(|f| f.domains_listed).sum();
    let users: HashSet<(&str, &str)> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Device(d) => d
                .user
                .as_deref()
                .filter(|u| !u.is_empty())
                .map(|u| (d.fleet_arn.as_str(), u)),
            _ => None,
        })
        .collect();
    let population = Population {
        fleet_users: (devices_listed > 0).then_some(users.len()),
        fleet_domains: (domains_listed > 0).then_some(domains_listed),
        fleets: Some(fleets.len()),
        instances: None,
        portal_users: None,
    };
    tracing::info!(
        users = ?population.fleet_users,
        devices_listed,
        domains = ?population.fleet_domains,
        fleets = fleets.len(),
        "max-percent population: the users, domains and fleets this sweep listed"
    );
    population
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::resource::Device;

    fn device(fleet: &str, id: &str, user: Option<&str>) -> Resource {
        Resource::Device(Device {
            fleet_arn: fleet.into(),
            device_id: id.into(),
            user: user.map(str::to_owned),
            ..Device::default()
        })
    }

    fn fleet(arn: &str, devices: usize, domains: usize) -> FleetReport {
        FleetReport {
            fleet_arn: arn.into(),
            devices_listed: devices,
            domains_listed: domains,
            ..FleetReport::default()
        }
    }

    #[test]
    fn users_per_fleet_domains_and_fleets_listed() {
        let rs = vec![
            device("f1", "d1", Some("alice")),
            device("f1", "d2", Some("alice")),
            device("f1", "d3", Some("bob")),
            device("f2", "d4", Some("alice")),
            device("f2", "d5", None),
        ];
        let p = of(
            &rs,
            &[fleet("f1", 3, 4), fleet("f2", 3, 0), fleet("f3", 0, 0)],
        );
        // alice twice in f1 counts once; alice in f2 again; d5 unknown.
        assert_eq!(p.fleet_users, Some(3));
        assert_eq!(p.fleet_domains, Some(4));
        assert_eq!(p.fleets, Some(3));
        assert_eq!(p.instances, None);
        // Nothing listed: unknown, so the planner uses what it examined.
        let p = of(&[], &[fleet("f1", 0, 0)]);
        assert_eq!((p.fleet_users, p.fleet_domains), (None, None));
    }
}
