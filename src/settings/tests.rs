//! The settings read from each place, their precedence and their errors.

use super::*;

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn each_place_overrides_the_one_below_and_is_named_as_the_source() {
    let mut s = Settings::default();
    s.read_toml(
        "port = 9000\nworkers = 4\nqueue = 7\nresult_ttl = \"2h\"\n",
        Path::new("agenthost.toml"),
    )
    .unwrap();
    s.read_env(env(&[("AGENTHOST_WORKERS", "8"), ("AGENTHOST_QUEUE", "9")]))
        .unwrap();
    s.set("queue", Raw::Text("10"), Source::Flag).unwrap();

    assert_eq!(s.port, 9000);
    assert_eq!(s.source("port"), Source::File("agenthost.toml".into()));
    assert_eq!(s.workers, 8);
    assert_eq!(s.source("workers"), Source::Env("AGENTHOST_WORKERS"));
    assert_eq!(s.queue, 10);
    assert_eq!(s.source("queue"), Source::Flag);
    assert_eq!(s.result_ttl, Duration::from_secs(7200));
    assert_eq!(s.source("mdns"), Source::Default);
    let lines = s.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("port ") && l.ends_with("= 9000  (file agenthost.toml)")),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("queue ") && l.ends_with("= 10  (flag)")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("workers ") && l.ends_with("(env AGENTHOST_WORKERS)")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("mdns ") && l.ends_with("= true  (default)")));
    assert_eq!(lines.len(), KEYS.len());
}

#[test]
fn bad_values_and_unknown_keys_name_the_key_and_the_place() {
    let mut s = Settings::default();
    let e = s
        .read_toml("prot = 9000\n", Path::new("a.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown key `prot`") && e.contains("a.toml"),
        "{e}"
    );
    let e = s
        .read_toml("port = \"eighty\"\n", Path::new("a.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("file a.toml: port: expected a port number"),
        "{e}"
    );
    let e = s
        .read_env(env(&[("AGENTHOST_PORT", "70000")]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("env AGENTHOST_PORT: port:"), "{e}");
    let e = s
        .set("mdns", Raw::Text("maybe"), Source::Flag)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "flag: mdns: expected true or false, got \"maybe\"");
    for (key, value) in [
        ("workers", "0"),
        ("result_ttl", "soon"),
        ("relays", "/ip4/1.2.3.4/tcp/1"),
        ("whitelist", "0x12"),
        ("listen", "not-a-multiaddr"),
        ("log_format", "xml"),
        ("max_file_size", "-1"),
        ("http_bind", "localhost:80"),
    ] {
        let e = s.set(key, Raw::Text(value), Source::Flag).unwrap_err();
        assert!(e.to_string().starts_with(&format!("flag: {key}: ")), "{e}");
    }
}

#[test]
fn lists_come_as_arrays_or_comma_separated_and_none_clears_relays() {
    let relay = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    let mut s = Settings::default();
    s.read_toml(
        &format!("relays = [\"{relay}\"]\nrate_limit = 60\n"),
        Path::new("f.toml"),
    )
    .unwrap();
    assert_eq!(s.relays.len(), 1);
    assert_eq!(s.rate_limit, Some(60));
    s.set("relays", Raw::Text("none"), Source::Env("AGENTHOST_RELAYS"))
        .unwrap();
    assert!(s.relays.is_empty());
    s.set(
        "relays",
        Raw::Text(&format!("{relay}, {relay}")),
        Source::Flag,
    )
    .unwrap();
    assert_eq!(s.relays.len(), 2);
    s.set("grace_period", Raw::Text("1.5"), Source::Flag)
        .unwrap();
    assert_eq!(s.grace_period, Duration::from_millis(1500));
    assert_eq!(s.display("grace_period"), "1.5");
    s.set("trust", Raw::Text("strict"), Source::Flag).unwrap();
    assert_eq!(s.display("trust"), "\"strict\"");
}
