//! The behaviour of the token, audit, pin, trigger and release stores, on every backend.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use deployer_auth::{
    Action, Expiry, PlainToken, Rejection, ScopeTarget, Scopes, TokenHash, TokenId, TokenName, TokenStatus,
};
use deployer_core::image::{ImageRef, Tag};
use deployer_core::model::{DeploymentId, EventKind};
use deployer_core::ports::{Store, StoreError};
use deployer_store::tokens::{self, AuthenticateError, TokenCommandError};
use deployer_store::{
    AuditEntry, AuditFilter, AuditOutcome, AuditPage, AuditStore, HistoryStore, Pin, PinOutcome, PinStore, ReleaseId,
    ReleaseRecord, ReleaseStore, TokenStore, TriggerId, TriggerOutcome, TriggerPage, TriggerRecord, TriggerStore,
};

use crate::fixtures::{at, event, full_record, target};
use crate::harness::Harness;

async fn store<H: Harness>(h: &H) -> Arc<dyn HistoryStore> {
    h.open()
        .await
        .unwrap_or_else(|e| panic!("opening the store failed: {e}"))
}

fn ok<T>(r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("store call failed: {e}"))
}

fn name(n: &str) -> TokenName {
    TokenName::new(n).expect("fixture token name is valid")
}

fn scopes(s: &str) -> Scopes {
    s.parse().expect("fixture scopes are valid")
}

/// A token record issued at `at(secs, 250)`.
fn issued(n: &str, s: &str, secs: i64, expiry: Expiry) -> deployer_auth::Issued {
    deployer_auth::issue(name(n), scopes(s), expiry, at(secs, 250)).expect("the random source works")
}

pub(crate) async fn tokens_are_stored_found_by_hash_and_revoked<H: Harness>(h: &H) {
    let s = store(h).await;
    let a = issued(
        "ci-release",
        "deploy:staging/*/*/api-* read:*",
        1,
        Expiry::After(Duration::from_secs(3600)),
    );
    let b = issued("alice@example.com", "admin:*", 2, Expiry::Never);
    ok(s.create_token(&a.record).await);
    ok(s.create_token(&b.record).await);

    assert_eq!(ok(s.find_token_by_hash(&a.token.hash()).await), Some(a.record.clone()));
    assert_eq!(ok(s.find_token_by_hash(&TokenHash::of("kad_unknown")).await), None);
    assert_eq!(ok(s.get_token(&b.record.id).await), Some(b.record.clone()));
    assert_eq!(
        ok(s.list_tokens().await),
        [a.record.clone(), b.record.clone()],
        "oldest first"
    );

    // The id and the hash are each unique.
    let again = s.create_token(&a.record).await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "{again:?}");
    let mut same_hash = b.record.clone();
    same_hash.id = TokenId::new("zzzzzzzz").expect("valid id");
    assert!(matches!(
        s.create_token(&same_hash).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut same_id = issued("other", "read:*", 3, Expiry::Never).record;
    same_id.id = a.record.id.clone();
    assert!(matches!(
        s.create_token(&same_id).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        ok(s.list_tokens().await).len(),
        2,
        "the refused creations stored nothing"
    );

    // Revoking keeps the first revocation time; the record is still found, and auth decides.
    let revoked = ok(s.revoke_token(&a.record.id, at(10, 7)).await).expect("the token exists");
    assert_eq!(revoked.revoked_at, Some(at(10, 7)));
    let twice = ok(s.revoke_token(&a.record.id, at(20, 0)).await).expect("the token exists");
    assert_eq!(twice.revoked_at, Some(at(10, 7)));
    let found = ok(s.find_token_by_hash(&a.token.hash()).await).expect("revoked tokens are still found");
    assert_eq!(found.status(at(11, 0)), TokenStatus::Revoked);
    assert_eq!(
        ok(s.revoke_token(&TokenId::new("nothere1").expect("valid id"), at(20, 0))
            .await),
        None
    );

    // `last_used_at` only moves forward.
    ok(s.touch_token(&b.record.id, at(50, 1)).await);
    ok(s.touch_token(&b.record.id, at(40, 0)).await);
    assert_eq!(
        ok(s.get_token(&b.record.id).await).and_then(|r| r.last_used_at),
        Some(at(50, 1))
    );
    ok(s.touch_token(&b.record.id, at(60, 0)).await);
    assert_eq!(
        ok(s.get_token(&b.record.id).await).and_then(|r| r.last_used_at),
        Some(at(60, 0))
    );
}

pub(crate) async fn token_commands_issue_authenticate_and_revoke<H: Harness>(h: &H) {
    let s = store(h).await;
    let now = at(1000, 0);
    let created = tokens::create(
        &*s,
        name("ci"),
        scopes("deploy:staging/*/*/*"),
        "1h".parse().expect("valid"),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let secret = created.token.expose_secret().to_owned();
    assert_eq!(ok(s.get_token(&created.record.id).await), Some(created.record.clone()));
    assert_eq!(created.record.expires_at, Some(at(4600, 0)));

    let no_scopes = tokens::create(&*s, name("x"), Scopes::default(), Expiry::Never, now).await;
    assert_eq!(no_scopes.err(), Some(TokenCommandError::NoScopes));

    // A valid token lets its caller in, with its scopes, and records the use once a minute.
    let caller = tokens::authenticate(&*s, &secret, at(1001, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((caller.name.as_str(), &caller.token_id), ("ci", &created.record.id));
    let staging = ScopeTarget {
        environment: Some("staging"),
        region: "r1",
        cluster: "c1",
        file: "api",
    };
    assert!(caller.allows(Action::Deploy, &staging).is_allowed());
    assert!(
        !caller
            .allows(
                Action::Deploy,
                &ScopeTarget {
                    environment: Some("production"),
                    ..staging
                }
            )
            .is_allowed()
    );
    let last_used =
        |s: Arc<dyn HistoryStore>, id: TokenId| async move { ok(s.get_token(&id).await).and_then(|r| r.last_used_at) };
    assert_eq!(
        last_used(Arc::clone(&s), created.record.id.clone()).await,
        Some(at(1001, 0))
    );
    assert!(tokens::authenticate(&*s, &secret, at(1030, 0)).await.is_ok());
    assert_eq!(
        last_used(Arc::clone(&s), created.record.id.clone()).await,
        Some(at(1001, 0)),
        "throttled"
    );
    assert!(tokens::authenticate(&*s, &secret, at(1062, 0)).await.is_ok());
    assert_eq!(
        last_used(Arc::clone(&s), created.record.id.clone()).await,
        Some(at(1062, 0))
    );

    // Garbage and unknown tokens are refused.
    let malformed = tokens::authenticate(&*s, "Bearer nope", now).await;
    assert_eq!(malformed.err(), Some(AuthenticateError::Rejected(Rejection::Malformed)));
    let stranger = PlainToken::generate().expect("the random source works");
    let unknown = tokens::authenticate(&*s, stranger.expose_secret(), now).await;
    assert_eq!(unknown.err().map(|e| e.kind()), Some("unknown_token"));

    // Listing shows each token's status at the time asked.
    let other = tokens::create(&*s, name("ops"), scopes("rollback,pin:*"), Expiry::Never, at(1100, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = tokens::list(&*s, at(5000, 0)).await.unwrap_or_else(|e| panic!("{e}"));
    let statuses: Vec<_> = listed.iter().map(|l| (l.record.id.clone(), l.status)).collect();
    assert_eq!(
        statuses,
        [
            (created.record.id.clone(), TokenStatus::Expired),
            (other.record.id.clone(), TokenStatus::Active)
        ]
    );

    // After expiry and after revocation the token is refused, and says why.
    let expired = tokens::authenticate(&*s, &secret, at(4600, 0)).await;
    assert_eq!(expired.err().map(|e| e.kind()), Some("expired_token"));
    let ops_secret = other.token.expose_secret().to_owned();
    let revoked = tokens::revoke(&*s, &other.record.id, at(2000, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revoked.revoked_at, Some(at(2000, 0)));
    let refused = tokens::authenticate(&*s, &ops_secret, at(2000, 1)).await;
    assert_eq!(
        refused.err(),
        Some(AuthenticateError::Rejected(Rejection::Revoked {
            id: other.record.id.clone(),
            at: at(2000, 0)
        }))
    );
    let missing = TokenId::new("AAAAAAAA").expect("valid id");
    assert_eq!(
        tokens::revoke(&*s, &missing, now).await.err(),
        Some(TokenCommandError::NotFound(missing))
    );
}

fn audit(secs: i64, identity: &str, action: &str, outcome: AuditOutcome) -> AuditEntry {
    let status = match outcome {
        AuditOutcome::Allowed => 202,
        AuditOutcome::Denied => 403,
        AuditOutcome::Failed => 500,
    };
    AuditEntry::new(at(secs, 500), identity, action, outcome)
        .with_target("us-west-2/prod-1/api")
        .with_status(status)
        .with_client_ip(IpAddr::from([10, 0, 0, 1]))
}

pub(crate) async fn audit_batches_are_appended_in_order_after_single_entries<H: Harness>(h: &H) {
    let s = store(h).await;
    let first = audit(1, "ci/AbCdEfGh", "deploy", AuditOutcome::Allowed);
    let single = ok(s.append_audit(&first).await);
    let batch: Vec<AuditEntry> = (2..6)
        .map(|i| audit(i, "alice/ZyXwVuTs", "rollback", AuditOutcome::Allowed))
        .collect();
    ok(s.append_audit_batch(&batch).await);
    ok(s.append_audit_batch(&[]).await);
    let read = ok(s
        .query_audit(
            &AuditFilter::default(),
            &AuditPage {
                limit: 100,
                before: None,
            },
        )
        .await);
    assert_eq!(read.len(), 5);
    let oldest_first: Vec<&AuditEntry> = read.iter().rev().collect();
    assert_eq!(oldest_first[0].seq, single);
    assert!(oldest_first.windows(2).all(|w| w[0].seq < w[1].seq), "seq increases");
    for (stored, sent) in oldest_first[1..].iter().zip(&batch) {
        assert_eq!(
            (stored.at, &stored.identity, &stored.action),
            (sent.at, &sent.identity, &sent.action)
        );
    }
}

pub(crate) async fn audit_entries_are_filtered_and_paged_newest_first<H: Harness>(h: &H) {
    let s = store(h).await;
    let mut entries = vec![
        audit(1, "ci/AbCdEfGh", "deploy", AuditOutcome::Allowed),
        audit(2, "ci/AbCdEfGh", "deploy", AuditOutcome::Denied),
        audit(3, "alice/ZyXwVuTs", "rollback", AuditOutcome::Allowed),
        audit(4, "anonymous", "authenticate", AuditOutcome::Denied),
        audit(5, "ci/AbCdEfGh", "pin", AuditOutcome::Failed),
        audit(6, "alice/ZyXwVuTs", "token.create", AuditOutcome::Allowed),
        audit(7, "ci/AbCdEfGh", "deploy", AuditOutcome::Allowed),
    ];
    entries[3].target = None;
    entries[3].status_code = None;
    entries[3].detail = Some("malformed_token: \"quotes\" and ünïcödé".to_owned());
    entries[4].client_ip = "2001:db8::42".parse().ok();
    entries[5].client_ip = None;
    for e in &mut entries {
        e.seq = ok(s.append_audit(e).await);
    }
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq), "seq increases");

    let query = |f: AuditFilter, limit: usize, before: Option<i64>| {
        let s = Arc::clone(&s);
        async move { ok(s.query_audit(&f, &AuditPage { limit, before }).await) }
    };
    let newest_first = |idx: &[usize]| idx.iter().rev().map(|i| entries[*i].clone()).collect::<Vec<_>>();

    assert_eq!(
        query(AuditFilter::default(), 100, None).await,
        newest_first(&[0, 1, 2, 3, 4, 5, 6])
    );
    let by_identity = AuditFilter {
        identity: Some("ci/AbCdEfGh".into()),
        ..Default::default()
    };
    assert_eq!(query(by_identity.clone(), 100, None).await, newest_first(&[0, 1, 4, 6]));
    let by_action = AuditFilter {
        action: Some("deploy".into()),
        ..Default::default()
    };
    assert_eq!(query(by_action, 100, None).await, newest_first(&[0, 1, 6]));
    let denied = AuditFilter {
        outcome: Some(AuditOutcome::Denied),
        ..Default::default()
    };
    assert_eq!(query(denied, 100, None).await, newest_first(&[1, 3]));
    // `since` is inclusive, `until` exclusive.
    let window = AuditFilter {
        since: Some(at(3, 500)),
        until: Some(at(6, 500)),
        ..Default::default()
    };
    assert_eq!(query(window, 100, None).await, newest_first(&[2, 3, 4]));
    let combined = AuditFilter {
        identity: Some("ci/AbCdEfGh".into()),
        outcome: Some(AuditOutcome::Allowed),
        since: Some(at(2, 0)),
        ..Default::default()
    };
    assert_eq!(query(combined, 100, None).await, newest_first(&[6]));

    // Pages of two under a filter: no gaps, no repeats.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = query(by_identity.clone(), 2, before).await;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        before = page.last().map(|e| e.seq);
        seen.extend(page);
    }
    assert_eq!(seen, newest_first(&[0, 1, 4, 6]));
    assert!(query(AuditFilter::default(), 0, None).await.is_empty());
}

fn pin(region: &str, cluster: &str, file: &str, by: &str) -> Pin {
    Pin {
        target: target(region, cluster, file),
        pinned_by: by.to_owned(),
        reason: Some(format!("incident 42, held by {by}")),
        deployment_id: Some(DeploymentId::generate(at(1, 0))),
        pinned_at: at(5, 123_456),
    }
}

pub(crate) async fn pins_are_set_once_read_listed_and_removed<H: Harness>(h: &H) {
    let s = store(h).await;
    let api = pin("us-west-2", "prod-1", "api", "alice");
    let mut web = pin("us-west-2", "prod-1", "Web", "bob");
    web.reason = None;
    web.deployment_id = None;
    let eu = pin("eu-west-1", "prod-1", "api", "carol");
    for p in [&api, &web, &eu] {
        assert_eq!(ok(s.pin(p).await), PinOutcome::Pinned);
    }
    let again = pin("us-west-2", "prod-1", "api", "mallory");
    assert_eq!(
        ok(s.pin(&again).await),
        PinOutcome::AlreadyPinned(Box::new(api.clone())),
        "the first pin stays"
    );

    assert_eq!(ok(s.get_pin(&api.target).await), Some(api.clone()));
    assert_eq!(ok(s.get_pin(&target("us-west-2", "prod-2", "api")).await), None);
    // Byte order: `Web` sorts before `api` on every backend.
    assert_eq!(ok(s.list_pins().await), [eu.clone(), web.clone(), api.clone()]);

    assert_eq!(ok(s.unpin(&api.target).await), Some(api.clone()));
    assert_eq!(ok(s.unpin(&api.target).await), None);
    assert_eq!(ok(s.get_pin(&api.target).await), None);
    assert_eq!(
        ok(s.pin(&again).await),
        PinOutcome::Pinned,
        "an unpinned target can be pinned again"
    );
    assert_eq!(ok(s.list_pins().await).len(), 3);
}

fn trigger(secs: i64, dedup_key: Option<&str>, outcome: TriggerOutcome) -> TriggerRecord {
    let when = at(secs, 42);
    TriggerRecord {
        id: TriggerId::generate(when),
        at: when,
        source: "dockerhub".to_owned(),
        payload_digest: format!("sha256:{}", "0f".repeat(32)),
        identity: "webhook:dockerhub-main".to_owned(),
        matched_rules: vec!["api-staging".to_owned(), "api \"canary\"".to_owned()],
        deployment_ids: vec![DeploymentId::generate(when), DeploymentId::generate(when)],
        outcome,
        reason: None,
        dedup_key: dedup_key.map(str::to_owned),
    }
}

pub(crate) async fn triggers_are_recorded_paged_and_found_by_dedup_key<H: Harness>(h: &H) {
    let s = store(h).await;
    let mut ignored = trigger(20, Some("delivery-2"), TriggerOutcome::Ignored);
    ignored.matched_rules.clear();
    ignored.deployment_ids.clear();
    ignored.reason = Some("no rule matches `library/redis`".to_owned());
    let all = vec![
        trigger(10, Some("delivery-1"), TriggerOutcome::Accepted),
        ignored,
        trigger(30, None, TriggerOutcome::Rejected),
        trigger(40, Some("delivery-1"), TriggerOutcome::Duplicate),
        trigger(50, Some("delivery-3"), TriggerOutcome::Failed),
    ];
    for t in &all {
        ok(s.record_trigger(t).await);
    }
    assert!(matches!(
        s.record_trigger(&all[0]).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(ok(s.get_trigger(all[1].id).await), Some(all[1].clone()));
    assert_eq!(ok(s.get_trigger(TriggerId::generate(at(99, 0))).await), None);

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = ok(s.list_triggers(&TriggerPage { limit: 2, before }).await);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        before = page.last().map(|t| t.id);
        seen.extend(page);
    }
    assert_eq!(
        seen,
        all.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first, no gaps"
    );

    let recent = |key: &'static str, since| {
        let s = Arc::clone(&s);
        async move { ok(s.find_recent_trigger_by_dedup_key(key, since).await).map(|t| t.id) }
    };
    assert_eq!(
        recent("delivery-1", at(0, 0)).await,
        Some(all[3].id),
        "the newest with the key"
    );
    assert_eq!(
        recent("delivery-1", all[3].at).await,
        Some(all[3].id),
        "`since` is inclusive"
    );
    assert_eq!(recent("delivery-1", at(40, 43)).await, None);
    assert_eq!(recent("delivery-2", at(0, 0)).await, Some(all[1].id));
    assert_eq!(recent("delivery-9", at(0, 0)).await, None);
}

pub(crate) async fn releases_are_created_and_read_back<H: Harness>(h: &H) {
    let s = store(h).await;
    let when = at(77, 654_321);
    let full = ReleaseRecord {
        id: ReleaseId::generate(when),
        at: when,
        tag: Tag::new("v1.4.2").expect("valid tag"),
        image: ImageRef::parse("registry.example.com/team/api").expect("valid image"),
        branch: Some("main".to_owned()),
        environment: Some("production".to_owned()),
        commit: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
        build_url: Some("https://ci.example.com/builds/42?x=\"y\"".to_owned()),
        deployment_ids: vec![DeploymentId::generate(when), DeploymentId::generate(when)],
    };
    let bare = ReleaseRecord {
        id: ReleaseId::generate(when),
        branch: None,
        environment: None,
        commit: None,
        build_url: None,
        deployment_ids: Vec::new(),
        ..full.clone()
    };
    ok(s.create_release(&full).await);
    ok(s.create_release(&bare).await);
    assert_eq!(ok(s.get_release(full.id).await), Some(full.clone()));
    assert_eq!(ok(s.get_release(bare.id).await), Some(bare.clone()));
    assert!(matches!(
        s.create_release(&full).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(ok(s.get_release(ReleaseId::generate(at(1, 0))).await), None);
}

pub(crate) async fn a_database_from_before_the_access_tables_is_upgraded<H: Harness>(h: &H) {
    let record = full_record();
    {
        let s = store(h).await;
        ok(s.insert_deployment(&record, &[event(EventKind::Queued, &record)]).await);
    }
    // Take the database back to schema version 1.
    h.execute(
        "DROP TABLE tokens; DROP TABLE audit_log; DROP TABLE pins; DROP TABLE triggers; DROP TABLE releases; \
         DELETE FROM schema_migrations WHERE version = 2",
    )
    .await;
    assert_eq!(h.scalar("SELECT count(*) FROM schema_migrations").await, 1);
    let s = store(h).await;
    assert_eq!(h.scalar("SELECT count(*) FROM schema_migrations").await, 2);
    assert_eq!(
        ok(s.get_deployment(record.id).await),
        Some(record.clone()),
        "the history is kept"
    );
    let t = issued("after-upgrade", "read:*", 1, Expiry::Never);
    ok(s.create_token(&t.record).await);
    assert_eq!(ok(s.find_token_by_hash(&t.token.hash()).await), Some(t.record));
}

pub(crate) async fn one_open_store_serves_every_port<H: Harness>(h: &H) {
    let s = store(h).await;
    let core: Arc<dyn Store> = Arc::clone(&s) as Arc<dyn Store>;
    let token_store: Arc<dyn TokenStore> = Arc::clone(&s) as Arc<dyn TokenStore>;
    let audit_store: Arc<dyn AuditStore> = Arc::clone(&s) as Arc<dyn AuditStore>;
    let pin_store: Arc<dyn PinStore> = Arc::clone(&s) as Arc<dyn PinStore>;
    let trigger_store: Arc<dyn TriggerStore> = Arc::clone(&s) as Arc<dyn TriggerStore>;
    let release_store: Arc<dyn ReleaseStore> = Arc::clone(&s) as Arc<dyn ReleaseStore>;
    let record = full_record();
    ok(core.insert_deployment(&record, &[]).await);
    let t = issued("ports", "read:*", 1, Expiry::Never);
    ok(token_store.create_token(&t.record).await);
    ok(audit_store
        .append_audit(&audit(1, "ports", "deploy", AuditOutcome::Allowed))
        .await);
    ok(pin_store.pin(&pin("r1", "c1", "f", "ports")).await);
    ok(trigger_store
        .record_trigger(&trigger(1, None, TriggerOutcome::Accepted))
        .await);
    assert_eq!(ok(release_store.get_release(ReleaseId::generate(at(1, 0))).await), None);
    // Everything written through one view is visible through the whole store.
    assert_eq!(ok(s.get_deployment(record.id).await).map(|r| r.id), Some(record.id));
    assert_eq!(ok(s.list_tokens().await).len(), 1);
    assert_eq!(
        ok(s.query_audit(
            &AuditFilter::default(),
            &AuditPage {
                limit: 10,
                before: None
            }
        )
        .await)
        .len(),
        1
    );
    assert_eq!(ok(s.list_pins().await).len(), 1);
    assert_eq!(
        ok(s.list_triggers(&TriggerPage {
            limit: 10,
            before: None
        })
        .await)
        .len(),
        1
    );
}
