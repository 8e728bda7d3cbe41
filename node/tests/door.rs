//! The dispatcher is the agent's one door: a table of every trust level × caller kind, through
//! `AgentService::call`, with the expected admission or error kind.

use std::sync::{Arc, RwLock};

use agenthost_identity::{now_secs, AgentKey, SignedEnvelope};
use agenthost_node::{
    agent_fn,
    inputs::InputLimits,
    store::SessionStore,
    trust::{Arrival, Gatekeeper, Trust, TrustConfig},
    AgentService, Caller, Dispatcher, DispatcherConfig, Frame, HostIdentity, Input, InputRequest,
    Request, WorkerLimits,
};
use serde_json::{json, Value};

/// The keys of one scenario: the agent, a known peer, a whitelisted and a blacklisted one.
struct Keys {
    agent: AgentKey,
    peer: AgentKey,
    listed: AgentKey,
    banned: AgentKey,
}

impl Keys {
    fn new() -> Self {
        Keys {
            agent: AgentKey::generate(),
            peer: AgentKey::generate(),
            listed: AgentKey::generate(),
            banned: AgentKey::generate(),
        }
    }
}

fn door(level: Trust, keys: &Keys, dir: &std::path::Path) -> Arc<dyn AgentService> {
    let mut trust = TrustConfig::new(level, keys.agent.address()).with_data_dir(dir);
    trust.whitelist = vec![keys.listed.address()];
    trust.blacklist = vec![keys.banned.address()];
    let store = SessionStore::open(&dir.join("sessions.db"), std::time::Duration::from_secs(60))
        .expect("store opens");
    let echo = agent_fn("echo", |input: Input| async move { Ok(input.prompt) });
    Arc::new(Dispatcher::new(
        echo,
        DispatcherConfig {
            identity: HostIdentity {
                address: keys.agent.address(),
                peer_id: keys.agent.peer_id(),
            },
            limits: WorkerLimits::default(),
            listen_addrs: Arc::new(RwLock::new(Vec::new())),
            relays: Default::default(),
            gatekeeper: Arc::new(Gatekeeper::new(trust).expect("trust config")),
            store,
            input_limits: InputLimits::default(),
            data_dir: dir.to_owned(),
        },
    ))
}

fn loopback() -> Caller {
    Caller::anonymous(Arrival::Http { loopback: true }, Some("127.0.0.1".into()))
}

fn remote() -> Caller {
    Caller::anonymous(
        Arrival::Http { loopback: false },
        Some("203.0.113.7".into()),
    )
}

fn peer(key: &AgentKey) -> Caller {
    Caller::peer(key.peer_id(), false, None)
}

fn plain(prompt: &str) -> InputRequest {
    InputRequest {
        prompt: Some(prompt.into()),
        ..InputRequest::default()
    }
}

fn signed(payload: Value, key: &AgentKey) -> InputRequest {
    let envelope = SignedEnvelope::sign(payload, key);
    InputRequest {
        payload: Some(envelope.payload),
        from: Some(envelope.from),
        signature: Some(envelope.signature),
        ..InputRequest::default()
    }
}

fn payload(timestamp: f64, to: Option<String>) -> Value {
    let mut p = json!({"prompt": "hello", "timestamp": timestamp as i64});
    if let Some(to) = to {
        p["to"] = json!(to);
    }
    p
}

/// The terminal frame's outcome: "admit" or the error code.
async fn outcome(service: &dyn AgentService, request: InputRequest, caller: Caller) -> String {
    match service
        .call(Request::Input(request), caller)
        .terminal()
        .await
    {
        Frame::Output(out) => {
            assert_eq!(out.result, "hello");
            "admit".into()
        }
        Frame::Error(e) => e.code.unwrap_or_default(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn every_level_and_caller_kind_gets_the_expected_answer() {
    type Case = (&'static str, [&'static str; 3]);
    //            caller kind                 open            careful         strict
    let table: Vec<Case> = vec![
        ("anonymous loopback", ["admit", "admit", "unauthorized"]),
        (
            "anonymous remote",
            ["admit", "unauthorized", "unauthorized"],
        ),
        ("libp2p peer", ["admit", "admit", "forbidden"]),
        ("signed envelope", ["admit", "admit", "forbidden"]),
        ("signed without to", ["admit", "admit", "unauthorized"]),
        ("expired", ["unauthorized", "unauthorized", "unauthorized"]),
        (
            "wrong recipient",
            ["unauthorized", "unauthorized", "unauthorized"],
        ),
        ("replayed", ["unauthorized", "unauthorized", "unauthorized"]),
        (
            "bad signature",
            ["unauthorized", "unauthorized", "unauthorized"],
        ),
        ("blacklisted peer", ["forbidden", "forbidden", "forbidden"]),
        (
            "blacklisted signer",
            ["forbidden", "forbidden", "forbidden"],
        ),
        ("whitelisted peer", ["admit", "admit", "admit"]),
        ("whitelisted signer", ["admit", "admit", "admit"]),
        ("admin (own key)", ["admit", "admit", "admit"]),
    ];
    let mut failures = Vec::new();
    for (level_index, level) in ["open", "careful", "strict"].into_iter().enumerate() {
        let keys = Keys::new();
        let dir = tempfile::tempdir().unwrap();
        let service = door(Trust::parse(level).unwrap(), &keys, dir.path());
        let to = Some(keys.agent.address().to_string());
        let now = now_secs();
        for (kind, expected) in &table {
            let got = match *kind {
                "anonymous loopback" => outcome(&*service, plain("hello"), loopback()).await,
                "anonymous remote" => outcome(&*service, plain("hello"), remote()).await,
                "libp2p peer" => outcome(&*service, plain("hello"), peer(&keys.peer)).await,
                "signed envelope" => {
                    let request = signed(payload(now, to.clone()), &keys.peer);
                    outcome(&*service, request, remote()).await
                }
                "signed without to" => {
                    let request = signed(payload(now, None), &keys.peer);
                    outcome(&*service, request, remote()).await
                }
                "expired" => {
                    let request = signed(payload(now - 1_000.0, to.clone()), &keys.peer);
                    outcome(&*service, request, remote()).await
                }
                "wrong recipient" => {
                    let other = Some(AgentKey::generate().address().to_string());
                    let request = signed(payload(now, other), &keys.peer);
                    outcome(&*service, request, remote()).await
                }
                "replayed" => {
                    let request = signed(payload(now, to.clone()), &keys.listed);
                    let first = outcome(&*service, request.clone(), remote()).await;
                    assert_eq!(first, "admit", "{level}: the first use is admitted");
                    outcome(&*service, request, remote()).await
                }
                "bad signature" => {
                    let mut request = signed(payload(now, to.clone()), &keys.peer);
                    request.payload.as_mut().unwrap()["prompt"] = json!("tampered");
                    outcome(&*service, request, remote()).await
                }
                "blacklisted peer" => outcome(&*service, plain("hello"), peer(&keys.banned)).await,
                "blacklisted signer" => {
                    let request = signed(payload(now, to.clone()), &keys.banned);
                    outcome(&*service, request, remote()).await
                }
                "whitelisted peer" => outcome(&*service, plain("hello"), peer(&keys.listed)).await,
                "whitelisted signer" => {
                    // Not the "replayed" envelope: ed25519 signatures are deterministic.
                    let request = signed(payload(now - 1.0, to.clone()), &keys.listed);
                    outcome(&*service, request, remote()).await
                }
                "admin (own key)" => outcome(&*service, plain("hello"), peer(&keys.agent)).await,
                other => unreachable!("{other}"),
            };
            if got != expected[level_index] {
                failures.push(format!(
                    "{level} × {kind}: expected {}, got {got}",
                    expected[level_index]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_refusal_says_why_in_wire_terms() {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    let service = door(Trust::Careful, &keys, dir.path());
    let reply = service.call(Request::Input(plain("x")), peer(&keys.banned));
    match reply.terminal().await {
        Frame::Error(e) => assert_eq!(e.message, "forbidden: blacklisted"),
        other => panic!("{other:?}"),
    }
    let expired = signed(payload(now_secs() - 1_000.0, None), &keys.peer);
    match service
        .call(Request::Input(expired), remote())
        .terminal()
        .await
    {
        Frame::Error(e) => assert_eq!(e.message, "signature expired"),
        other => panic!("{other:?}"),
    }
}
