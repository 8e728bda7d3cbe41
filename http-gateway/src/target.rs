//! Which agent a request is for. An embedded gateway fronts one local agent; a standalone one
//! fronts any agent on the network under `/agents/{address}/…`, behind its allow and deny lists.

use std::{collections::HashSet, sync::Arc};

use agenthost_identity::{Address, AgentKey};
use agenthost_node::{AgentService, Client, Multiaddr, PeerSocket};
use axum::{
    extract::{FromRef, FromRequestParts, RawPathParams},
    http::request::Parts,
};
use moka::sync::Cache;

use crate::{background::Background, error::ApiError, remote::RemoteAgent};

/// The agents a gateway serves.
pub enum Agents {
    /// One agent in this process: no network hop.
    Local(LocalAgent),
    /// Any agent reachable over libp2p.
    Remote(RemoteAgents),
}

/// The agent in this process, fronted by an embedded gateway.
#[derive(Clone)]
pub struct LocalAgent {
    pub address: Address,
    pub service: Arc<dyn AgentService>,
    /// Signs SEALED_OK: only the agent itself can seal a socket.
    pub key: AgentKey,
}

/// The standalone gateway's view of the network.
pub struct RemoteAgents {
    client: Arc<Client>,
    relays: Vec<Multiaddr>,
    /// Shared with every request's [`TargetAgent`], not copied into it.
    lists: Arc<AccessLists>,
    /// Connections to recently used agents.
    agents: Cache<Address, RemoteAgent>,
    /// Where the remote agents pump forwarded replies; the gateway's own.
    background: Background,
}

/// The standalone gateway's door: which agents it fronts and which signers it refuses.
#[derive(Debug, Clone, Default)]
pub struct AccessLists {
    /// When not empty, the only agents this gateway fronts.
    pub allow: HashSet<Address>,
    /// Agents it never fronts and signers it never forwards.
    pub deny: HashSet<Address>,
}

impl AccessLists {
    /// Refuses (403) an agent on the deny list, or missing from a non-empty allow list.
    pub fn check_agent(&self, agent: &Address) -> Result<(), ApiError> {
        if self.deny.contains(agent) || (!self.allow.is_empty() && !self.allow.contains(agent)) {
            return Err(ApiError::forbidden(format!(
                "forbidden: this gateway does not serve agent {agent}"
            )));
        }
        Ok(())
    }

    /// A signer named by a request (checked again, with its signature, by the agent).
    pub fn check_signer(&self, signer: Option<&str>) -> Result<(), ApiError> {
        match signer.and_then(|s| Address::parse(s).ok()) {
            Some(signer) if self.deny.contains(&signer) => {
                Err(ApiError::forbidden("forbidden: blacklisted"))
            }
            _ => Ok(()),
        }
    }
}

impl RemoteAgents {
    /// Reaches agents with `client` through `relays`, keeping up to 10 000 connections
    /// (each dropped after 10 minutes unused).
    pub fn new(client: Client, relays: Vec<Multiaddr>, lists: AccessLists) -> Self {
        RemoteAgents {
            client: Arc::new(client),
            relays,
            lists: Arc::new(lists),
            agents: Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
            background: Background::default(),
        }
    }

    /// The tasks forwarding replies, which the gateway fronting these agents ends when it
    /// stops.
    pub(crate) fn background(&self) -> &Background {
        &self.background
    }

    /// The allow and deny lists this gateway applies.
    pub fn lists(&self) -> &AccessLists {
        &self.lists
    }

    /// The libp2p client that dials remote agents.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn agent(&self, address: Address) -> Result<RemoteAgent, ApiError> {
        self.lists.check_agent(&address)?;
        Ok(self.agents.get_with(address, || {
            RemoteAgent::new(
                address,
                Arc::clone(&self.client),
                self.relays.clone(),
                self.background.clone(),
            )
        }))
    }

    /// A socket stream to the agent at `address`, if this gateway fronts it; `client` names
    /// the client in the agent's logs.
    pub async fn open_socket(
        &self,
        address: Address,
        client: String,
    ) -> Result<PeerSocket, ApiError> {
        let agent = self.agent(address)?;
        agent.open_socket(client).await.map_err(ApiError::from)
    }

    /// The agent at `address`, if this gateway fronts it.
    pub fn target(&self, address: Address) -> Result<TargetAgent, ApiError> {
        let agent = self.agent(address)?;
        Ok(TargetAgent {
            address,
            service: Arc::new(agent),
            base_path: format!("/agents/{address}"),
            lists: Some(Arc::clone(&self.lists)),
        })
    }
}

/// The agent a request is for, resolved from the route: extract it in a handler of any
/// front-end whose state gives the [`Agents`] (`FromRef`).
#[derive(Clone)]
pub struct TargetAgent {
    pub address: Address,
    pub service: Arc<dyn AgentService>,
    /// Where this agent's routes live on this gateway: `""` or `/agents/0x…`.
    pub base_path: String,
    /// The standalone gateway's lists, checked against signers at its door.
    pub lists: Option<Arc<AccessLists>>,
}

impl TargetAgent {
    pub fn check_signer(&self, signer: Option<&str>) -> Result<(), ApiError> {
        match &self.lists {
            Some(lists) => lists.check_signer(signer),
            None => Ok(()),
        }
    }

    /// Whether this gateway runs in the agent's own process.
    pub fn is_local(&self) -> bool {
        self.lists.is_none()
    }
}

impl<S> FromRequestParts<S> for TargetAgent
where
    Arc<Agents>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let agents = Arc::<Agents>::from_ref(state);
        match &*agents {
            Agents::Local(local) => Ok(TargetAgent {
                address: local.address,
                service: Arc::clone(&local.service),
                base_path: String::new(),
                lists: None,
            }),
            Agents::Remote(remote) => {
                let params = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map_err(|_| ApiError::not_found("no agent in the path"))?;
                let text = params
                    .iter()
                    .find(|(name, _)| *name == "address")
                    .map(|(_, value)| value.to_owned())
                    .ok_or_else(|| ApiError::not_found("no agent in the path"))?;
                let address = Address::parse(&text).map_err(|e| {
                    ApiError::not_found(format!("{text} is not an agent address: {e}"))
                })?;
                remote.target(address)
            }
        }
    }
}
