//! `deploy/` checked with real tools: the compose file parsed by docker-compose and its three
//! services' scripts run for real on loopback; the systemd units through `systemd-analyze
//! verify` and `security`; the nginx config serving TLS in front of a real agent (POST /input
//! and a WebSocket turn); the Caddyfile through `caddy validate`; and the Dockerfile's
//! structure (there is no Docker daemon in CI to build it).
//!
//! A missing tool prints `SKIPPED <reason>` and passes, unless
//! `AGENTHOST_REQUIRE_DEPLOY_TOOLS=1` (set by `.ci/run`, which installs them): then it fails.

// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};

use agenthost_integration_tests::{agenthost_bin, relay_tcp_addr, HostProcess, ServiceProcess};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `name` on PATH, or in the sbin folders (nginx is in /usr/sbin, often not on a user's PATH).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The tool, or `None` after printing `SKIPPED` (a failure under
/// `AGENTHOST_REQUIRE_DEPLOY_TOOLS=1`).
fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = find_tool(name);
    if found.is_none() {
        skip(&format!("{test}: `{name}` is not installed"));
    }
    found
}

fn skip(reason: &str) {
    let required = std::env::var_os("AGENTHOST_REQUIRE_DEPLOY_TOOLS").is_some_and(|v| v == "1");
    assert!(!required, "AGENTHOST_REQUIRE_DEPLOY_TOOLS=1 but {reason}");
    println!("SKIPPED {reason}");
}

fn run(command: &mut Command) -> (bool, String) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

// ---------------------------------------------------------------------------------------------
// docker-compose

/// `docker-compose config` of deploy/docker-compose.yml (the file as compose resolves it), as
/// JSON; `None` when the tools are missing.
fn compose_config() -> Option<Value> {
    let compose = tool("docker-compose", "compose file")?;
    let python = tool("python3", "compose file")?;
    let (ok, text) = run(Command::new(compose)
        .args(["-f", "deploy/docker-compose.yml", "config"])
        .env_remove("RELAY_ANNOUNCE")
        .current_dir(repo()));
    assert!(ok, "docker-compose config failed:\n{text}");
    assert!(
        !text.contains("WARNING"),
        "docker-compose config warns:\n{text}"
    );
    // docker-compose 1.x prints YAML only; its own YAML library (python3-yaml) turns it to JSON.
    let mut child = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 yaml: {out:?}");
    Some(serde_json::from_slice(&out.stdout).expect("compose config as JSON"))
}

fn seconds(duration: &Value) -> u64 {
    let text = duration
        .as_str()
        .unwrap_or_else(|| panic!("a duration: {duration}"));
    let number = text
        .strip_suffix('s')
        .unwrap_or_else(|| panic!("{text}: seconds"));
    number.parse().unwrap_or_else(|_| panic!("{text}: seconds"))
}

#[test]
fn compose_file_is_valid_and_wires_a_relay_an_agent_and_a_gateway() {
    let Some(config) = compose_config() else {
        return;
    };
    let services = &config["services"];
    for name in ["relay", "agent", "gateway"] {
        let service = &services[name];
        assert_eq!(service["image"], "agenthost:latest", "{name}");
        assert_eq!(service["restart"], "unless-stopped", "{name}");
        let test = service["healthcheck"]["test"].as_array().expect(name);
        assert_eq!(
            test[..3],
            [json!("CMD"), json!("agenthost"), json!("health")],
            "{name}"
        );
        assert!(seconds(&service["stop_grace_period"]) >= 10, "{name}");
        assert_eq!(
            service["entrypoint"],
            json!(["tini", "--", "/bin/sh", "-ec"]),
            "{name}: tini stays PID 1, the script execs agenthost"
        );
    }
    // Compose must wait longer than the host's grace period before SIGKILL.
    let grace: u64 = services["agent"]["environment"]["AGENTHOST_GRACE_PERIOD"]
        .as_str()
        .expect("the agent's AGENTHOST_GRACE_PERIOD")
        .parse()
        .unwrap();
    assert!(seconds(&services["agent"]["stop_grace_period"]) > grace);
    assert_eq!(
        services["relay"]["build"]["dockerfile"],
        "deploy/Dockerfile"
    );
    for name in ["agent", "gateway"] {
        assert_eq!(
            services[name]["depends_on"]["relay"]["condition"], "service_healthy",
            "{name} reads the relay's PeerId, published before the relay is healthy"
        );
        assert!(services[name]["volumes"]
            .as_array()
            .unwrap()
            .contains(&json!("relay-id:/run/relay:ro")));
    }
    let volumes: Vec<&String> = config["volumes"].as_object().unwrap().keys().collect();
    assert_eq!(
        volumes,
        ["agent-data", "gateway-data", "relay-data", "relay-id"]
    );
    assert_eq!(
        services["relay"]["volumes"],
        json!(["relay-data:/data:rw", "relay-id:/run/agenthost:rw"])
    );
    assert_eq!(services["agent"]["volumes"][0], "agent-data:/data:rw");
    // Published ports as (published, target, protocol), however this compose spells them.
    let ports = |name: &str| -> Vec<(String, String, String)> {
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        services[name]["ports"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: ports"))
            .iter()
            .map(|p| {
                let protocol = p.get("protocol").map_or("tcp".into(), text);
                (text(&p["published"]), text(&p["target"]), protocol)
            })
            .collect()
    };
    let port = |published: &str, protocol: &str| {
        (
            published.to_owned(),
            published.to_owned(),
            protocol.to_owned(),
        )
    };
    assert_eq!(ports("relay"), [port("4001", "tcp"), port("4001", "udp")]);
    assert_eq!(ports("gateway"), [port("8080", "tcp")]);
    assert!(
        services["agent"].get("ports").is_none(),
        "the agent is reached through the relay"
    );
}

/// What a container sees, mapped onto this machine: the service's script with its volumes under
/// `dir`, the `relay` host name at the relay's real address, and the fixed ports freed.
struct Localized {
    dir: PathBuf,
    bin: String,
    relay_tcp: String,
    metrics: String,
}

impl Localized {
    fn script(&self, service: &str, script: &str) -> String {
        let dir = self.dir.display();
        let replacements = [
            ("/run/agenthost", format!("{dir}/relay-id")),
            ("/run/relay", format!("{dir}/relay-id")),
            ("/data", format!("{dir}/{service}")),
            ("/dns4/relay/tcp/4001", self.relay_tcp.clone()),
            ("/ip4/0.0.0.0/tcp/4001", "/ip4/127.0.0.1/tcp/0".into()),
            ("/ip4/0.0.0.0/udp/4001", "/ip4/127.0.0.1/udp/0".into()),
            ("0.0.0.0:9464", self.metrics.clone()),
            ("--port 8000", "--port 0 --http-bind 127.0.0.1".into()),
            ("--port 8080", "--port 0 --http-bind 127.0.0.1".into()),
            ("agenthost keys", format!("{} keys", self.bin)),
            ("agenthost relay", format!("{} relay", self.bin)),
            ("agenthost host", format!("{} host", self.bin)),
            ("agenthost gateway", format!("{} gateway", self.bin)),
        ];
        let mut local = script.replace("$$", "$");
        for (from, to) in replacements {
            local = local.replace(from, &to);
        }
        // Nothing of the container may be left: the script must not touch this machine's /data.
        for container_only in [
            "/data", "/run/", "/dns4/", "0.0.0.0", "4001", "9464", "8000", "8080",
        ] {
            assert!(
                !local
                    .replace(&self.bin, "")
                    .replace(&*dir.to_string(), "")
                    .contains(container_only),
                "{service}: `{container_only}` left in the localized script:\n{local}"
            );
        }
        local
    }
}

fn start_script(
    config: &Value,
    service: &str,
    local: &Localized,
    ready: fn(&str) -> bool,
) -> ServiceProcess {
    let entrypoint = config["services"][service]["entrypoint"]
        .as_array()
        .unwrap();
    let command = config["services"][service]["command"].as_array().unwrap();
    assert_eq!(entrypoint[..2], [json!("tini"), json!("--")]);
    assert_eq!(command.len(), 1, "{service}: one script");
    let script = local.script(service, command[0].as_str().unwrap());
    let mut shell = Command::new(entrypoint[2].as_str().unwrap());
    shell
        .args(entrypoint[3..].iter().map(|a| a.as_str().unwrap()))
        .arg(script)
        .current_dir(&local.dir);
    if let Some(environment) = config["services"][service]["environment"].as_object() {
        for (key, value) in environment {
            shell.env(key, value.as_str().unwrap_or_default());
        }
    }
    ServiceProcess::spawn(&mut shell, ready)
}

/// The http line of a banner: `http: http://127.0.0.1:PORT (bound to …)`.
fn banner_http(service: &ServiceProcess) -> String {
    let line = service.value("http: ").expect("an http: line");
    line.split_whitespace().next().unwrap().to_owned()
}

fn run_healthcheck(config: &Value, service: &str, base: &str) -> (bool, String) {
    let test = config["services"][service]["healthcheck"]["test"]
        .as_array()
        .unwrap();
    let mut args: Vec<String> = test[2..]
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let url = args.last_mut().unwrap();
    let path = url
        .find("/health")
        .map(|i| url[i..].to_owned())
        .expect("a /health URL");
    *url = format!("{base}{path}");
    run(Command::new(agenthost_bin()).args(&args))
}

/// The three services' own scripts, run as they are in the containers (volumes mapped to temp
/// folders, the relay's host name to its loopback address, fixed ports to free ones): the relay
/// publishes its PeerId, the agent and the gateway build the relay's multiaddr from it, the
/// agent reserves on the relay, and a request through the gateway reaches the agent. Then every
/// service's healthcheck command is run against it.
#[test]
fn compose_scripts_run_for_real_and_a_request_crosses_the_gateway_and_the_relay() {
    let Some(config) = compose_config() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut local = Localized {
        dir: dir.path().to_path_buf(),
        bin: agenthost_bin().display().to_string(),
        relay_tcp: String::new(),
        metrics: metrics.clone(),
    };
    std::fs::create_dir(dir.path().join("relay-id")).unwrap();

    let mut relay = start_script(&config, "relay", &local, |l| relay_tcp_addr(l).is_some());
    let relay_addr = relay.banner.iter().find_map(|l| relay_tcp_addr(l)).unwrap();
    let published = std::fs::read_to_string(dir.path().join("relay-id/relay.peer_id")).unwrap();
    let published = published.trim();
    assert!(
        relay_addr.ends_with(&format!("/p2p/{published}")),
        "{relay_addr} vs {published}"
    );
    local.relay_tcp = relay_addr.split("/p2p/").next().unwrap().to_owned();

    let agent = start_script(&config, "agent", &local, |l| {
        l.starts_with("Waiting for requests")
    });
    let address = agent.value("address: ").expect("the agent's address");
    let gateway = start_script(&config, "gateway", &local, |l| {
        l.starts_with("Waiting for requests")
    });
    let relay_line = format!("relay: {relay_addr}");
    assert!(gateway.banner.contains(&relay_line), "{:?}", gateway.banner);
    let gateway_url = banner_http(&gateway);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body = runtime.block_on(async {
        let client = reqwest::Client::new();
        // The reservation is made in the background: retry until it is in place.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = client
                .post(format!("{gateway_url}/agents/{address}/input"))
                .json(&json!({"prompt": "hello through compose"}))
                .send()
                .await
                .expect("POST through the gateway");
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            if status.is_success() || Instant::now() > deadline {
                assert!(status.is_success(), "{status}: {body}");
                break body;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert_eq!(body["result"], "echo: hello through compose");

    for (service, base) in [
        ("relay", format!("http://{metrics}")),
        ("agent", banner_http(&agent)),
        ("gateway", gateway_url.clone()),
    ] {
        let (ok, text) = run_healthcheck(&config, service, &base);
        assert!(ok, "{service} healthcheck against {base}: {text}");
    }
    // ...and it fails when the service is gone.
    relay.kill();
    let (ok, _) = run_healthcheck(&config, "relay", &format!("http://{metrics}"));
    assert!(!ok, "the relay's healthcheck passes with no relay");

    // A restarted relay keeps its key, so the PeerId the others were given stays right.
    let relay = start_script(&config, "relay", &local, |l| relay_tcp_addr(l).is_some());
    let again = relay.banner.iter().find_map(|l| relay_tcp_addr(l)).unwrap();
    assert!(again.ends_with(&format!("/p2p/{published}")), "{again}");
}

// ---------------------------------------------------------------------------------------------
// systemd

const UNITS: [&str; 3] = [
    "agenthost.service",
    "agenthost-relay.service",
    "agenthost-gateway.service",
];

/// The units in a temp folder, their ExecStart pointed at the real built binary
/// (`systemd-analyze verify` checks that it exists and is executable).
fn units_with_real_binary() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        let text = read(&format!("deploy/systemd/{unit}"));
        assert_eq!(
            text.matches("ExecStart=/usr/local/bin/agenthost ").count(),
            1,
            "{unit}: one ExecStart of /usr/local/bin/agenthost"
        );
        let text = text.replace(
            "/usr/local/bin/agenthost",
            &agenthost_bin().display().to_string(),
        );
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    dir
}

/// A unit's ExecStart arguments after `/usr/local/bin/agenthost`, `$VARS` expanded from its
/// `Environment=` lines as systemd does with no env file (an unset one vanishes), and those
/// variables.
fn unit_command(unit: &str) -> (Vec<String>, Vec<(String, String)>) {
    let env: Vec<(String, String)> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|l| {
            let (k, v) = l.trim_matches('"').split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect();
    let args = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/agenthost "))
        .expect("ExecStart")
        .split_whitespace()
        .flat_map(|word| match word.strip_prefix('$') {
            Some(var) => env
                .iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            None => vec![word.to_owned()],
        })
        .collect();
    (args, env)
}

#[test]
fn systemd_units_pass_systemd_analyze_verify_and_security() {
    let Some(analyze) = tool("systemd-analyze", "systemd units") else {
        return;
    };
    let dir = units_with_real_binary();
    let paths: Vec<PathBuf> = UNITS.iter().map(|u| dir.path().join(u)).collect();
    let (ok, text) = run(Command::new(&analyze)
        .arg("verify")
        .args(&paths)
        .current_dir(dir.path()));
    // Unknown keys and bad values are only warnings (exit 0): any line about our units fails.
    let about_ours: Vec<&str> = text
        .lines()
        .filter(|line| UNITS.iter().any(|u| line.contains(u)))
        .collect();
    assert!(
        ok && about_ours.is_empty(),
        "systemd-analyze verify:\n{text}"
    );

    for (unit, path) in UNITS.iter().zip(&paths) {
        let text = read(&format!("deploy/systemd/{unit}"));
        for needed in [
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "Restart=on-failure",
            "EnvironmentFile=-/etc/agenthost/",
        ] {
            assert!(text.contains(needed), "{unit}: {needed}");
        }
        let state = text
            .lines()
            .find_map(|l| l.strip_prefix("StateDirectory="))
            .unwrap_or_else(|| panic!("{unit}: StateDirectory="));
        assert!(
            text.contains(&format!("WorkingDirectory=/var/lib/{state}\n")),
            "{unit}: works in its state folder"
        );
        // Exposure 2.0 or less ("OK"): the sandboxing above is in force, as systemd scores it.
        let (ok, report) = run(Command::new(&analyze)
            .args(["security", "--offline=true", "--threshold=20"])
            .arg(path)
            .current_dir(dir.path()));
        assert!(ok, "{unit}: exposure above 2.0:\n{report}");
    }
    // systemd must wait longer than the host's grace period before SIGKILL.
    let agent = read("deploy/systemd/agenthost.service");
    let stop: u64 = agent
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec")
        .parse()
        .unwrap();
    assert!(agent.contains("EnvironmentFile=-/etc/agenthost/agent.env"));
    // The agent's settings with the unit's defaults (no env file): data in the state folder,
    // a grace period shorter than TimeoutStopSec.
    let (args, env) = unit_command(&agent);
    assert_eq!(args[0], "host");
    let (ok, settings) = run(Command::new(agenthost_bin())
        .arg("config")
        .args(&args[1..])
        .env_clear()
        .envs(env)
        .current_dir(dir.path()));
    assert!(ok, "{settings}");
    let data_dir = r#"data_dir              = "/var/lib/agenthost"  (env AGENTHOST_DATA_DIR)"#;
    assert!(settings.lines().any(|l| l == data_dir), "{settings}");
    let grace: u64 = settings
        .lines()
        .find_map(|l| l.strip_prefix("grace_period          = "))
        .and_then(|v| v.split_whitespace().next())
        .expect("grace_period")
        .parse()
        .unwrap();
    assert!(stop > grace, "TimeoutStopSec={stop}, grace period {grace}");
}

/// The ExecStart lines, with their default Environment= (what runs with no env file), parse.
#[test]
fn systemd_units_default_command_lines_are_accepted_by_agenthost() {
    for unit in UNITS {
        let text = read(&format!("deploy/systemd/{unit}"));
        let (mut exec, _) = unit_command(&text);
        // `--help` after the subcommand's arguments: clap parses them all, then prints help.
        exec.push("--help".into());
        let (ok, text) = run(Command::new(agenthost_bin()).args(&exec));
        assert!(ok, "{unit}: agenthost {exec:?}:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// nginx

struct Nginx {
    child: Child,
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master then stops its workers and waits for them before it
    /// exits; a killed master would leave its workers running, holding the ports.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// deploy/nginx/agenthost.conf made to run here: listening on loopback ports, the test's
/// certificate, the agent's real port. Every placeholder must be found, so an edit of the
/// config that this adaptation does not cover fails the test instead of testing less.
fn adapt_nginx_conf(upstream_port: u16, https: u16, http: u16, cert: &Path, key: &Path) -> String {
    let mut conf = read("deploy/nginx/agenthost.conf");
    let edits = [
        (
            "server 127.0.0.1:8000;",
            format!("server 127.0.0.1:{upstream_port};"),
        ),
        ("    listen [::]:443 ssl;\n", String::new()),
        ("    listen [::]:80;\n", String::new()),
        ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        (
            "/etc/letsencrypt/live/agent.example.com/fullchain.pem",
            cert.display().to_string(),
        ),
        (
            "/etc/letsencrypt/live/agent.example.com/privkey.pem",
            key.display().to_string(),
        ),
    ];
    for (from, to) in edits {
        assert_eq!(
            conf.matches(from).count(),
            1,
            "`{from}` in deploy/nginx/agenthost.conf"
        );
        conf = conf.replace(from, &to);
    }
    conf
}

fn start_nginx(nginx: &Path, prefix: &Path, site: &str) -> Nginx {
    use std::os::unix::fs::PermissionsExt;
    // Run as root, nginx's workers are `nobody`: they need to reach the temp folders.
    std::fs::set_permissions(prefix, std::fs::Permissions::from_mode(0o755)).unwrap();
    for temp in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let path = prefix.join(temp);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::write(prefix.join("agenthost.conf"), site).unwrap();
    let p = prefix.display();
    let main = format!(
        "daemon off;\npid {p}/nginx.pid;\nerror_log stderr notice;\nworker_processes 1;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  \
         fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  \
         include {p}/agenthost.conf;\n}}\n"
    );
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let (ok, text) = run(Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf));
    assert!(ok, "nginx -t:\n{text}");
    let mut child = Command::new(nginx)
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning nginx");
    // The sockets are bound before the workers start: wait for nginx to say so.
    let stderr = child.stderr.take().unwrap();
    // A child's output lines, a handful per test: no bound needed.
    #[allow(clippy::disallowed_methods)]
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let nginx = Nginx { child };
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("nginx started no worker: {seen:?}"));
        if line.contains("start worker process") {
            return nginx;
        }
        seen.push(line);
    }
}

/// A self-signed certificate for `localhost` (not a CA: webpki refuses CA certs as leaves);
/// returns the PEM certificate, its key, and the DER certificate that the clients trust.
fn self_signed_cert(openssl: &Path, dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let (cert, key, der) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert.der"),
    );
    let (ok, text) = run(Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(ok, "openssl req:\n{text}");
    let (ok, text) = run(Command::new(openssl)
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&der));
    assert!(ok, "openssl x509:\n{text}");
    let der = std::fs::read(der).unwrap();
    (cert, key, der)
}

type TlsSocket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// `wss://localhost:PORT/ws`, trusting only `cert`.
async fn open_wss(port: u16, cert: &[u8]) -> TlsSocket {
    use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert.to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS with nginx");
    tokio_tungstenite::client_async(format!("wss://localhost:{port}/ws"), stream)
        .await
        .expect("WebSocket upgrade through nginx")
        .0
}

/// The strongest check of the proxy config: real nginx with deploy/nginx/agenthost.conf (TLS
/// with the test's certificate) in front of a real `agenthost host --demo`, and clients that
/// verify the certificate: POST /input (with a body above nginx's default 1 MB limit), a
/// WebSocket turn on /ws, and the plain-HTTP redirect.
#[test]
fn nginx_config_serves_input_and_websocket_over_tls_in_front_of_a_real_agent() {
    let Some(nginx) = tool("nginx", "nginx config") else {
        return;
    };
    let Some(openssl) = tool("openssl", "nginx config") else {
        return;
    };
    let prefix = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed_cert(&openssl, prefix.path());
    let host = HostProcess::start(&["--demo", "--no-mdns", "--ws-ping-interval", "0.5"]);
    let upstream: u16 = host
        .http
        .as_ref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (https, http) = (free_port(), free_port());
    let site = adapt_nginx_conf(upstream, https, http, &cert, &key);
    let _nginx = start_nginx(&nginx, prefix.path(), &site);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_der(&der).unwrap()])
            .resolve("localhost", ([127, 0, 0, 1], https).into())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = format!("https://localhost:{https}");

        let response = client
            .post(format!("{base}/input"))
            .json(&json!({"prompt": "hello through nginx"}))
            .send()
            .await
            .expect("POST /input through nginx");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["result"], "echo: hello through nginx");

        // 2 MB: nginx's default client_max_body_size (1 MB) would answer 413.
        let big = "x".repeat(2_000_000);
        let response = client
            .post(format!("{base}/input"))
            .json(&json!({ "prompt": big }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "a 2 MB body through nginx");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["result"].as_str().unwrap().len(),
            "echo: ".len() + big.len()
        );

        let get = |path: &str| {
            let request = client.get(format!("{base}{path}"));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let health = get("/health").await;
        assert_eq!(health["status"], "healthy");
        // Host and X-Forwarded-Proto reach the gateway: it names itself as the client sees it.
        let info = get("/info").await;
        assert_eq!(info["endpoints"], json!([base]), "{info}");

        // A WebSocket turn: the upgrade passes, chunks stream, PINGs (every 0.5 s here) flow.
        let mut socket = open_wss(https, &der).await;
        socket
            .send(Message::Text(
                json!({"type": "INPUT", "prompt": "hello over wss"})
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
        let mut streamed = String::new();
        let mut pings = 0;
        let output = loop {
            let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .expect("a frame within 30 s")
                .expect("the socket is open")
                .expect("a readable frame");
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            match frame["type"].as_str() {
                Some("STREAM") => streamed += frame["content"].as_str().unwrap_or_default(),
                Some("PING") => pings += 1,
                Some("OUTPUT") | Some("ERROR") => break frame,
                _ => {}
            }
        };
        assert_eq!(output["type"], "OUTPUT", "{output}");
        assert_eq!(output["result"], "echo: hello over wss");
        assert_eq!(streamed, "echo: hello over wss");
        // The connection stays up past the next PING.
        while pings == 0 {
            let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .expect("a PING within 30 s")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = message {
                pings +=
                    usize::from(serde_json::from_str::<Value>(&text).unwrap()["type"] == "PING");
            }
        }

        // Plain HTTP is redirected to HTTPS.
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{http}/docs"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 301);
        assert_eq!(response.headers()["location"], "https://127.0.0.1/docs");
    });
}

#[test]
fn caddyfile_is_valid_for_caddy() {
    let Some(caddy) = tool("caddy", "Caddyfile") else {
        return;
    };
    let (ok, text) = run(Command::new(caddy)
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(repo().join("deploy/Caddyfile")));
    assert!(ok, "caddy validate:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// Dockerfile (no daemon here: its structure, and that what it names exists)

/// Instructions with their continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = read("deploy/Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (op, rest) = current.split_once(' ').unwrap_or((&current, ""));
                instructions.push((op.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    instructions
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_data_volume_and_a_real_healthcheck() {
    let instructions = dockerfile_instructions();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| op == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stages.len(), 2, "a builder stage and a runtime stage");
    let (builder, runtime) = instructions.split_at(stages[1]);
    assert!(
        builder[stages[0]].1.ends_with(" AS builder"),
        "{:?}",
        builder[stages[0]]
    );
    assert!(runtime[0].1.starts_with("debian:"), "{:?}", runtime[0]);
    let values = |op: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, v)| v.as_str())
            .collect()
    };

    // The builder's Rust is new enough for every locked dependency (cargo refuses a package
    // whose rust-version is newer than the compiler).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (ok, metadata) = run(Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(repo()));
    assert!(ok, "cargo metadata: {metadata}");
    let metadata: Value = serde_json::from_str(metadata.lines().next().unwrap()).unwrap();
    let version =
        |text: &str| -> Vec<u32> { text.split('.').map(|n| n.parse().unwrap()).collect() };
    let (needed, by) = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((version(p["rust_version"].as_str()?), p["name"].to_string())))
        .max()
        .expect("rust-versions");
    let arg = instructions
        .iter()
        .find_map(|(op, v)| {
            (op == "ARG")
                .then(|| v.strip_prefix("RUST_VERSION="))
                .flatten()
        })
        .expect("ARG RUST_VERSION=");
    assert!(
        version(arg) >= needed,
        "RUST_VERSION={arg}, but {by} needs {needed:?}"
    );
    let cargo_toml = read("Cargo.toml");

    // The dependency layer: every workspace member's manifest copied and stubbed.
    let members_line = cargo_toml
        .lines()
        .find(|l| l.starts_with("members = "))
        .unwrap();
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    let stub = builder
        .iter()
        .find(|(op, v)| op == "RUN" && v.starts_with("for crate in "))
        .expect("the stub crates RUN");
    assert!(
        stub.1
            .starts_with(&format!("for crate in {};", members.join(" "))),
        "{}",
        stub.1
    );
    for member in &members {
        assert!(
            builder.contains(&("COPY".into(), format!("{member}/Cargo.toml {member}/"))),
            "COPY {member}/Cargo.toml"
        );
    }
    // Every file a builder COPY names exists, and the sources touched after `COPY . .` too.
    for (op, value) in builder {
        if op == "COPY" && !value.starts_with("--from") {
            let mut parts: Vec<&str> = value.split_whitespace().collect();
            parts.pop();
            for source in parts {
                assert!(repo().join(source).exists(), "COPY {source}: missing");
            }
        }
    }
    let touch = builder
        .iter()
        .find(|(op, v)| op == "RUN" && v.starts_with("find "))
        .expect("the touch of the real sources");
    for folder in touch
        .1
        .split(" -name")
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
    {
        assert!(repo().join(folder).is_dir(), "find {folder}: missing");
    }
    for bin in ["--bin agenthost ", "--bin agenthost-relay"] {
        assert!(touch.1.contains(bin), "{bin}");
    }
    assert!(read("relay-server/Cargo.toml").contains("name = \"agenthost-relay\""));

    // Runtime: an unprivileged user, /data as volume and working folder, the ports.
    let user = values("USER");
    assert_eq!(user.len(), 1);
    assert!(
        !user[0].starts_with("root") && !user[0].starts_with('0'),
        "USER {}",
        user[0]
    );
    assert_eq!(values("VOLUME"), ["/data"]);
    assert_eq!(values("WORKDIR"), ["/data"]);
    // The image's environment, as the host reads it with the image's CMD: /data and the P2P
    // port that EXPOSE names.
    let env: Vec<(String, String)> = values("ENV")
        .iter()
        .flat_map(|e| e.split_whitespace())
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("ENV key=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let cmd: Vec<String> = serde_json::from_str(values("CMD")[0]).expect("CMD in exec form");
    assert_eq!(cmd[0], "host");
    let (ok, settings) = run(Command::new(agenthost_bin())
        .arg("config")
        .args(&cmd[1..])
        .envs(env.iter().cloned())
        .current_dir(repo().join("deploy")));
    assert!(
        ok,
        "agenthost config with the image's ENV and CMD: {settings}"
    );
    for line in [
        r#"data_dir              = "/data"  (env AGENTHOST_DATA_DIR)"#,
        r#"listen                = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]  (env AGENTHOST_LISTEN)"#,
        "mdns                  = false  (env AGENTHOST_MDNS)",
        "port                  = 8000  (default)",
    ] {
        assert!(settings.lines().any(|l| l == line), "{line}\n{settings}");
    }
    assert_eq!(values("EXPOSE"), ["8000/tcp 4001/tcp 4001/udp"]);
    let copy_bins = values("COPY");
    assert_eq!(
        copy_bins,
        ["--from=builder /usr/local/bin/agenthost /usr/local/bin/agenthost-relay /usr/local/bin/"]
    );
    assert_eq!(values("ENTRYPOINT"), [r#"["tini", "--", "agenthost"]"#]);

    // The HEALTHCHECK is `agenthost health` (default URL http://127.0.0.1:8000/health, the
    // EXPOSEd HTTP port): run it for real against a demo agent, and against nothing.
    let healthcheck = values("HEALTHCHECK");
    assert_eq!(healthcheck.len(), 1);
    let argv: Vec<String> =
        serde_json::from_str(healthcheck[0].split_once("CMD ").expect("CMD form").1).unwrap();
    assert_eq!(argv, ["agenthost", "health"]);
    let (ok, help) = run(Command::new(agenthost_bin()).args(["health", "--help"]));
    assert!(
        ok && help.contains("http://127.0.0.1:8000/health"),
        "{help}"
    );
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let url = format!("{}/health", host.http.as_ref().unwrap());
    let (ok, text) = run(Command::new(agenthost_bin())
        .args(&argv[1..])
        .args(["--url", &url]));
    assert!(ok, "{text}");
    drop(host);
    let (ok, _) = run(Command::new(agenthost_bin())
        .args(&argv[1..])
        .args(["--url", &url]));
    assert!(!ok, "the healthcheck passes with no agent");

    // .dockerignore keeps build outputs, dependencies, history and data out of the context.
    let ignore = read(".dockerignore");
    for entry in ["target/", "node_modules/", ".git/", ".agenthost/"] {
        assert!(
            ignore.lines().any(|l| l.ends_with(entry)),
            ".dockerignore: {entry}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The operator docs' command lines

/// The command lines of a doc's indented code blocks that start with `prefix`, continuation
/// lines joined.
fn doc_commands(doc: &str, prefix: &str) -> Vec<String> {
    let text = read(doc);
    let mut commands = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if !line.starts_with("    ") || !trimmed.starts_with(prefix) {
            continue;
        }
        let mut command = String::new();
        let mut current = trimmed;
        while let Some(part) = current.strip_suffix('\\') {
            command.push_str(part);
            current = lines.next().expect("a continuation line").trim();
        }
        command.push_str(current);
        commands.push(command);
    }
    commands
}

fn words(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_owned).collect()
}

/// docs/relay-operator.md, as an operator would follow it: make the key, show it, start the
/// relay with the flags shown, check its health, start a second relay peered with it, and start
/// one from the TOML shown. Paths go to a temp folder and listen ports to free ones; the
/// announced documentation addresses (203.0.113.7) stay.
#[test]
fn relay_operator_doc_commands_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let commands = doc_commands("docs/relay-operator.md", "agenthost ");
    // The relay prints its announced addresses only: its TCP port is fixed here so that the
    // second relay can be given its loopback address.
    let tcp_port = free_port();
    let localize = |command: &str| {
        command
            .replace("/var/lib/agenthost-relay/", &format!("{d}/"))
            .replace("relay2.key", &format!("{d}/relay2.key"))
            .replace(
                "/ip4/0.0.0.0/tcp/4001",
                &format!("/ip4/127.0.0.1/tcp/{tcp_port}"),
            )
            .replace(
                "/ip4/0.0.0.0/udp/4001/quic-v1",
                "/ip4/127.0.0.1/udp/0/quic-v1",
            )
    };
    let find = |start: &str| -> Vec<String> {
        let found: Vec<String> = commands
            .iter()
            .filter(|c| c.starts_with(start))
            .map(|c| localize(c))
            .collect();
        assert!(
            !found.is_empty(),
            "no `{start}` command in docs/relay-operator.md"
        );
        found
    };

    let new = &find("agenthost keys new")[0];
    let (ok, made) = run(Command::new(agenthost_bin()).args(&words(new)[1..]));
    assert!(ok, "{new}: {made}");
    let peer_id = made
        .lines()
        .find_map(|l| l.strip_prefix("peer_id: "))
        .unwrap()
        .to_owned();
    let show = &find("agenthost keys show")[0];
    let (ok, shown) = run(Command::new(agenthost_bin()).args(&words(show)[1..]));
    assert!(ok && shown == made, "{show}: {shown}");

    // The relay with the flags shown, its metrics on a free port.
    let metrics = format!("127.0.0.1:{}", free_port());
    let start = find("agenthost relay --key-file")
        .into_iter()
        .find(|c| c.contains("--announce"))
        .expect("the start command");
    let mut args = words(&start)[1..].to_vec();
    args.extend(["--metrics-addr".into(), metrics.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let relay = ServiceProcess::start(dir.path(), &args, |l| l.contains("/quic-v1/p2p/"));
    let announced = format!("relay: /ip4/203.0.113.7/tcp/4001/p2p/{peer_id}");
    assert!(relay.banner.contains(&announced), "{:?}", relay.banner);
    let local_tcp = format!("/ip4/127.0.0.1/tcp/{tcp_port}/p2p/{peer_id}");

    let health = &find("agenthost health")[0];
    let health = health.replace("127.0.0.1:9464", &metrics);
    let (ok, text) = run(Command::new(agenthost_bin()).args(&words(&health)[1..]));
    assert!(ok, "{health}: {text}");

    // A second relay peered with the first, as shown.
    let peer = find("agenthost relay --key-file")
        .into_iter()
        .find(|c| c.contains("--peer"))
        .expect("the --peer command");
    let peer = peer.replace("/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…", &local_tcp);
    assert!(!peer.contains('…'), "{peer}");
    let mut args = words(&peer)[1..].to_vec();
    args.extend(["--listen", "/ip4/127.0.0.1/tcp/0", "--metrics-addr", "off"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let second = ServiceProcess::start(dir.path(), &args, |l| relay_tcp_addr(l).is_some());
    drop(second);

    // The TOML shown.
    let doc = read("docs/relay-operator.md");
    let toml = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML block");
    let toml = localize(toml).replace("127.0.0.1:9464", "off");
    std::fs::write(dir.path().join("relay.toml"), &toml).unwrap();
    drop(relay);
    let from_file = ServiceProcess::start(
        dir.path(),
        &["relay", "--config", &format!("{d}/relay.toml")],
        |l| relay_tcp_addr(l).is_some(),
    );
    assert!(
        from_file.banner[0].ends_with(&peer_id),
        "{:?}",
        from_file.banner
    );

    // "A bad config stops the relay at once with status 78 and a message naming the key."
    std::fs::write(
        dir.path().join("bad.toml"),
        "[limits]\nmax_circuit_duration_secs = 0\n",
    )
    .unwrap();
    let out = Command::new(agenthost_bin())
        .args(["relay", "--config", &format!("{d}/bad.toml")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: config key `limits.max_circuit_duration_secs`"),
        "{stderr}"
    );
}

/// docs/deployment.md's `agenthost` lines run, and its agent.env example is accepted.
#[test]
fn deployment_doc_commands_are_accepted() {
    let host = HostProcess::start(&["--demo", "--no-mdns"]);
    let key = host.dir.path().join(".agenthost/keys/agent.key");
    let commands = doc_commands("docs/deployment.md", "agenthost ");
    assert!(!commands.is_empty());
    for command in commands {
        let command = command.replace("/var/lib/agenthost/keys/agent.key", key.to_str().unwrap());
        let (ok, text) = run(Command::new(agenthost_bin()).args(&words(&command)[1..]));
        assert!(ok, "{command}: {text}");
        assert!(text.contains(&host.address), "{command}: {text}");
    }
    // The agent.env example, as the unit would pass it: `agenthost config $AGENT_ARGS` with its
    // variables accepts every value.
    let doc = read("docs/deployment.md");
    let block = doc
        .split("`AGENTHOST_*` variable:\n\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the agent.env example");
    let mut env = Vec::new();
    let mut args = vec!["config".to_owned()];
    for line in block.lines() {
        let (key, value) = line.trim().split_once('=').expect("KEY=value");
        if key == "AGENT_ARGS" {
            args.extend(words(value));
        } else {
            assert!(key.starts_with("AGENTHOST_"), "{key}");
            env.push((key.to_owned(), value.to_owned()));
        }
    }
    assert!(env.len() >= 3, "{block}");
    let (ok, settings) = run(Command::new(agenthost_bin())
        .args(&args)
        .envs(env.iter().cloned())
        .current_dir(host.dir.path()));
    assert!(ok, "agent.env example: {settings}");
    for (key, _) in &env {
        assert!(
            settings.contains(&format!("(env {key})")),
            "{key} not used:\n{settings}"
        );
    }
}
