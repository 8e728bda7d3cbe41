//! Behaviour of the trust module through its public API: the admission table over every level
//! and kind of caller, list files edited under a running gatekeeper, the policy judge and its
//! cache, rate limits, and parsing.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agenthost_identity::Address;
use agenthost_node::trust::{
    Arrival, CallerFacts, Gatekeeper, PolicyJudge, RateLimit, Refusal, RefusalKind, Trust,
    TrustConfig, TrustError, TrustPolicy, Verdict,
};
use agenthost_node::ErrorCode;
use serde_json::Value;

/// How soon a list file edit must be in force in a running gatekeeper.
const RELOAD_DEADLINE: Duration = Duration::from_secs(2);

fn addr(byte: u8) -> Address {
    Address::from_bytes([byte; 32])
}

const IDENTITY_REQUIRED: &str = "identity required: sign the request or call over libp2p";

// ---------------------------------------------------------------------------------------------
// Fake judges and policies

/// Answers every caller with one verdict (or error), counting calls and keeping the facts.
struct FakeJudge {
    answer: Result<Verdict, String>,
    delay: Duration,
    calls: AtomicUsize,
    facts: Mutex<Vec<Value>>,
}

impl FakeJudge {
    fn new(answer: Result<Verdict, String>) -> Arc<FakeJudge> {
        FakeJudge::slow(answer, Duration::ZERO)
    }

    fn slow(answer: Result<Verdict, String>, delay: Duration) -> Arc<FakeJudge> {
        Arc::new(FakeJudge {
            answer,
            delay,
            calls: AtomicUsize::new(0),
            facts: Mutex::new(Vec::new()),
        })
    }

    fn allowing() -> Arc<FakeJudge> {
        FakeJudge::new(Ok(Verdict::allow("looks fine")))
    }

    fn denying() -> Arc<FakeJudge> {
        FakeJudge::new(Ok(Verdict::deny("policy says no")))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Value> {
        self.facts.lock().unwrap().clone()
    }
}

impl PolicyJudge for FakeJudge {
    fn judge<'a>(
        &'a self,
        _policy: &'a str,
        facts: &'a Value,
    ) -> Pin<Box<dyn Future<Output = Result<Verdict, String>> + Send + 'a>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.facts.lock().unwrap().push(facts.clone());
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            self.answer.clone()
        })
    }
}

/// A custom policy admitting signed callers only, counting how often it is asked.
#[derive(Default)]
struct SignedOnly {
    calls: AtomicUsize,
}

impl TrustPolicy for SignedOnly {
    fn decide<'a>(
        &'a self,
        facts: &'a CallerFacts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send + 'a>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if facts.signed {
                Ok(())
            } else {
                Err(Refusal::forbidden("sign your requests"))
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The admission table

const OWN: u8 = 1;
const ADMIN_IN_FILE: u8 = 2;
const WHITE_IN_CODE: u8 = 3;
const WHITE_IN_FILE: u8 = 4;
const BLACK_IN_CODE: u8 = 5;
const BLACK_AND_WHITE: u8 = 6; // whitelisted in code, blacklisted in the file
const BLACK_ADMIN: u8 = 7; // in admins.txt and blacklist.txt
const PEER: u8 = 8;
const SIGNER: u8 = 9;

/// A data folder with all three list files, plus code values, shared by every level.
fn table_config(trust: Trust, dir: &Path) -> TrustConfig {
    std::fs::write(
        dir.join("whitelist.txt"),
        format!("# whitelist\n{}\n", addr(WHITE_IN_FILE)),
    )
    .unwrap();
    std::fs::write(
        dir.join("blacklist.txt"),
        format!("{}\n{}\n", addr(BLACK_AND_WHITE), addr(BLACK_ADMIN)),
    )
    .unwrap();
    std::fs::write(
        dir.join("admins.txt"),
        format!("{}\n{}\n", addr(ADMIN_IN_FILE), addr(BLACK_ADMIN)),
    )
    .unwrap();
    let mut config = TrustConfig::new(trust, addr(OWN)).with_data_dir(dir);
    config.whitelist = vec![addr(WHITE_IN_CODE), addr(BLACK_AND_WHITE)];
    config.blacklist = vec![addr(BLACK_IN_CODE)];
    config
}

fn remote(text: &str) -> Option<String> {
    Some(text.to_string())
}

fn http(loopback: bool) -> Arrival {
    Arrival::Http { loopback }
}

/// Expected outcome codes: `A` admitted, `U` unauthorized (identity required), `F:bl` forbidden
/// blacklisted, `F:nw` forbidden not whitelisted, `F:pol` forbidden by the denying judge.
fn expected(code: &str) -> Result<(), (RefusalKind, &'static str)> {
    match code {
        "A" => Ok(()),
        "U" => Err((RefusalKind::Unauthorized, IDENTITY_REQUIRED)),
        "F:bl" => Err((RefusalKind::Forbidden, "blacklisted")),
        "F:nw" => Err((RefusalKind::Forbidden, "not whitelisted")),
        "F:pol" => Err((RefusalKind::Forbidden, "policy says no")),
        other => panic!("unknown code {other}"),
    }
}

#[tokio::test]
async fn admission_table_over_every_level_and_caller_kind() {
    let dir = tempfile::tempdir().unwrap();
    let allowing = FakeJudge::allowing();
    let denying = FakeJudge::denying();
    let levels: Vec<(&str, TrustConfig)> = vec![
        ("open", table_config(Trust::Open, dir.path())),
        ("careful", table_config(Trust::Careful, dir.path())),
        ("strict", table_config(Trust::Strict, dir.path())),
        ("policy-allow", {
            let mut config = table_config(Trust::Policy("anyone".into()), dir.path());
            config.judge = Some(allowing.clone());
            config
        }),
        ("policy-deny", {
            let mut config = table_config(Trust::Policy("no one".into()), dir.path());
            config.judge = Some(denying.clone());
            config
        }),
    ];

    #[rustfmt::skip]
    let table: Vec<(&str, CallerFacts, [&str; 5])> = vec![
        //                                                                                     open    careful strict  allow   deny
        ("anonymous in-process",    CallerFacts::in_process(),                                  ["A",    "A",    "U",    "A",    "F:pol"]),
        ("anonymous loopback HTTP", CallerFacts::anonymous_http(true, remote("127.0.0.1:5000")), ["A",    "A",    "U",    "A",    "F:pol"]),
        ("anonymous remote HTTP",   CallerFacts::anonymous_http(false, remote("203.0.113.9:5000")), ["A", "U",    "U",    "A",    "F:pol"]),
        ("libp2p peer, direct",     CallerFacts::peer(addr(PEER), false, None),                 ["A",    "A",    "F:nw", "A",    "F:pol"]),
        ("libp2p peer, relayed",    CallerFacts::peer(addr(PEER), true, None),                  ["A",    "A",    "F:nw", "A",    "F:pol"]),
        ("signed HTTP caller",      CallerFacts::signed(addr(SIGNER), http(false), remote("203.0.113.9:1")), ["A", "A", "F:nw", "A", "F:pol"]),
        ("whitelisted in code",     CallerFacts::peer(addr(WHITE_IN_CODE), true, None),         ["A",    "A",    "A",    "A",    "A"]),
        ("whitelisted in file",     CallerFacts::signed(addr(WHITE_IN_FILE), http(false), None), ["A",   "A",    "A",    "A",    "A"]),
        ("admin: own address",      CallerFacts::peer(addr(OWN), false, None),                  ["A",    "A",    "A",    "A",    "A"]),
        ("admin: admins file",      CallerFacts::signed(addr(ADMIN_IN_FILE), http(false), None), ["A",   "A",    "A",    "A",    "A"]),
        ("blacklisted peer",        CallerFacts::peer(addr(BLACK_IN_CODE), false, None),        ["F:bl", "F:bl", "F:bl", "F:bl", "F:bl"]),
        ("blacklisted signer",      CallerFacts::signed(addr(BLACK_IN_CODE), http(true), None), ["F:bl", "F:bl", "F:bl", "F:bl", "F:bl"]),
        ("blacklisted + whitelisted", CallerFacts::peer(addr(BLACK_AND_WHITE), false, None),    ["F:bl", "F:bl", "F:bl", "F:bl", "F:bl"]),
        ("blacklisted admin",       CallerFacts::peer(addr(BLACK_ADMIN), false, None),          ["F:bl", "F:bl", "F:bl", "F:bl", "F:bl"]),
    ];

    let mut failures = Vec::new();
    for (column, (level, config)) in levels.into_iter().enumerate() {
        let gatekeeper = Gatekeeper::new(config).unwrap();
        assert_eq!(gatekeeper.trust_name(), level.split('-').next().unwrap());
        for (caller, facts, codes) in &table {
            let got = gatekeeper
                .check(facts)
                .await
                .map_err(|refusal| (refusal.kind, refusal.reason));
            let want = expected(codes[column]).map_err(|(kind, reason)| (kind, reason.to_string()));
            if got != want {
                failures.push(format!("{level} × {caller}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // The judge is only asked about callers the lists did not decide.
    for judge in [&allowing, &denying] {
        for facts in judge.seen() {
            let caller = facts["caller"]
                .as_str()
                .map(|text| Address::parse(text).unwrap());
            assert!(
                caller.is_none() || caller == Some(addr(PEER)) || caller == Some(addr(SIGNER)),
                "judge asked about a listed caller: {facts}"
            );
        }
        assert!(judge.calls() > 0);
    }
}

#[tokio::test]
async fn blacklist_refusal_reads_as_the_wire_message() {
    let mut config = TrustConfig::new(Trust::Open, addr(OWN));
    config.blacklist = vec![addr(BLACK_IN_CODE)];
    let gatekeeper = Gatekeeper::new(config).unwrap();
    let refusal = gatekeeper
        .check(&CallerFacts::peer(addr(BLACK_IN_CODE), false, None))
        .await
        .unwrap_err();
    assert_eq!(refusal.to_string(), "forbidden: blacklisted");
    assert_eq!(ErrorCode::from(refusal.kind), ErrorCode::Forbidden);
    assert!(gatekeeper.is_blacklisted(&addr(BLACK_IN_CODE)));
    assert!(!gatekeeper.is_blacklisted(&addr(PEER)));
}

#[test]
fn refusal_display_uses_the_wire_kinds() {
    assert_eq!(
        Refusal::unauthorized("identity required").to_string(),
        "unauthorized: identity required"
    );
    assert_eq!(
        Refusal::forbidden("not whitelisted").to_string(),
        "forbidden: not whitelisted"
    );
    let limited = Refusal::rate_limited(0);
    assert_eq!(limited.retry_after_secs, Some(1));
    assert!(limited.to_string().starts_with("rate limited: "));
    assert_eq!(ErrorCode::from(limited.kind), ErrorCode::RateLimited);
}

// ---------------------------------------------------------------------------------------------
// List files edited while running

/// Calls `check` until it gives `want` or the reload deadline passes.
async fn until_outcome(
    gatekeeper: &Gatekeeper,
    facts: &CallerFacts,
    want: Result<(), RefusalKind>,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = gatekeeper
            .check(facts)
            .await
            .map_err(|refusal| refusal.kind);
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < RELOAD_DEADLINE,
            "still {got:?} after {:?}, want {want:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ways editors save a file.
#[derive(Debug, Clone, Copy)]
enum Save {
    /// Truncate and write in place.
    InPlace,
    /// Write a temporary file and rename it over the old one.
    RenameOver,
    /// Remove the old file, pause, write a new one (vim's backup-by-rename).
    RemoveThenWrite,
}

fn save(path: &Path, text: &str, how: Save) {
    match how {
        Save::InPlace => std::fs::write(path, text).unwrap(),
        Save::RenameOver => {
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, text).unwrap();
            std::fs::rename(&temporary, path).unwrap();
        }
        Save::RemoveThenWrite => {
            if path.exists() {
                std::fs::rename(path, path.with_extension("bak")).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(path, text).unwrap();
        }
    }
}

#[tokio::test]
async fn editing_the_whitelist_admits_the_new_caller_within_two_seconds() {
    for how in [Save::InPlace, Save::RenameOver, Save::RemoveThenWrite] {
        let dir = tempfile::tempdir().unwrap();
        let whitelist = dir.path().join("whitelist.txt");
        std::fs::write(&whitelist, format!("{}\n", addr(WHITE_IN_FILE))).unwrap();
        let gatekeeper =
            Gatekeeper::new(TrustConfig::new(Trust::Strict, addr(OWN)).with_data_dir(dir.path()))
                .unwrap();
        let newcomer = CallerFacts::peer(addr(PEER), false, None);
        let refusal = gatekeeper.check(&newcomer).await.unwrap_err();
        assert_eq!(refusal.to_string(), "forbidden: not whitelisted");

        save(
            &whitelist,
            &format!("{}\n{}  # added\n", addr(WHITE_IN_FILE), addr(PEER)),
            how,
        );
        let took = until_outcome(&gatekeeper, &newcomer, Ok(())).await;
        println!("{how:?}: admitted after {took:?}");

        // The caller already listed stays admitted throughout.
        let listed = CallerFacts::peer(addr(WHITE_IN_FILE), false, None);
        assert_eq!(gatekeeper.check(&listed).await, Ok(()));
    }
}

#[tokio::test]
async fn a_whitelist_file_created_after_start_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let gatekeeper =
        Gatekeeper::new(TrustConfig::new(Trust::Strict, addr(OWN)).with_data_dir(dir.path()))
            .unwrap();
    let newcomer = CallerFacts::signed(addr(SIGNER), http(false), None);
    assert_eq!(
        gatekeeper.check(&newcomer).await.unwrap_err().kind,
        RefusalKind::Forbidden
    );
    std::fs::write(
        dir.path().join("whitelist.txt"),
        addr(SIGNER).to_peer_id().to_string(),
    )
    .unwrap();
    until_outcome(&gatekeeper, &newcomer, Ok(())).await;
}

#[tokio::test]
async fn blacklist_file_edits_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let blacklist = dir.path().join("blacklist.txt");
    let gatekeeper =
        Gatekeeper::new(TrustConfig::new(Trust::Open, addr(OWN)).with_data_dir(dir.path()))
            .unwrap();
    let caller = CallerFacts::peer(addr(PEER), false, None);
    assert_eq!(gatekeeper.check(&caller).await, Ok(()));
    assert!(!gatekeeper.is_blacklisted(&addr(PEER)));

    // Blacklisting: refused, and visible to the signed-envelope check too.
    save(&blacklist, &format!("{}\n", addr(PEER)), Save::RenameOver);
    until_outcome(&gatekeeper, &caller, Err(RefusalKind::Forbidden)).await;
    assert!(gatekeeper.is_blacklisted(&addr(PEER)));

    // A save that removes the file for a moment does not lift the blacklist, even when the
    // files are polled in that moment (the wait makes sure the next check polls them).
    std::fs::rename(&blacklist, dir.path().join("blacklist.bak")).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        gatekeeper.check(&caller).await.unwrap_err().to_string(),
        "forbidden: blacklisted"
    );
    std::fs::write(
        &blacklist,
        format!("# still blocked\n{}\n{}\n", addr(PEER), addr(SIGNER)),
    )
    .unwrap();
    let signer = CallerFacts::signed(addr(SIGNER), http(false), None);
    until_outcome(&gatekeeper, &signer, Err(RefusalKind::Forbidden)).await;
    assert_eq!(
        gatekeeper.check(&caller).await.unwrap_err().kind,
        RefusalKind::Forbidden
    );

    // Un-blacklisting by editing, then by deleting the file.
    save(&blacklist, &format!("{}\n", addr(SIGNER)), Save::InPlace);
    until_outcome(&gatekeeper, &caller, Ok(())).await;
    assert!(gatekeeper.is_blacklisted(&addr(SIGNER)));
    std::fs::remove_file(&blacklist).unwrap();
    until_outcome(&gatekeeper, &signer, Ok(())).await;
    assert!(!gatekeeper.is_blacklisted(&addr(SIGNER)));
}

#[tokio::test]
async fn is_blacklisted_sees_file_edits_without_any_check() {
    let dir = tempfile::tempdir().unwrap();
    let gatekeeper =
        Gatekeeper::new(TrustConfig::new(Trust::Open, addr(OWN)).with_data_dir(dir.path()))
            .unwrap();
    assert!(!gatekeeper.is_blacklisted(&addr(SIGNER)));
    std::fs::write(dir.path().join("blacklist.txt"), addr(SIGNER).to_string()).unwrap();
    let start = Instant::now();
    while !gatekeeper.is_blacklisted(&addr(SIGNER)) {
        assert!(start.elapsed() < RELOAD_DEADLINE, "blacklist not reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn admins_file_edits_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let gatekeeper =
        Gatekeeper::new(TrustConfig::new(Trust::Strict, addr(OWN)).with_data_dir(dir.path()))
            .unwrap();
    let caller = CallerFacts::peer(addr(ADMIN_IN_FILE), true, None);
    assert_eq!(
        gatekeeper.check(&caller).await.unwrap_err().kind,
        RefusalKind::Forbidden
    );
    std::fs::write(
        dir.path().join("admins.txt"),
        addr(ADMIN_IN_FILE).to_string(),
    )
    .unwrap();
    until_outcome(&gatekeeper, &caller, Ok(())).await;
}

#[tokio::test]
async fn bad_list_lines_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let upper = addr(0xab)
        .to_string()
        .to_uppercase()
        .replacen("0X", "0x", 1);
    std::fs::write(
        dir.path().join("whitelist.txt"),
        format!(
            "# team\n\nnot an address\n0x1234\n{}   # alice\r\n{}\n{upper}\n0x{}\n",
            addr(PEER),
            addr(SIGNER).to_peer_id(),
            "zz".repeat(32),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("blacklist.txt"),
        [0xff_u8, 0xfe, b'\n'].as_slice(),
    )
    .unwrap();
    let gatekeeper =
        Gatekeeper::new(TrustConfig::new(Trust::Strict, addr(OWN)).with_data_dir(dir.path()))
            .unwrap();
    for listed in [addr(PEER), addr(SIGNER), addr(0xab)] {
        assert_eq!(
            gatekeeper
                .check(&CallerFacts::peer(listed, false, None))
                .await,
            Ok(()),
            "{listed}"
        );
    }
    assert_eq!(
        gatekeeper
            .check(&CallerFacts::peer(addr(0x42), false, None))
            .await
            .unwrap_err()
            .kind,
        RefusalKind::Forbidden
    );
}

#[test]
fn missing_list_files_are_empty_lists_and_unreadable_ones_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    assert!(
        Gatekeeper::new(TrustConfig::new(Trust::Careful, addr(OWN)).with_data_dir(&missing))
            .is_ok()
    );

    std::fs::create_dir(dir.path().join("blacklist.txt")).unwrap();
    let error =
        Gatekeeper::new(TrustConfig::new(Trust::Careful, addr(OWN)).with_data_dir(dir.path()))
            .unwrap_err();
    assert!(
        matches!(
            error,
            TrustError::ListFile {
                list: "blacklist",
                ..
            }
        ),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Policy judge

fn policy_gatekeeper(judge: Option<Arc<dyn PolicyJudge>>, ttl: Duration) -> Gatekeeper {
    let mut config = TrustConfig::new(Trust::Policy("only friendly peers".into()), addr(OWN));
    config.judge = judge;
    config.policy_cache_ttl = ttl;
    Gatekeeper::new(config).unwrap()
}

#[tokio::test]
async fn the_judge_is_asked_once_per_caller_and_sees_only_facts() {
    let judge = FakeJudge::allowing();
    let gatekeeper = policy_gatekeeper(Some(judge.clone()), Duration::from_secs(600));
    let direct = CallerFacts::peer(addr(PEER), false, remote("/ip4/10.0.0.1/tcp/4001"));
    for _ in 0..5 {
        assert_eq!(gatekeeper.check(&direct).await, Ok(()));
    }
    assert_eq!(judge.calls(), 1, "cached caller judged again");

    let other = CallerFacts::signed(addr(SIGNER), http(true), None);
    assert_eq!(gatekeeper.check(&other).await, Ok(()));
    assert_eq!(judge.calls(), 2);

    // The same peer through a relay is judged anew: the facts differ.
    let relayed = CallerFacts::peer(addr(PEER), true, None);
    assert_eq!(gatekeeper.check(&relayed).await, Ok(()));
    assert_eq!(gatekeeper.check(&relayed).await, Ok(()));
    assert_eq!(judge.calls(), 3);

    let seen = judge.seen();
    assert_eq!(
        seen[0],
        serde_json::json!({
            "caller": addr(PEER).to_string(),
            "signed": false,
            "transport": "p2p",
            "relayed": false,
            "loopback": false,
            "times_seen": 1,
        })
    );
    assert_eq!(seen[1]["signed"], true);
    assert_eq!(seen[1]["transport"], "http");
    assert_eq!(seen[1]["loopback"], true);
    assert_eq!(seen[1]["times_seen"], 1);
    assert_eq!(seen[2]["relayed"], true);
    assert_eq!(seen[2]["times_seen"], 6, "five direct requests came before");

    let anonymous = CallerFacts::in_process();
    assert_eq!(gatekeeper.check(&anonymous).await, Ok(()));
    let last = judge.seen().pop().unwrap();
    assert_eq!(last["caller"], Value::Null);
    assert_eq!(last["transport"], "in_process");
}

#[tokio::test]
async fn denials_are_cached_and_carry_the_judges_reason() {
    let judge = FakeJudge::denying();
    let gatekeeper = policy_gatekeeper(Some(judge.clone()), Duration::from_secs(600));
    let caller = CallerFacts::peer(addr(PEER), false, None);
    for _ in 0..3 {
        let refusal = gatekeeper.check(&caller).await.unwrap_err();
        assert_eq!(refusal.to_string(), "forbidden: policy says no");
    }
    assert_eq!(judge.calls(), 1);
}

#[tokio::test]
async fn a_verdict_expires_after_the_cache_ttl() {
    let judge = FakeJudge::allowing();
    let gatekeeper = policy_gatekeeper(Some(judge.clone()), Duration::from_millis(100));
    let caller = CallerFacts::peer(addr(PEER), false, None);
    assert_eq!(gatekeeper.check(&caller).await, Ok(()));
    let start = Instant::now();
    while judge.calls() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "verdict never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(gatekeeper.check(&caller).await, Ok(()));
    }
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn concurrent_first_requests_share_one_judgement() {
    let judge = FakeJudge::slow(Ok(Verdict::allow("ok")), Duration::from_millis(100));
    let gatekeeper = Arc::new(policy_gatekeeper(
        Some(judge.clone()),
        Duration::from_secs(600),
    ));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let gatekeeper = gatekeeper.clone();
            tokio::spawn(async move {
                gatekeeper
                    .check(&CallerFacts::peer(addr(PEER), false, None))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Ok(()));
    }
    assert_eq!(judge.calls(), 1);
}

#[tokio::test]
async fn a_judge_error_refuses_and_is_not_cached() {
    let judge = FakeJudge::new(Err("model endpoint unreachable".into()));
    let gatekeeper = policy_gatekeeper(Some(judge.clone()), Duration::from_secs(600));
    let caller = CallerFacts::peer(addr(PEER), false, None);
    for _ in 0..2 {
        let refusal = gatekeeper.check(&caller).await.unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Forbidden);
        assert_eq!(
            refusal.reason,
            "trust policy could not be evaluated: the policy judge failed"
        );
    }
    assert_eq!(judge.calls(), 2, "a failed judgement must not be cached");
}

#[tokio::test]
async fn an_unparseable_verdict_refuses_and_a_bare_denial_gets_a_reason() {
    // Reading the model's text is the judge's job; what it cannot read comes back as an error.
    let unparseable = FakeJudge::new(Err("unparseable verdict: \"probably fine\"".into()));
    let gatekeeper = policy_gatekeeper(Some(unparseable), Duration::from_secs(600));
    let caller = CallerFacts::peer(addr(PEER), false, None);
    assert_eq!(
        gatekeeper.check(&caller).await.unwrap_err().kind,
        RefusalKind::Forbidden
    );

    let bare = FakeJudge::new(Ok(Verdict::deny("  ")));
    let gatekeeper = policy_gatekeeper(Some(bare), Duration::from_secs(600));
    assert_eq!(
        gatekeeper.check(&caller).await.unwrap_err().to_string(),
        "forbidden: refused by trust policy"
    );
}

#[tokio::test]
async fn a_policy_without_a_judge_refuses_all_but_listed_callers() {
    let gatekeeper = policy_gatekeeper(None, Duration::from_secs(600));
    let refusal = gatekeeper
        .check(&CallerFacts::peer(addr(PEER), false, None))
        .await
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "forbidden: trust policy could not be evaluated: no policy judge is configured"
    );
    assert_eq!(
        gatekeeper
            .check(&CallerFacts::peer(addr(OWN), false, None))
            .await,
        Ok(())
    );
}

#[tokio::test]
async fn a_custom_policy_decides_after_the_lists() {
    let policy = Arc::new(SignedOnly::default());
    let mut config = TrustConfig::new(Trust::Custom(policy.clone()), addr(OWN));
    config.blacklist = vec![addr(BLACK_IN_CODE)];
    config.whitelist = vec![addr(WHITE_IN_CODE)];
    let gatekeeper = Gatekeeper::new(config).unwrap();
    assert_eq!(gatekeeper.trust_name(), "custom");

    let signed = CallerFacts::signed(addr(SIGNER), http(false), None);
    assert_eq!(gatekeeper.check(&signed).await, Ok(()));
    let peer = CallerFacts::peer(addr(PEER), false, None);
    assert_eq!(
        gatekeeper.check(&peer).await.unwrap_err().to_string(),
        "forbidden: sign your requests"
    );
    assert_eq!(policy.calls.load(Ordering::SeqCst), 2);

    // Listed callers never reach the policy.
    let blacklisted = CallerFacts::signed(addr(BLACK_IN_CODE), http(false), None);
    assert_eq!(
        gatekeeper.check(&blacklisted).await.unwrap_err().reason,
        "blacklisted"
    );
    let whitelisted = CallerFacts::peer(addr(WHITE_IN_CODE), false, None);
    assert_eq!(gatekeeper.check(&whitelisted).await, Ok(()));
    assert_eq!(policy.calls.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Rate limits

#[tokio::test]
async fn rate_limit_allows_a_burst_then_refuses_with_retry_after_and_spares_admins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("admins.txt"),
        addr(ADMIN_IN_FILE).to_string(),
    )
    .unwrap();
    let mut config = TrustConfig::new(Trust::Open, addr(OWN)).with_data_dir(dir.path());
    config.whitelist = vec![addr(WHITE_IN_CODE)];
    config.rate_limit = Some(RateLimit {
        per_minute: 1,
        burst: 3,
    });
    let gatekeeper = Gatekeeper::new(config).unwrap();

    let caller = CallerFacts::peer(addr(PEER), false, None);
    for _ in 0..3 {
        assert_eq!(gatekeeper.check(&caller).await, Ok(()));
    }
    let refusal = gatekeeper.check(&caller).await.unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::RateLimited);
    let retry_after = refusal.retry_after_secs.expect("retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(refusal.to_string().starts_with("rate limited: "));

    // Per caller: another identity has its own bucket.
    let other = CallerFacts::signed(addr(SIGNER), http(false), None);
    assert_eq!(gatekeeper.check(&other).await, Ok(()));

    // Whitelisted callers are limited too; admins are not.
    let whitelisted = CallerFacts::peer(addr(WHITE_IN_CODE), false, None);
    let mut limited = false;
    for _ in 0..4 {
        limited |= gatekeeper.check(&whitelisted).await.is_err();
    }
    assert!(limited, "whitelisted caller was not rate limited");
    for admin in [addr(OWN), addr(ADMIN_IN_FILE)] {
        for _ in 0..20 {
            assert_eq!(
                gatekeeper
                    .check(&CallerFacts::peer(admin, false, None))
                    .await,
                Ok(())
            );
        }
    }
}

#[tokio::test]
async fn anonymous_callers_are_limited_by_remote_host() {
    let mut config = TrustConfig::new(Trust::Open, addr(OWN));
    config.rate_limit = Some(RateLimit {
        per_minute: 1,
        burst: 2,
    });
    let gatekeeper = Gatekeeper::new(config).unwrap();
    let from = |address: &str| CallerFacts::anonymous_http(false, remote(address));
    assert_eq!(gatekeeper.check(&from("198.51.100.7:1000")).await, Ok(()));
    assert_eq!(gatekeeper.check(&from("198.51.100.7:2000")).await, Ok(()));
    // A third port on the same host is the same caller.
    assert_eq!(
        gatekeeper
            .check(&from("198.51.100.7:3000"))
            .await
            .unwrap_err()
            .kind,
        RefusalKind::RateLimited
    );
    assert_eq!(gatekeeper.check(&from("198.51.100.8:1000")).await, Ok(()));
}

#[test]
fn a_zero_rate_limit_is_a_configuration_error() {
    for (per_minute, burst) in [(0, 1), (1, 0)] {
        let mut config = TrustConfig::new(Trust::Open, addr(OWN));
        config.rate_limit = Some(RateLimit { per_minute, burst });
        assert!(matches!(
            Gatekeeper::new(config),
            Err(TrustError::InvalidRateLimit(_))
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing and configuration

#[test]
fn trust_parse_reads_levels_policy_files_and_policy_text() {
    for (text, name) in [
        ("open", "open"),
        ("CAREFUL", "careful"),
        (" Strict ", "strict"),
        ("only agents from my team", "policy"),
    ] {
        assert_eq!(Trust::parse(text).unwrap().name(), name, "{text}");
    }
    match Trust::parse("admit anyone who signs") {
        Ok(Trust::Policy(text)) => assert_eq!(text, "admit anyone who signs"),
        other => panic!("{other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.md");
    std::fs::write(&file, "\nOnly callers seen before.\n").unwrap();
    match Trust::parse(file.to_str().unwrap()) {
        Ok(Trust::Policy(text)) => assert_eq!(text, "Only callers seen before."),
        other => panic!("{other:?}"),
    }

    let empty = dir.path().join("empty.md");
    std::fs::write(&empty, " \n").unwrap();
    for bad in ["", "   ", empty.to_str().unwrap()] {
        assert!(
            matches!(Trust::parse(bad), Err(TrustError::EmptyPolicy)),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Trust::parse(dir.path().to_str().unwrap()),
        Err(TrustError::PolicyFile { .. })
    ));
    // Nothing the OS cannot look up is mistaken for a file, and nothing panics.
    for odd in ["a\0b", &"x".repeat(10_000), "/"] {
        let _ = Trust::parse(odd);
    }
}

#[test]
fn config_defaults_and_data_dir() {
    let config = TrustConfig::new(Trust::default(), addr(OWN)).with_data_dir(Path::new("/data"));
    assert_eq!(config.trust.name(), "careful");
    assert_eq!(config.policy_cache_ttl, Duration::from_secs(600));
    assert!(config.rate_limit.is_none() && config.judge.is_none());
    assert!(config.whitelist.is_empty() && config.blacklist.is_empty());
    assert_eq!(
        config.whitelist_file.as_deref(),
        Some(Path::new("/data/whitelist.txt"))
    );
    assert_eq!(
        config.blacklist_file.as_deref(),
        Some(Path::new("/data/blacklist.txt"))
    );
    assert_eq!(
        config.admins_file.as_deref(),
        Some(Path::new("/data/admins.txt"))
    );
}

#[test]
fn a_huge_cache_ttl_does_not_panic() {
    let mut config = TrustConfig::new(Trust::Policy("x".into()), addr(OWN));
    config.policy_cache_ttl = Duration::MAX;
    assert!(Gatekeeper::new(config).is_ok());
}

#[test]
fn gatekeeper_is_shareable_and_its_check_is_send() {
    fn assert_send_sync<T: Send + Sync + 'static>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}
    let gatekeeper = Gatekeeper::new(TrustConfig::new(Trust::Careful, addr(OWN))).unwrap();
    assert_send_sync(&gatekeeper);
    let facts = CallerFacts::in_process();
    assert_send(&gatekeeper.check(&facts));
}
