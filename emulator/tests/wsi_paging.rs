//! Pagination through the real SDK: several pages with and without the
//! ProvisionStates filter (each item exactly once), the SDK paginator, bad
//! tokens, and the static catalogues; plus a 10,000-instance fleet.

mod common;

use std::collections::BTreeSet;

use aws_sdk_workspacesinstances::operation::list_instance_types::ListInstanceTypesError;
use aws_sdk_workspacesinstances::operation::list_regions::ListRegionsError;
use aws_sdk_workspacesinstances::operation::list_workspace_instances::ListWorkspaceInstancesError as ListErr;
use aws_sdk_workspacesinstances::types::ProvisionStateEnum;
use aws_sdk_workspacesinstances::Client;
use jiff::Timestamp;
use warden_emulator::wsi::{ProvisionState, State};
use warden_emulator::{Fixture, RunningEmulator};

macro_rules! service_err {
    ($call:expr) => {
        match $call.await {
            Ok(out) => panic!("expected an error, got {out:?}"),
            Err(e) => e.into_service_error(),
        }
    };
}

fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

/// 60 allocated, 7 ERROR_ALLOCATING, 5 ERROR_DEALLOCATING, 3 DEALLOCATING,
/// interleaved in id order (prefixes sort a < b < c < d).
fn fleet() -> State {
    let mut st = State::default();
    st.add_instances("b", 60, ProvisionState::Allocated, t0());
    st.add_instances("a", 7, ProvisionState::ErrorAllocating, t0());
    st.add_instances("c", 5, ProvisionState::ErrorDeallocating, t0());
    st.add_instances("d", 3, ProvisionState::Deallocating, t0());
    st
}

async fn start(st: State) -> (RunningEmulator, Client) {
    let emu = common::start(Fixture {
        clock: Some(t0()),
        workspaces_instances: st,
        ..Default::default()
    })
    .await;
    let client = common::wsi(&emu);
    (emu, client)
}

/// Pages by hand; returns (ids in order, page sizes).
async fn list_all(
    client: &Client,
    states: &[ProvisionStateEnum],
    max: Option<i32>,
) -> (Vec<(String, ProvisionStateEnum)>, Vec<usize>) {
    let mut token: Option<String> = None;
    let mut items = Vec::new();
    let mut pages = Vec::new();
    loop {
        let out = client
            .list_workspace_instances()
            .set_provision_states((!states.is_empty()).then(|| states.to_vec()))
            .set_max_results(max)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages.push(out.workspace_instances().len());
        for i in out.workspace_instances() {
            items.push((
                i.workspace_instance_id().unwrap().to_string(),
                i.provision_state().unwrap().clone(),
            ));
        }
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
        assert!(pages.len() < 1000, "runaway pagination");
    }
    (items, pages)
}

fn assert_unique_sorted(items: &[(String, ProvisionStateEnum)]) {
    let ids: Vec<&String> = items.iter().map(|(id, _)| id).collect();
    let set: BTreeSet<&String> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "an item was returned twice");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "not in id order");
}

#[tokio::test]
async fn pages_without_filter_default_page_size() {
    let (emu, client) = start(fleet()).await;
    let (items, pages) = list_all(&client, &[], None).await;
    assert_eq!(items.len(), 75);
    assert_eq!(pages, vec![25, 25, 25]);
    assert_unique_sorted(&items);
    let calls = emu.shared().calls.of("ListWorkspaceInstances");
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].params.get("NextToken"), None);
    assert_eq!(calls[1].params["NextToken"], true);
}

#[tokio::test]
async fn pages_without_filter_small_pages() {
    let (_emu, client) = start(fleet()).await;
    let (items, pages) = list_all(&client, &[], Some(7)).await;
    assert_eq!(items.len(), 75);
    assert_eq!(pages.len(), 11);
    assert!(pages.iter().all(|&n| n <= 7));
    assert_unique_sorted(&items);
}

#[tokio::test]
async fn filter_pages_only_through_errored_instances() {
    let (emu, client) = start(fleet()).await;
    let errored = [
        ProvisionStateEnum::ErrorAllocating,
        ProvisionStateEnum::ErrorDeallocating,
    ];
    let (items, pages) = list_all(&client, &errored, Some(5)).await;
    assert_eq!(items.len(), 12);
    assert_eq!(pages, vec![5, 5, 2]);
    assert_unique_sorted(&items);
    assert!(items.iter().all(|(_, s)| errored.contains(s)), "{items:?}");
    let expected: BTreeSet<String> = emu
        .shared()
        .wsi()
        .instances
        .values()
        .filter(|i| i.provision_state.is_error())
        .map(|i| i.id.clone())
        .collect();
    let got: BTreeSet<String> = items.into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, expected);
    let calls = emu.shared().calls.of("ListWorkspaceInstances");
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0].params["ProvisionStates"],
        serde_json::json!(["ERROR_ALLOCATING", "ERROR_DEALLOCATING"])
    );

    // A single state; exactly one full page means no token.
    let (items, pages) = list_all(&client, &[ProvisionStateEnum::ErrorDeallocating], Some(5)).await;
    assert_eq!(items.len(), 5);
    assert_eq!(pages, vec![5]);
}

#[tokio::test]
async fn sdk_paginator_sees_every_item_once() {
    let (_emu, client) = start(fleet()).await;
    let pages: Vec<_> = client
        .list_workspace_instances()
        .max_results(10)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 8);
    let ids: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.workspace_instances())
        .filter_map(|i| i.workspace_instance_id().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 75);
}

#[tokio::test]
async fn instances_created_between_pages_do_not_repeat_items() {
    let (emu, client) = start(fleet()).await;
    let first = client
        .list_workspace_instances()
        .max_results(25)
        .send()
        .await
        .unwrap();
    // An instance that sorts before the cursor appears on no later page;
    // one after it does.
    {
        let mut st = emu.shared().wsi();
        st.add_instances("a0", 1, ProvisionState::Allocated, t0());
        st.add_instances("z", 1, ProvisionState::Allocated, t0());
    }
    let mut token = first.next_token().map(str::to_string);
    let mut seen: Vec<String> = first
        .workspace_instances()
        .iter()
        .filter_map(|i| i.workspace_instance_id().map(str::to_string))
        .collect();
    while let Some(t) = token {
        let out = client
            .list_workspace_instances()
            .next_token(t)
            .send()
            .await
            .unwrap();
        seen.extend(
            out.workspace_instances()
                .iter()
                .filter_map(|i| i.workspace_instance_id().map(str::to_string)),
        );
        token = out.next_token().map(str::to_string);
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
    assert_eq!(seen.len(), 76);
    assert!(seen.iter().any(|id| id.starts_with("wsinst-z")));
}

#[tokio::test]
async fn bad_tokens_are_validation_errors() {
    let (emu, client) = start(fleet()).await;
    for token in ["garbage!", "bm90IGEgdG9rZW4", "d3NpMXxMaXN0UmVnaW9uc3x8MQ"] {
        let e = service_err!(client.list_workspace_instances().next_token(token).send());
        let ListErr::ValidationException(v) = &e else {
            panic!("{token}: {e:?}")
        };
        assert!(v.message().contains("NextToken"), "{}", v.message());
    }
    // A token from a filtered listing is not good for another filter.
    let out = client
        .list_workspace_instances()
        .provision_states(ProvisionStateEnum::Allocated)
        .max_results(5)
        .send()
        .await
        .unwrap();
    let token = out.next_token().unwrap().to_string();
    let e = service_err!(client.list_workspace_instances().next_token(&token).send());
    assert!(matches!(e, ListErr::ValidationException(_)), "{e:?}");
    // Nor for another operation.
    let e = service_err!(client.list_regions().next_token(&token).send());
    assert!(
        matches!(e, ListRegionsError::ValidationException(_)),
        "{e:?}"
    );
    // Empty token violates the length constraint.
    let e = service_err!(client.list_workspace_instances().next_token("").send());
    assert!(matches!(e, ListErr::ValidationException(_)), "{e:?}");
    // The token still works with its own filter.
    client
        .list_workspace_instances()
        .provision_states(ProvisionStateEnum::Allocated)
        .next_token(&token)
        .send()
        .await
        .unwrap();
    let failed = emu
        .shared()
        .calls
        .snapshot()
        .iter()
        .filter(|c| c.error.as_deref() == Some("ValidationException"))
        .count();
    assert_eq!(failed, 6);
}

#[tokio::test]
async fn instance_types_and_regions_paginate() {
    let (_emu, client) = start(State::default()).await;
    let mut token = None;
    let mut types = Vec::new();
    loop {
        let out = client
            .list_instance_types()
            .max_results(8)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(out.instance_types().len() <= 8);
        types.extend(
            out.instance_types()
                .iter()
                .filter_map(|t| t.instance_type().map(str::to_string)),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(types.len(), 30);
    assert_eq!(types.iter().collect::<BTreeSet<_>>().len(), 30);

    let regions: Vec<String> = client
        .list_regions()
        .max_results(5)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .flat_map(|p| p.regions())
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    assert_eq!(regions.len(), 14);
    assert_eq!(regions.iter().collect::<BTreeSet<_>>().len(), 14);

    let e = service_err!(client.list_instance_types().max_results(26).send());
    assert!(
        matches!(e, ListInstanceTypesError::ValidationException(_)),
        "{e:?}"
    );
    let e = service_err!(client.list_regions().next_token("nope").send());
    assert!(
        matches!(e, ListRegionsError::ValidationException(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn ten_thousand_instances_filtered_listing_is_cheap() {
    let mut st = State::default();
    st.add_instances("fleet", 9_990, ProvisionState::Allocated, t0());
    st.add_instances("broken", 10, ProvisionState::ErrorAllocating, t0());
    let (emu, client) = start(st).await;
    let started = std::time::Instant::now();
    let (items, pages) = list_all(&client, &[ProvisionStateEnum::ErrorAllocating], Some(25)).await;
    assert_eq!(items.len(), 10);
    assert_eq!(pages, vec![10]);
    let (all, pages) = list_all(&client, &[], Some(25)).await;
    assert_eq!(all.len(), 10_000);
    assert_eq!(pages.len(), 400);
    assert_unique_sorted(&all);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(emu.shared().calls.len(), 401);
}
