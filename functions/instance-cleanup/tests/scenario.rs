//! instance-cleanup against the emulator, in process, with an injected clock:
//! a fleet of 1,000 instances (5% errored in both error states, some
//! protected, some with 29 or 30 tags already, some that recover between
//! runs, one carrying a stale mark the warden never wrote).
//!
//! Run 1 marks; the clock moves past the grace period; run 2 deletes
//! exactly the still-errored unprotected ones and unmarks the recovered ones;
//! run 3 does nothing. The same with throttling and server errors injected;
//! dry-run; caps; a lost store.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use instance_cleanup::{
    Cleaner, CleanupConfig, MarkStore, MemoryMarkStore, Overrides, Report, DEFAULT_REASON_TAG,
};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::aws::Clients;
use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::policy::{ActionKind, Cap};
use warden_core::resource::DEFAULT_CLEANUP_TAG;
use warden_core::Policy;
use warden_emulator::wsi::{Instance, ProvisionState, State};
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, RunningEmulator};

const T0: &str = "2026-11-23T12:00:00Z";
const MARK: &str = DEFAULT_CLEANUP_TAG;
const REASON: &str = DEFAULT_REASON_TAG;

fn t0() -> Timestamp {
    T0.parse().unwrap()
}

fn id(n: usize) -> String {
    format!("wsinst-{n:017x}")
}

/// What the fixture holds, by role.
#[derive(Debug, Default)]
struct Fleet {
    state: State,
    healthy_unmarked: BTreeSet<String>,
    /// Healthy, with a mark tag the warden never wrote.
    healthy_stale_mark: String,
    errored: BTreeSet<String>,
    protected: BTreeSet<String>,
    tag_limit: BTreeSet<String>,
    recovering: BTreeSet<String>,
    /// Errored with an old mark the warden never wrote.
    stale_mark: String,
    /// Errored, unprotected, not recovering, markable: deleted in run 2.
    to_delete: BTreeSet<String>,
    /// The first error code of each errored instance.
    reason: BTreeMap<String, String>,
}

fn fleet() -> Fleet {
    let created: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let mut f = Fleet::default();
    for n in 1..=1000usize {
        let i = id(n);
        // Every 20th instance is errored: 50 of 1,000 (5%), alternating states.
        if n % 20 != 0 {
            let mut inst = Instance::new(&i, ProvisionState::Allocated, created)
                .with_ec2_instance_id(format!("i-{n:017x}"))
                .with_tag("team", format!("t{}", n % 7));
            if n % 97 == 0 {
                inst = inst.with_tag("warden:protect", "true");
            }
            if n == 1 {
                inst = inst.with_tag(MARK, "2026-01-01T00:00:00Z");
                f.healthy_stale_mark = i.clone();
            } else {
                f.healthy_unmarked.insert(i.clone());
            }
            f.state.instances.insert(i, inst);
            continue;
        }
        let k = n / 20; // 1..=50
        let (state, code) = if k % 2 == 0 {
            (ProvisionState::ErrorAllocating, "EC2_LAUNCH_FAILED")
        } else {
            (ProvisionState::ErrorDeallocating, "EC2_TERMINATE_FAILED")
        };
        let mut inst = Instance::new(&i, state, created)
            .with_workspace_error(code, "it failed")
            .with_ec2_error(
                "InsufficientInstanceCapacity",
                "AmazonEC2Exception",
                "no capacity",
            );
        f.errored.insert(i.clone());
        f.reason.insert(i.clone(), code.to_owned());
        match k {
            1..=5 => {
                inst = inst.with_tag("warden:protect", "true");
                f.protected.insert(i.clone());
            }
            6..=10 => {
                // 30 tags (6..=8) or 29 (9..=10): the mark needs 2 more.
                let n_tags = if k <= 8 { 30 } else { 29 };
                for t in 0..n_tags {
                    inst = inst.with_tag(format!("k{t:02}"), "v");
                }
                f.tag_limit.insert(i.clone());
            }
            11..=20 => {
                inst = inst.with_transition(
                    ProvisionState::Allocated,
                    t0() + SignedDuration::from_hours(2),
                );
                f.recovering.insert(i.clone());
            }
            _ => {
                if k == 21 {
                    // 28 tags: both marks still fit.
                    for t in 0..28 {
                        inst = inst.with_tag(format!("k{t:02}"), "v");
                    }
                }
                if k == 22 {
                    inst = inst.with_tag(MARK, "2026-11-01T00:00:00Z");
                    f.stale_mark = i.clone();
                }
                f.to_delete.insert(i.clone());
            }
        }
        f.state.instances.insert(i, inst);
    }
    assert_eq!(f.errored.len(), 50);
    assert_eq!(f.to_delete.len(), 30);
    f
}

/// The default policy's rules, with caps sized for this fleet.
fn policy(delete_cap: u32) -> Policy {
    let mut p = Policy::from_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/default.yaml"
    )))
    .unwrap();
    for (kind, max) in [
        (ActionKind::MarkForCleanup, 100),
        (ActionKind::DeleteInstance, delete_cap),
        (ActionKind::UntagInstance, 100),
    ] {
        p.settings.caps.insert(
            kind,
            Cap {
                max: Some(max),
                max_percent: None,
                min_population: None,
            },
        );
    }
    p
}

async fn start(f: &Fleet) -> RunningEmulator {
    Emulator::new(Fixture {
        clock: Some(t0()),
        workspaces_instances: f.state.clone(),
        ..Default::default()
    })
    .start_local()
    .await
    .unwrap()
}

/// Clients for the emulator with `max_attempts` SDK attempts; when they
/// retry at all, they back off in milliseconds.
async fn clients(emu: &RunningEmulator, max_attempts: u32) -> Clients {
    Clients::local(&emu.endpoint_url(), max_attempts).await
}

/// A cleaner acting for real (dry-run off), 3 SDK attempts, an empty store.
async fn cleaner(emu: &RunningEmulator, policy: Policy) -> Cleaner<MemoryMarkStore> {
    let config = CleanupConfig {
        dry_run: false,
        ..CleanupConfig::default()
    };
    Cleaner::new(
        policy,
        &clients(emu, 3).await,
        MemoryMarkStore::new(),
        config,
    )
}

async fn run(c: &Cleaner<MemoryMarkStore>, now: Timestamp, o: Overrides) -> Report {
    c.run(now, &o, Deadline::none(), &mut Metrics::new("test"))
        .await
        .unwrap()
}

/// Applies `rule` to every call, drawn with `seed`.
fn inject(emu: &RunningEmulator, rule: FaultRule, seed: u64) {
    emu.shared().faults.set(FaultsConfig {
        rules: vec![rule],
        seed,
    });
}

/// A dry run whatever the configuration says.
fn dry_run() -> Overrides {
    Overrides {
        dry_run: Some(true),
        max_deletions: None,
    }
}

/// An operator's lower cap on deletions.
fn max_deletions(n: u32) -> Overrides {
    Overrides {
        dry_run: None,
        max_deletions: Some(n),
    }
}

/// Moves the emulator's clock past the grace period; returns the new now.
fn past_grace(emu: &RunningEmulator) -> Timestamp {
    emu.shared()
        .clock
        .advance(SignedDuration::from_hours(25))
        .unwrap()
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// The instances the cleaner's mark store remembers.
async fn stored(c: &Cleaner<MemoryMarkStore>) -> BTreeSet<String> {
    c.store().load().await.unwrap().keys().cloned().collect()
}

/// Asserts each report list of `rows` (name, ids) holds exactly the
/// expected instances; the message names `case` and the list.
fn assert_ids(case: &str, rows: &[(&str, &[String], &BTreeSet<String>)]) {
    for &(name, ids, want) in rows {
        assert_eq!(&set(ids), want, "{case}: {name}");
    }
}

/// Asserts nothing was tagged, untagged or deleted after call `seq` (0: ever).
fn assert_no_writes_since(emu: &RunningEmulator, seq: u64, case: &str) {
    for op in ["TagResource", "UntagResource", "DeleteWorkspaceInstance"] {
        let made = emu
            .shared()
            .calls
            .of(op)
            .into_iter()
            .filter(|c| c.seq > seq)
            .count();
        assert_eq!(made, 0, "{case} called {op}");
    }
}

/// Asserts no delete was ever called.
fn assert_no_deletes(emu: &RunningEmulator, case: &str) {
    let deletes = emu.shared().calls.of("DeleteWorkspaceInstance");
    assert!(deletes.is_empty(), "{case}: {} deletes", deletes.len());
}

/// The mark tag's value on instance `i`.
fn mark_of(emu: &RunningEmulator, i: &str) -> Option<String> {
    tags_of(emu, i).get(MARK).cloned()
}

/// The errored instances whose mark says `T0`.
fn marked_at_t0(emu: &RunningEmulator, f: &Fleet) -> BTreeSet<String> {
    f.errored
        .iter()
        .filter(|i| mark_of(emu, i).as_deref() == Some(T0))
        .cloned()
        .collect()
}

fn calls_since(emu: &RunningEmulator, seq: u64, op: &str) -> Vec<String> {
    emu.shared()
        .calls
        .of(op)
        .into_iter()
        .filter(|c| c.seq > seq)
        .filter_map(|c| c.params["WorkspaceInstanceId"].as_str().map(str::to_owned))
        .collect()
}

fn last_seq(emu: &RunningEmulator) -> u64 {
    emu.shared().calls.len() as u64
}

fn tags_of(emu: &RunningEmulator, i: &str) -> BTreeMap<String, String> {
    emu.shared().wsi().instance(i).unwrap().tags.clone()
}

fn state_of(emu: &RunningEmulator, i: &str) -> ProvisionState {
    emu.shared().wsi().instance(i).unwrap().provision_state
}

/// Asserts the emulator's instances equal `before`, naming the ones that
/// differ.
fn assert_same_state(emu: &RunningEmulator, before: &State) {
    let now = emu.shared().dump().workspaces_instances;
    let changed: Vec<&String> = before
        .instances
        .iter()
        .filter(|(k, v)| now.instances.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        changed.is_empty() && now.instances.len() == before.instances.len(),
        "changed: {changed:?}"
    );
}

/// Asserts no call ever named a healthy, unmarked instance.
fn assert_healthy_untouched(emu: &RunningEmulator, f: &Fleet) {
    for c in emu.shared().calls.snapshot() {
        if let Some(i) = c.params["WorkspaceInstanceId"].as_str() {
            assert!(
                !f.healthy_unmarked.contains(i) && i != f.healthy_stale_mark,
                "{} touched healthy instance {i}",
                c.operation
            );
        }
    }
}

#[tokio::test]
async fn mark_then_delete_then_nothing() {
    let f = fleet();
    let emu = start(&f).await;
    let c = cleaner(&emu, policy(100)).await;
    let markable: BTreeSet<String> = f
        .errored
        .iter()
        .filter(|i| !f.protected.contains(*i) && !f.tag_limit.contains(*i))
        .cloned()
        .collect();
    assert_eq!(markable.len(), 40);

    // Run 1: marks.
    let r1 = run(&c, t0(), Overrides::default()).await;
    let none = BTreeSet::new();
    assert!(!r1.dry_run && r1.listing_complete);
    assert_ids(
        "run 1",
        &[
            ("examined", &r1.examined.ids, &f.errored),
            ("marked", &r1.marked.ids, &markable),
            ("protected", &r1.protected.ids, &f.protected),
            ("tag_limit", &r1.tag_limit.ids, &f.tag_limit),
            ("deleted", &r1.deleted.ids, &none),
            ("unmarked", &r1.unmarked.ids, &none),
        ],
    );
    assert!(r1.failed.is_empty(), "{:?}", r1.failed);
    assert_eq!(marked_at_t0(&emu, &f), markable, "run 1: marked at T0");
    for i in &markable {
        assert_eq!(tags_of(&emu, i).get(REASON), f.reason.get(i), "{i}");
    }
    for i in f.protected.iter().chain(&f.tag_limit) {
        assert!(
            !tags_of(&emu, i).contains_key(MARK),
            "{i} must not be marked"
        );
    }
    // The stale mark was replaced, not trusted.
    let stale_decision = r1
        .decisions
        .iter()
        .find(|d| d.instance_id == f.stale_mark)
        .unwrap();
    assert!(
        stale_decision
            .why
            .contains("not recorded in the mark store"),
        "{stale_decision:?}"
    );
    assert_eq!(stored(&c).await, markable, "run 1: store");
    // The minimum calls: 2 list pages (50 errored / 25), one get and one
    // tag listing per errored instance, one TagResource per mark.
    let calls = emu.shared().calls.snapshot();
    let count = |op: &str| calls.iter().filter(|c| c.operation == op).count();
    assert_eq!(count("ListWorkspaceInstances"), 2);
    assert_eq!(count("GetWorkspaceInstance"), 50);
    assert_eq!(count("ListTagsForResource"), 50);
    assert_eq!(count("TagResource"), 40);
    assert_eq!(count("DeleteWorkspaceInstance") + count("UntagResource"), 0);
    for c in calls
        .iter()
        .filter(|c| c.operation == "ListWorkspaceInstances")
    {
        assert_eq!(
            c.params["ProvisionStates"],
            serde_json::json!(["ERROR_ALLOCATING", "ERROR_DEALLOCATING"])
        );
        assert_eq!(c.params["MaxResults"], 25);
    }

    // Past the grace period. A dry run first: same report, nothing changed.
    let now2 = past_grace(&emu);
    // Apply the emulator's own lifecycle (the recoveries) first, so the
    // comparison sees only what the function did.
    emu.shared().wsi().run_lifecycle(now2);
    let before = emu.shared().dump().workspaces_instances;
    let seq = last_seq(&emu);
    let dry = run(&c, now2, dry_run()).await;
    assert!(dry.dry_run);
    assert_same_state(&emu, &before);
    assert_no_writes_since(&emu, seq, "dry run");
    assert_eq!(stored(&c).await, markable, "dry run: store");

    // Run 2: deletes exactly the still-errored unprotected ones, unmarks the
    // recovered ones.
    let seq = last_seq(&emu);
    let r2 = run(&c, now2, Overrides::default()).await;
    assert!(r2.failed.is_empty(), "{:?}", r2.failed);
    assert_ids(
        "run 2",
        &[
            ("deleted", &r2.deleted.ids, &f.to_delete),
            ("unmarked", &r2.unmarked.ids, &f.recovering),
            ("protected", &r2.protected.ids, &f.protected),
            ("tag_limit", &r2.tag_limit.ids, &f.tag_limit),
            ("marked", &r2.marked.ids, &none),
        ],
    );
    for (name, d, r) in [
        ("deleted", &dry.deleted, &r2.deleted),
        ("unmarked", &dry.unmarked, &r2.unmarked),
        ("marked", &dry.marked, &r2.marked),
        ("protected", &dry.protected, &r2.protected),
        ("tag_limit", &dry.tag_limit, &r2.tag_limit),
        ("examined", &dry.examined, &r2.examined),
    ] {
        assert_eq!(d, r, "dry run and real run differ in {name}");
    }
    assert_eq!(
        set(&calls_since(&emu, seq, "DeleteWorkspaceInstance")),
        f.to_delete
    );
    assert_eq!(calls_since(&emu, seq, "DeleteWorkspaceInstance").len(), 30);
    assert_eq!(set(&calls_since(&emu, seq, "UntagResource")), f.recovering);
    // The recovered ones were re-checked by id, not found by listing.
    let got = set(&calls_since(&emu, seq, "GetWorkspaceInstance"));
    assert!(f.recovering.is_subset(&got));
    for i in &f.to_delete {
        assert_eq!(state_of(&emu, i), ProvisionState::Deallocating, "{i}");
    }
    for i in &f.recovering {
        let tags = tags_of(&emu, i);
        assert_eq!(state_of(&emu, i), ProvisionState::Allocated);
        assert!(
            !tags.contains_key(MARK) && !tags.contains_key(REASON),
            "{i}: {tags:?}"
        );
    }
    for i in f.protected.iter().chain(&f.tag_limit) {
        assert!(state_of(&emu, i).to_string().starts_with("ERROR_"), "{i}");
    }
    assert!(
        c.store().load().await.unwrap().is_empty(),
        "store forgets deleted and unmarked"
    );

    // Run 3: nothing changed, nothing done.
    let seq = last_seq(&emu);
    let r3 = run(&c, now2, Overrides::default()).await;
    assert_no_writes_since(&emu, seq, "run 3");
    assert_ids(
        "run 3",
        &[
            ("marked", &r3.marked.ids, &none),
            ("deleted", &r3.deleted.ids, &none),
            ("unmarked", &r3.unmarked.ids, &none),
            ("protected", &r3.protected.ids, &f.protected),
            ("tag_limit", &r3.tag_limit.ids, &f.tag_limit),
        ],
    );
    assert_healthy_untouched(&emu, &f);
    assert_eq!(
        mark_of(&emu, &f.healthy_stale_mark).as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn throttling_and_server_errors_reach_the_same_end_state() {
    let f = fleet();
    let emu = start(&f).await;
    let rule = FaultRule {
        throttle_rate: 0.2,
        server_error_rate: 0.05,
        ..Default::default()
    };
    inject(&emu, rule, 42);
    let c = cleaner(&emu, policy(100)).await;
    let markable = f.errored.len() - f.protected.len() - f.tag_limit.len();

    // Phase 1 at t0: run until every markable instance is marked and
    // remembered (failed calls are left for the next run).
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 10, "marks did not converge in 10 runs");
        let r = run(&c, t0(), Overrides::default()).await;
        assert!(
            r.deleted.ids.is_empty(),
            "nothing is past its grace period yet"
        );
        let marked = marked_at_t0(&emu, &f).len();
        if marked == markable && c.store().load().await.unwrap().len() == markable {
            break;
        }
    }
    let phase1 = runs;
    assert_no_deletes(&emu, "no delete before the grace period, whatever failed");

    // Phase 2 past the grace period: run until the store is empty (every
    // remembered instance deleted or unmarked).
    let now2 = past_grace(&emu);
    loop {
        runs += 1;
        assert!(runs <= phase1 + 10, "deletes did not converge in 10 runs");
        run(&c, now2, Overrides::default()).await;
        if c.store().load().await.unwrap().is_empty() {
            break;
        }
    }
    // The same end state as without faults.
    let deleted: BTreeSet<String> = f
        .state
        .instances
        .keys()
        .filter(|i| state_of(&emu, i) == ProvisionState::Deallocating)
        .cloned()
        .collect();
    assert_eq!(deleted, f.to_delete);
    let attempted: BTreeSet<String> = emu
        .shared()
        .calls
        .of("DeleteWorkspaceInstance")
        .into_iter()
        .filter_map(|c| c.params["WorkspaceInstanceId"].as_str().map(str::to_owned))
        .collect();
    assert!(
        attempted.is_subset(&f.to_delete),
        "a delete was attempted on {:?}",
        attempted.difference(&f.to_delete).collect::<Vec<_>>()
    );
    for i in &f.recovering {
        assert!(!tags_of(&emu, i).contains_key(MARK), "{i} still marked");
    }
    assert!(c.store().load().await.unwrap().is_empty());
    assert_healthy_untouched(&emu, &f);
    let injected = emu
        .shared()
        .calls
        .snapshot()
        .iter()
        .filter(|c| c.injected)
        .count();
    assert!(injected > 50, "faults were injected ({injected})");
    eprintln!("converged in {runs} runs ({phase1} marking), {injected} injected faults");
}

#[tokio::test]
async fn dry_run_changes_nothing_and_reports_the_same_plan() {
    let f = fleet();
    let emu = start(&f).await;
    let mut c_dry = cleaner(&emu, policy(100)).await;
    let before = emu.shared().dump().workspaces_instances;
    let dry = run(&c_dry, t0(), dry_run()).await;
    assert!(dry.dry_run);
    assert_same_state(&emu, &before);
    assert!(stored(&c_dry).await.is_empty(), "store unchanged");
    assert_no_writes_since(&emu, 0, "dry run");
    // The configured default is dry-run too.
    c_dry = Cleaner::new(
        policy(100),
        &clients(&emu, 1).await,
        MemoryMarkStore::new(),
        CleanupConfig::default(),
    );
    let default_run = run(&c_dry, t0(), Overrides::default()).await;
    assert!(default_run.dry_run, "dry-run unless configured off");
    assert_same_state(&emu, &before);

    let c = cleaner(&emu, policy(100)).await;
    let real = run(&c, t0(), Overrides::default()).await;
    for (name, d, r) in [
        ("marked", &dry.marked, &real.marked),
        ("protected", &dry.protected, &real.protected),
        ("tag_limit", &dry.tag_limit, &real.tag_limit),
        ("examined", &dry.examined, &real.examined),
    ] {
        assert_eq!(d, r, "dry run and real run differ in {name}");
    }
    assert_eq!(real.marked.count, 40);
}

#[tokio::test]
async fn a_cap_that_would_be_exceeded_deletes_nothing() {
    let f = fleet();
    let emu = start(&f).await;
    let c = cleaner(&emu, policy(5)).await;
    run(&c, t0(), Overrides::default()).await;
    let now2 = past_grace(&emu);

    // The policy's cap: 30 planned, max 5.
    let r = run(&c, now2, Overrides::default()).await;
    assert!(r.deleted.ids.is_empty());
    assert_eq!(set(&r.skipped_by_cap.ids), f.to_delete);
    assert_eq!(r.caps_exceeded.len(), 1);
    assert_eq!(r.caps_exceeded[0].kind, ActionKind::DeleteInstance);
    assert_eq!(
        (r.caps_exceeded[0].planned, r.caps_exceeded[0].limit),
        (30, 5)
    );
    assert!(r.summary().contains("CAP EXCEEDED"), "{}", r.summary());
    assert_no_deletes(&emu, "cap 5, 30 planned");
    // Other kinds go on: the recovered ones are unmarked.
    assert_eq!(set(&r.unmarked.ids), f.recovering);
    // The capped ones stay remembered for the next run.
    let kept = stored(&c).await;
    assert_eq!(kept, f.to_delete);

    // An operator's max_deletions can only lower the cap.
    let c = cleaner(&emu, policy(100)).await;
    c.store()
        .put(
            &kept
                .iter()
                .map(|i| instance_cleanup::MarkRecord {
                    instance_id: i.clone(),
                    marked_at: Some(t0()),
                    reason: String::new(),
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let r = run(&c, now2, max_deletions(29)).await;
    assert!(r.deleted.ids.is_empty());
    assert_eq!(r.caps_exceeded[0].limit, 29);
    assert_no_deletes(&emu, "max_deletions 29, 30 planned");
    let r = run(&c, now2, max_deletions(30)).await;
    assert_eq!(set(&r.deleted.ids), f.to_delete);
}

#[tokio::test]
async fn a_lost_store_only_delays_deletion() {
    let f = fleet();
    let emu = start(&f).await;
    let c = cleaner(&emu, policy(100)).await;
    run(&c, t0(), Overrides::default()).await;
    c.store().clear();
    let now2 = past_grace(&emu);
    let r = run(&c, now2, Overrides::default()).await;
    assert!(
        r.deleted.ids.is_empty(),
        "marks unknown to the store are not trusted"
    );
    assert_no_deletes(&emu, "store lost");
    // Re-marked with the new time; deleted one grace period later.
    assert_eq!(set(&r.marked.ids), f.to_delete);
    let now3 = past_grace(&emu);
    let r = run(&c, now3, Overrides::default()).await;
    assert_eq!(set(&r.deleted.ids), f.to_delete);
}

#[tokio::test]
async fn marks_are_trusted_for_deletion_only_as_the_store_remembers_them() {
    let created: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let old = "2026-11-01T00:00:00Z";
    let (errored, recovered) = (id(1), id(2));
    let mut st = State::default();
    st.instances.insert(
        errored.clone(),
        Instance::new(&errored, ProvisionState::ErrorAllocating, created)
            .with_workspace_error("EC2_LAUNCH_FAILED", "x")
            .with_tag(MARK, old),
    );
    st.instances.insert(
        recovered.clone(),
        Instance::new(&recovered, ProvisionState::Allocated, created)
            .with_tag(MARK, old)
            .with_tag(REASON, "EC2_LAUNCH_FAILED"),
    );
    let f = Fleet {
        state: st,
        ..Fleet::default()
    };
    let emu = start(&f).await;
    let c = cleaner(&emu, policy(100)).await;
    // The store remembers both, marked later than their tags say (e.g. a
    // re-mark whose TagResource failed).
    let later: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
    c.store()
        .put(
            &[errored.clone(), recovered.clone()].map(|i| instance_cleanup::MarkRecord {
                instance_id: i,
                marked_at: Some(later),
                reason: "EC2_LAUNCH_FAILED".into(),
            }),
        )
        .await
        .unwrap();
    let r = run(&c, t0(), Overrides::default()).await;
    // The old tag on the errored one is not trusted: re-marked, not deleted.
    assert!(r.deleted.ids.is_empty(), "{:?}", r.decisions);
    assert_eq!(r.marked.ids, std::slice::from_ref(&errored));
    assert_eq!(mark_of(&emu, &errored).as_deref(), Some(T0));
    // Any mark may leave a recovered instance: both tags removed.
    assert_eq!(r.unmarked.ids, std::slice::from_ref(&recovered));
    assert!(tags_of(&emu, &recovered).is_empty());
    assert_eq!(stored(&c).await, BTreeSet::from([errored]));
}

/// More marked instances recover in one run than the untag cap allows: the
/// untags are refused, but the recovery is remembered. When one of them
/// errors again weeks later, its old mark does not count: it is marked
/// afresh, not deleted in that run (issue 13, point 1; before, the stale
/// mark was trusted and the instance deleted at once).
#[tokio::test]
async fn a_recovery_ends_the_marks_episode_even_when_the_untag_is_capped() {
    let created: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let ids: Vec<String> = (1..=12).map(id).collect();
    let mut st = State::default();
    for i in &ids {
        st.instances.insert(
            i.clone(),
            Instance::new(i, ProvisionState::ErrorAllocating, created)
                .with_workspace_error("EC2_LAUNCH_FAILED", "x"),
        );
    }
    let f = Fleet {
        state: st,
        ..Fleet::default()
    };
    let emu = start(&f).await;
    let mut p = policy(100);
    p.settings.caps.insert(
        ActionKind::UntagInstance,
        Cap {
            max: Some(10),
            max_percent: None,
            min_population: None,
        },
    );
    let c = cleaner(&emu, p).await;
    let r = run(&c, t0(), Overrides::default()).await;
    assert_eq!(r.marked.count, 12);

    // All 12 recover: 12 untags planned, the cap is 10, the kind refused.
    for i in &ids {
        emu.shared().wsi().instance_mut(i).unwrap().provision_state = ProvisionState::Allocated;
    }
    let r = run(&c, t0(), Overrides::default()).await;
    assert!(r.unmarked.ids.is_empty(), "capped: {}", r.summary());
    assert_eq!(mark_of(&emu, &ids[0]).as_deref(), Some(T0), "the tag stays");

    // Weeks later the first errors again, its old mark still on it.
    let later = emu
        .shared()
        .clock
        .advance(SignedDuration::from_hours(24 * 21))
        .unwrap();
    emu.shared()
        .wsi()
        .instance_mut(&ids[0])
        .unwrap()
        .provision_state = ProvisionState::ErrorAllocating;
    let r = run(&c, later, Overrides::default()).await;
    assert!(r.deleted.ids.is_empty(), "{:?}", r.decisions);
    assert_no_deletes(&emu, "a mark from an earlier error episode");
    assert!(
        r.marked.ids.contains(&ids[0]),
        "marked afresh: {}",
        r.summary()
    );
}

/// A store record whose time cannot be read vouches for nothing: a
/// hand-written old tag on an errored instance is not trusted (before, the
/// unreadable time read as the epoch, every tag was "no earlier", and the
/// instance was deleted at once). It is marked afresh (issue 13, point 2).
#[tokio::test]
async fn an_unreadable_store_time_trusts_no_tag() {
    let created: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let errored = id(1);
    let mut st = State::default();
    st.instances.insert(
        errored.clone(),
        Instance::new(&errored, ProvisionState::ErrorAllocating, created)
            .with_workspace_error("EC2_LAUNCH_FAILED", "x")
            .with_tag(MARK, "2020-01-01T00:00:00Z"),
    );
    let f = Fleet {
        state: st,
        ..Fleet::default()
    };
    let emu = start(&f).await;
    let c = cleaner(&emu, policy(100)).await;
    c.store()
        .put(&[instance_cleanup::MarkRecord {
            instance_id: errored.clone(),
            marked_at: None,
            reason: "EC2_LAUNCH_FAILED".into(),
        }])
        .await
        .unwrap();
    let r = run(&c, t0(), Overrides::default()).await;
    assert!(r.deleted.ids.is_empty(), "{:?}", r.decisions);
    assert_no_deletes(&emu, "unreadable store time");
    assert_eq!(r.marked.ids, std::slice::from_ref(&errored));
    assert_eq!(mark_of(&emu, &errored).as_deref(), Some(T0));
    let kept = c.store().load().await.unwrap();
    assert_eq!(kept[&errored].marked_at, Some(t0()), "written afresh");
}

#[tokio::test]
async fn when_time_runs_short_work_is_left_for_the_next_run() {
    let f = fleet();
    let emu = start(&f).await;
    // Every read takes 20 ms; two at a time, 50 errored instances need
    // about 500 ms, the invocation has 300 ms.
    let rule = FaultRule {
        latency_ms: 20,
        ..Default::default()
    };
    inject(&emu, rule, 1);
    let config = CleanupConfig {
        dry_run: false,
        concurrency: 2,
        ..CleanupConfig::default()
    };
    let c = Cleaner::new(
        policy(100),
        &clients(&emu, 1).await,
        MemoryMarkStore::new(),
        config,
    );
    let r = c
        .run(
            t0(),
            &Overrides::default(),
            Deadline::after(Duration::from_millis(300), Duration::ZERO),
            &mut Metrics::new("test"),
        )
        .await
        .unwrap();
    assert!(
        !r.listing_complete || r.left_for_next_run.count > 0,
        "time ran short but nothing was reported left: {}",
        r.summary()
    );
    assert!(r.marked.count < 40, "{}", r.summary());
    for i in &r.left_for_next_run.ids {
        assert!(
            mark_of(&emu, i).as_deref() != Some(T0),
            "{i} left but marked: {:?} {:?}",
            r.failed
                .iter()
                .filter(|f| &f.instance_id == i)
                .collect::<Vec<_>>(),
            r.decisions
                .iter()
                .filter(|d| &d.instance_id == i)
                .collect::<Vec<_>>()
        );
    }
    // The next run, with time, finishes the job.
    emu.shared().faults.clear();
    let r2 = run(&c, t0(), Overrides::default()).await;
    assert!(r2.listing_complete && r2.left_for_next_run.ids.is_empty());
    assert_eq!(marked_at_t0(&emu, &f).len(), 40);
}

/// The scenario's policy with `delete-instance: { max: MAX, max-percent: P }`.
fn percent_policy(max: u32, percent: f64) -> Policy {
    let mut p = policy(max);
    p.settings.caps.insert(
        ActionKind::DeleteInstance,
        Cap {
            max: Some(max),
            max_percent: Some(percent),
            min_population: None,
        },
    );
    p
}

/// ListWorkspaceInstances calls without a ProvisionStates filter (the
/// count of every instance) since call `seq`.
fn count_pages_since(emu: &RunningEmulator, seq: u64) -> usize {
    emu.shared()
        .calls
        .of("ListWorkspaceInstances")
        .into_iter()
        .filter(|c| c.seq > seq && c.params.get("ProvisionStates").is_none())
        .count()
}

#[tokio::test]
async fn a_percentage_delete_cap_is_of_every_instance() {
    let f = fleet();
    let emu = start(&f).await;
    // 30 deletions: 3 % of the 1,000 instances, but well over 5 % of the
    // ~50 instances a run examines (the errored and remembered ones).
    let c = cleaner(&emu, percent_policy(100, 5.0)).await;
    let r1 = run(&c, t0(), Overrides::default()).await;
    assert_eq!(r1.instances_population, Some(1000));
    // The extra listing: every instance, 25 a page.
    assert_eq!(count_pages_since(&emu, 0), 1000 / 25);
    let seq = last_seq(&emu);
    let r2 = run(&c, past_grace(&emu), Overrides::default()).await;
    assert!(r2.caps_exceeded.is_empty(), "{:?}", r2.caps_exceeded);
    assert_eq!(set(&r2.deleted.ids), f.to_delete);
    assert_eq!(count_pages_since(&emu, seq), 1000 / 25);
}

#[tokio::test]
async fn a_percentage_delete_cap_over_the_population_deletes_nothing() {
    let f = fleet();
    let emu = start(&f).await;
    // 2 % of 1,000 is 20: 30 planned, all refused.
    let c = cleaner(&emu, percent_policy(100, 2.0)).await;
    run(&c, t0(), Overrides::default()).await;
    let r = run(&c, past_grace(&emu), Overrides::default()).await;
    assert!(r.deleted.ids.is_empty());
    assert_eq!(r.caps_exceeded.len(), 1);
    assert_eq!(
        (r.caps_exceeded[0].planned, r.caps_exceeded[0].limit),
        (30, 20)
    );
    assert_eq!(r.instances_population, Some(1000));
    assert_no_deletes(&emu, "2 % of 1,000 instances, 30 planned");
}

#[tokio::test]
async fn no_percentage_no_extra_listing() {
    let f = fleet();
    let emu = start(&f).await;
    let c = cleaner(&emu, policy(100)).await;
    let r = run(&c, t0(), Overrides::default()).await;
    assert_eq!(r.instances_population, None);
    assert_eq!(count_pages_since(&emu, 0), 0);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json.get("instances_population").is_none(), "{json}");
}

#[tokio::test]
async fn a_tiny_fleet_under_min_population_uses_the_absolute_cap() {
    // 4 instances, 2 of them errored: 25 % of 4 is 1, which would refuse
    // both deletions; under min-population (20) only `max: 2` applies.
    let created: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let mut f = Fleet::default();
    for n in 1..=4usize {
        let i = id(n);
        let state = if n <= 2 {
            f.errored.insert(i.clone());
            ProvisionState::ErrorAllocating
        } else {
            ProvisionState::Allocated
        };
        let inst = Instance::new(&i, state, created).with_workspace_error("EC2_LAUNCH_FAILED", "x");
        f.state.instances.insert(i, inst);
    }
    let emu = start(&f).await;
    let c = cleaner(&emu, percent_policy(2, 25.0)).await;
    let r1 = run(&c, t0(), Overrides::default()).await;
    assert_eq!(r1.instances_population, Some(4));
    assert_eq!(set(&r1.marked.ids), f.errored);
    let r2 = run(&c, past_grace(&emu), Overrides::default()).await;
    assert!(r2.caps_exceeded.is_empty(), "{:?}", r2.caps_exceeded);
    assert_eq!(set(&r2.deleted.ids), f.errored);
}

/// Issue 14 item 7: with a notifier (moto's SNS, read back from a subscribed
/// SQS queue), every deletion is announced once and every deletion a cap
/// refused once; marking and unmarking only label instances and are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_cap_refusals_are_announced_marks_are_not() {
    use warden_core::aws::notify::Notifier;
    use warden_core::aws::{load_sdk_config, AwsSettings};

    let moto = warden_emulator::moto::MotoServer::start()
        .expect("moto starts (scripts/tools.sh installs it)");
    let sdk = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
    );
    let topic = sns.create_topic().name("cleanup").send().await.unwrap();
    let topic = topic.topic_arn.unwrap();
    let url = sqs.create_queue().queue_name("cleanup-inbox").send().await;
    let url = url.unwrap().queue_url.unwrap();
    let qarn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(qarn.clone())
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes.unwrap()[&qarn].clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    let notifier = Notifier::new(sns, &topic);
    let drain = || async {
        let mut out: Vec<serde_json::Value> = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let msgs = got.messages.unwrap_or_default();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                out.push(serde_json::from_str(m.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    };
    let f = fleet();
    let emu = start(&f).await;
    let c = cleaner(&emu, policy(5))
        .await
        .with_notifier(notifier.clone());
    let mut m = Metrics::new("test");
    let r = c
        .run_invocation(
            "req-mark",
            t0(),
            &Overrides::default(),
            Deadline::none(),
            &mut m,
        )
        .await
        .unwrap();
    assert!(!r.marked.ids.is_empty());
    assert!(drain().await.is_empty(), "marks are not announced");

    // Past the grace period, the cap (5) refuses all 30 deletions.
    let now2 = past_grace(&emu);
    let r = c
        .run_invocation(
            "req-capped",
            now2,
            &Overrides::default(),
            Deadline::none(),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(set(&r.skipped_by_cap.ids), f.to_delete);
    assert!(
        !r.unmarked.ids.is_empty(),
        "unmarks ran and are not announced"
    );
    let msgs = drain().await;
    assert_eq!(msgs.len(), f.to_delete.len(), "one per refused deletion");
    for msg in &msgs {
        assert_eq!(
            msg["MessageAttributes"]["warden_event"]["Value"],
            "refused-by-cap"
        );
        let body = msg["Message"].as_str().unwrap();
        assert!(
            body.contains("why: cap exceeded: 30 planned, limit 5"),
            "{body}"
        );
        assert!(body.contains("request req-capped"), "{body}");
    }

    // A cap that allows them: each deletion announced once.
    let c2 = cleaner(&emu, policy(100)).await.with_notifier(notifier);
    let kept: Vec<instance_cleanup::MarkRecord> = stored(&c)
        .await
        .into_iter()
        .map(|i| instance_cleanup::MarkRecord {
            instance_id: i,
            marked_at: Some(t0()),
            reason: String::new(),
        })
        .collect();
    c2.store().put(&kept).await.unwrap();
    let r = c2
        .run_invocation(
            "req-delete",
            now2,
            &Overrides::default(),
            Deadline::none(),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(set(&r.deleted.ids), f.to_delete);
    let msgs = drain().await;
    let announced: BTreeSet<String> = msgs
        .iter()
        .map(|msg| {
            let body = msg["Message"].as_str().unwrap();
            let first = body.lines().next().unwrap();
            let rest = first
                .strip_prefix("delete-instance done: instance ")
                .expect(first);
            rest.split(' ').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(msgs.len(), f.to_delete.len());
    assert_eq!(announced, f.to_delete);
    assert_eq!(m.get("NotificationsFailed"), 0.0);
}
