//! [`Host::start`]: the key, trust, store, node, door and gateway, built from the settings
//! and started; [`Host::run`]: start, print the banner, serve until a signal.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use agenthost_gateway::{Gateway, GatewayConfig};
use agenthost_identity::load_or_create_key;
use agenthost_node::{
    inputs::InputLimits,
    llm::{LlmConfig, LlmJudge},
    serve,
    store::SessionStore,
    trust::{Gatekeeper, PolicyJudge, RateLimit, Trust, TrustConfig},
    Agent, AgentService, Dispatcher, DispatcherConfig, HostIdentity, Node, NodeConfig,
    WorkerLimits,
};
use anyhow::Context as _;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{shutdown_signal, Host, RunningHost};
use crate::settings::Source;

/// How long the banner waits for relays to answer, so it can say how each stands.
const BANNER_SETTLE: Duration = Duration::from_secs(3);

/// How often expired results are swept (at most; a shorter TTL sweeps as often as it expires).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl<A: Agent> Host<A> {
    /// Starts the node and the server and returns once the agent is reachable.
    pub async fn start(self) -> anyhow::Result<RunningHost> {
        let settings = self.settings;
        let data_dir = settings.data_dir.clone();
        // A key file named above the code (file, environment, flag) wins over a key in code.
        let file_over_code = matches!(
            settings.source("key_file"),
            Source::File(_) | Source::Env(_) | Source::Flag
        );
        let (key, key_file, created) = match self.key {
            Some(key) if !file_over_code => (key, None, false),
            _ => {
                let path = settings
                    .key_file
                    .clone()
                    .unwrap_or_else(|| data_dir.join("keys").join("agent.key"));
                let (key, created) = load_or_create_key(&path)
                    .with_context(|| format!("loading the agent key {}", path.display()))?;
                (key, Some(path), created)
            }
        };

        let judge = match (&settings.trust, self.judge) {
            (_, Some(judge)) => Some(judge),
            (Trust::Policy(_), None) => match LlmConfig::from_env() {
                Some(llm) => Some(Arc::new(
                    LlmJudge::from_config(llm).context("configuring the policy's LLM")?,
                ) as Arc<dyn PolicyJudge>),
                None => {
                    tracing::error!(
                        "trust is a policy but no LLM is configured (AGENTHOST_LLM_URL): \
                         every caller outside the lists will be refused"
                    );
                    None
                }
            },
            _ => None,
        };
        let trust_name = settings.trust.name().to_owned();
        let mut trust =
            TrustConfig::new(settings.trust.clone(), key.address()).with_data_dir(&data_dir);
        trust.whitelist = settings.whitelist.clone();
        trust.blacklist = settings.blacklist.clone();
        if let Some(path) = settings.whitelist_file.clone() {
            trust.whitelist_file = Some(path);
        }
        if let Some(path) = settings.blacklist_file.clone() {
            trust.blacklist_file = Some(path);
        }
        trust.judge = judge;
        trust.policy_cache_ttl = self.policy_cache_ttl;
        // A limit set in code carries its own burst; one from the settings bursts to its rate.
        let burst = match settings.source("rate_limit") {
            Source::Code => self.rate_limit_burst,
            _ => None,
        };
        trust.rate_limit = settings.rate_limit.map(|per_minute| RateLimit {
            per_minute,
            burst: burst.unwrap_or(per_minute.max(1)),
        });
        let gatekeeper = Arc::new(Gatekeeper::new(trust).context("configuring trust")?);

        let store_path = data_dir.join("sessions.db");
        let store = SessionStore::open(&store_path, settings.result_ttl)
            .with_context(|| format!("opening the session store {}", store_path.display()))?;
        let sweeper = store.spawn_sweeper(SWEEP_EVERY.min(settings.result_ttl));
        // Bound before anything starts, so a taken port is a clear start-up error.
        let http = settings
            .http
            .then(|| SocketAddr::new(settings.http_bind, settings.port));
        let http_listener = match http {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("binding the HTTP port {addr} (choose another with --port, or --no-http)")
            })?),
            None => None,
        };
        let input_limits =
            InputLimits::from_mb(settings.max_file_size, settings.max_files_per_request);
        let limits = WorkerLimits {
            workers: settings.workers.max(1),
            queue: settings.queue,
        };
        let max_body_bytes = input_limits.max_request_bytes();

        let mut config = NodeConfig::new(key.clone());
        config.listen = if settings.listen.is_empty() {
            NodeConfig::default_listen()
        } else {
            settings.listen.clone()
        };
        config.mdns = settings.mdns;
        config.inbound = settings.p2p_inbound;
        config.serve = true;
        config.relays = settings.relays.clone();
        let mut node = Node::start(config).await?;
        let incoming = node
            .take_incoming()
            .context("the node was started without inbound streams")?;
        let dispatcher = Dispatcher::new(
            self.agent,
            DispatcherConfig {
                identity: HostIdentity {
                    address: key.address(),
                    peer_id: key.peer_id(),
                },
                limits,
                listen_addrs: node.handle().shared_listen_addrs(),
                relays: node.handle().shared_relay_status(),
                gatekeeper,
                store,
                input_limits,
                data_dir: data_dir.clone(),
            },
        );
        let dispatcher = match settings.name.clone() {
            Some(name) => dispatcher.with_name(name),
            None => dispatcher,
        };
        let name = dispatcher.info().name.clone();
        let service: Arc<dyn AgentService> = Arc::new(dispatcher);
        // Built even without an HTTP port: it also serves the sockets standalone gateways
        // carry here over P2P (their sessions run in the agent's process).
        let gateway = Gateway::local(
            key.clone(),
            Arc::clone(&service),
            GatewayConfig {
                max_body_bytes,
                ws_ping_interval: settings.ws_ping_interval,
                trusted_proxies: settings.trusted_proxies.clone(),
                ws_max_connections: settings.ws_max_connections,
                ws_replay_budget_bytes: settings.ws_replay_budget_mb.saturating_mul(1 << 20),
                header_read_timeout: settings.http_header_timeout,
                max_connections: settings.http_max_connections,
                max_connections_per_ip: settings.http_max_per_ip,
                mcp_allowed_hosts: settings.mcp_allowed_hosts.clone(),
                mcp_allowed_origins: settings.mcp_allowed_origins.clone(),
                ..GatewayConfig::default()
            },
        );
        let server = serve(
            incoming,
            Arc::clone(&service),
            Some(gateway.peer_sockets()),
            self.server,
        );
        let http_stop = CancellationToken::new();
        // The host's own tasks (HTTP, the reloader), ended and awaited on shutdown.
        let tasks = TaskTracker::new();
        let mut http_task = None;
        let http_addr = match http_listener {
            Some(listener) => {
                let addr = listener.local_addr()?;
                let stop = http_stop.clone();
                http_task = Some(tasks.spawn(async move {
                    if let Err(e) = gateway.serve(listener, stop.cancelled_owned()).await {
                        tracing::error!(error = %e, "the HTTP gateway stopped");
                    }
                }));
                Some(addr)
            }
            None => None,
        };
        let reloader = if settings.reload {
            let cwd = std::env::current_dir().context("reading the working directory")?;
            Some(crate::reload::spawn_reloader(
                &tasks,
                cwd,
                data_dir.clone(),
                Arc::clone(&service),
                settings.grace_period,
            )?)
        } else {
            None
        };
        Ok(RunningHost {
            name,
            key,
            key_file,
            key_created: created,
            limits,
            trust: trust_name,
            data_dir,
            config_file: settings.config_file.clone(),
            grace_period: settings.grace_period,
            reload: settings.reload,
            node,
            service,
            http_addr,
            http_stop,
            http_task,
            reloader,
            server: Some(server),
            sweeper,
            tasks,
        })
    }

    /// Installs the logger (unless the program has one), starts, prints the banner, serves
    /// until SIGTERM or Ctrl-C, then shuts down gracefully ([`RunningHost::shutdown`]).
    pub async fn run(self) -> anyhow::Result<()> {
        crate::init_logging(
            self.settings.log_format,
            self.settings.log.as_deref(),
            crate::SERVICE_LOG_FILTER,
        );
        let running = self.start().await?;
        running.settle(BANNER_SETTLE).await;
        println!("{}", running.banner());
        shutdown_signal().await;
        println!(
            "Shutting down: runs in flight may finish within {} s (Ctrl-C again to interrupt them now)",
            running.grace_period.as_secs_f64()
        );
        let report = running.shutdown_or_interrupt().await;
        println!(
            "Stopped: {} run(s) finished, {} interrupted",
            report.finished, report.interrupted
        );
        Ok(())
    }
}
