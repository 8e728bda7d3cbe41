//! Config file parsing: defaults, overrides, and errors that name the key.

use agenthost_relay::RelayArgs;
use agenthost_relay::RelayConfig;

fn err_key(text: &str) -> (String, String) {
    let err = RelayConfig::from_toml(text).expect_err("config should be rejected");
    (err.key().unwrap_or_default().to_string(), err.to_string())
}

#[test]
fn defaults_fit_long_agent_sessions() {
    let config = RelayConfig::from_toml("").expect("empty file = defaults");
    assert_eq!(config, RelayConfig::default());
    let l = &config.limits;
    assert_eq!(l.max_reservations, 10_000);
    assert_eq!(l.max_reservations_per_peer, 2);
    assert_eq!(l.reservation_duration_secs, 3600);
    assert_eq!(l.max_circuits, 4096);
    assert_eq!(l.max_circuits_per_peer, 64);
    assert_eq!(l.max_circuit_duration_secs, 86_400);
    assert_eq!(l.max_circuit_bytes, 0);
    assert!(l.reservation_rate_per_ip.is_none());
    let rate = l
        .reservation_rate_per_peer
        .expect("per-peer reservation rate");
    assert_eq!((rate.burst, rate.interval_secs), (10, 30));
    assert_eq!(config.listen.len(), 2);
    config.validate().expect("defaults are valid");
}

#[test]
fn full_file_parses() {
    let peer = libp2p::PeerId::random();
    let text = format!(
        r#"
        listen = ["/ip4/127.0.0.1/tcp/0"]
        announce = ["/dns4/relay.example.com/tcp/4001"]
        key_file = "/tmp/relay.key"
        metrics_addr = "127.0.0.1:0"

        [limits]
        max_circuit_bytes = 8589934592
        reservation_rate_per_ip = {{ burst = 100, interval_secs = 1 }}

        [access]
        trusted = ["{peer}"]
        reservation_deny = ["{peer}"]

        [directory]
        max_registrations = 50
        "#
    );
    let config = RelayConfig::from_toml(&text).expect("valid config");
    assert_eq!(config.limits.max_circuit_bytes, 8 << 30);
    assert_eq!(config.directory.max_registrations, 50);
    assert_eq!(config.access.trusted, vec![peer.to_string()]);
    let access = config.access.parse().expect("parsed access list");
    assert!(!access.reservation.permits(&peer));
}

#[test]
fn unknown_key_is_named() {
    let (key, msg) = err_key("[limits]\nmax_circuit = 5\n");
    assert!(key.starts_with("limits"), "{key}: {msg}");
    assert!(msg.contains("max_circuit"), "{msg}");
    let (_, msg) = err_key("listen_on = []\n");
    assert!(msg.contains("listen_on"), "{msg}");
}

#[test]
fn wrong_type_is_named() {
    let (key, msg) = err_key("[limits]\nmax_circuits = \"many\"\n");
    assert_eq!(key, "limits.max_circuits", "{msg}");
}

#[test]
fn zero_circuit_duration_is_refused() {
    let (key, msg) = err_key("[limits]\nmax_circuit_duration_secs = 0\n");
    assert_eq!(key, "limits.max_circuit_duration_secs", "{msg}");
}

#[test]
fn bad_rate_is_named() {
    let (key, _) = err_key("[limits]\ncircuit_rate_per_peer = { burst = 0, interval_secs = 1 }\n");
    assert_eq!(key, "limits.circuit_rate_per_peer.burst");
}

#[test]
fn bad_listen_address_is_named() {
    let (key, msg) = err_key("listen = [\"/ip4/0.0.0.0/tcp/1\", \"/dns4/x/tcp/1\"]\n");
    assert_eq!(key, "listen[1]", "{msg}");
    let (key, msg) = err_key("listen = [\"not an address\"]\n");
    assert!(key.starts_with("listen"), "{key}: {msg}");
    assert!(msg.contains("not an address"), "{msg}");
}

#[test]
fn bad_access_entry_is_named() {
    let (key, _) = err_key("[access]\ntrusted = [\"bob\"]\n");
    assert_eq!(key, "access.trusted[0]");
}

#[test]
fn bad_metrics_addr_is_named() {
    let (key, _) = err_key("metrics_addr = \"localhost\"\n");
    assert_eq!(key, "metrics_addr");
}

#[test]
fn syntax_error_is_reported() {
    let err = RelayConfig::from_toml("listen = [").expect_err("syntax error");
    assert!(err.to_string().contains("line"), "{err}");
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("relay.toml");
    std::fs::write(
        &file,
        "listen = [\"/ip4/0.0.0.0/tcp/4001\"]\nkey_file = \"a.key\"\n[limits]\nmax_circuits = 7\n",
    )
    .expect("write config");
    let args = RelayArgs {
        config: Some(file),
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("multiaddr")],
        key_file: Some("b.key".into()),
        ..RelayArgs::default()
    };
    let config = args.to_config().expect("config");
    assert_eq!(config.listen, args.listen);
    assert_eq!(config.key_file, std::path::PathBuf::from("b.key"));
    assert_eq!(config.limits.max_circuits, 7);
}

#[test]
fn missing_file_is_an_error() {
    let err = RelayConfig::load("/nonexistent/relay.toml").expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/relay.toml"), "{err}");
}

#[test]
fn example_config_parses() {
    let text = include_str!("../relay.example.toml");
    let config = RelayConfig::from_toml(text).expect("example config is valid");
    let defaults = RelayConfig::default();
    // Everything but the illustrative announce and peer addresses is the default.
    assert_eq!(config.peers.len(), 1);
    assert_eq!(
        RelayConfig {
            announce: Vec::new(),
            peers: Vec::new(),
            ..config
        },
        defaults
    );
}

#[test]
fn a_peer_without_its_peer_id_is_named() {
    let (key, reason) = err_key("peers = [\"/ip4/127.0.0.1/tcp/4001\"]");
    assert_eq!(key, "peers[0]");
    assert!(reason.contains("/p2p/"), "{reason}");
}

#[test]
fn defaults_round_trip_through_toml() {
    let text = toml::to_string(&RelayConfig::default()).expect("serialize");
    assert_eq!(
        RelayConfig::from_toml(&text).expect("parse"),
        RelayConfig::default()
    );
}

#[test]
fn metrics_can_be_turned_off() {
    let config = RelayConfig::from_toml("metrics_addr = \"off\"\n").expect("valid");
    assert_eq!(config.metrics_addr, None);
    let args = RelayArgs {
        metrics_addr: Some(agenthost_relay::MetricsAddr(None)),
        ..RelayArgs::default()
    };
    assert_eq!(args.to_config().expect("config").metrics_addr, None);
}
