//! [`Gatekeeper`]: admits or refuses one request, in the order of docs/decisions/0006-trust-order.md.

use std::fmt;
use std::sync::Arc;

use agenthost_identity::Address;
use tracing::debug;

use crate::trust::judge::PolicyGate;
use crate::trust::lists::AccessLists;
use crate::trust::rate_limit::CallerRateLimiter;
use crate::trust::{CallerFacts, Refusal, Trust, TrustConfig, TrustError, TrustPolicy};

/// What an anonymous caller is told where an identity is required.
const IDENTITY_REQUIRED: &str = "identity required: sign the request or call over libp2p";

/// Decides who may call the agent. Cheap to share behind an `Arc`; one per hosted agent.
///
/// [`Gatekeeper::check`] goes:
/// 1. blacklisted identity → `forbidden: blacklisted` (before anything else);
/// 2. whitelisted identity → admitted;
/// 3. admin (the agent's own address or one in the admins file) → admitted, never rate limited;
/// 4. otherwise the level, policy or custom rule of [`Trust`];
/// 5. admitted non-admins then take one request from their rate limit, if one is set.
pub struct Gatekeeper {
    rule: Rule,
    lists: AccessLists,
    rate_limiter: Option<CallerRateLimiter>,
}

/// [`Trust`] made ready to decide: a policy comes with its judge and verdict cache.
enum Rule {
    Open,
    Careful,
    Strict,
    Policy(PolicyGate),
    Custom(Arc<dyn TrustPolicy>),
}

impl Gatekeeper {
    /// Loads the list files and sets up the rule and rate limiter. Fails on a list file that
    /// exists but cannot be read, or a rate limit of zero.
    pub fn new(config: TrustConfig) -> Result<Gatekeeper, TrustError> {
        let lists = AccessLists::new(&config)?;
        let rate_limiter = config.rate_limit.map(CallerRateLimiter::new).transpose()?;
        let rule = match config.trust {
            Trust::Open => Rule::Open,
            Trust::Careful => Rule::Careful,
            Trust::Strict => Rule::Strict,
            Trust::Policy(text) => {
                Rule::Policy(PolicyGate::new(text, config.judge, config.policy_cache_ttl))
            }
            Trust::Custom(policy) => Rule::Custom(policy),
        };
        Ok(Gatekeeper {
            rule,
            lists,
            rate_limiter,
        })
    }

    /// Admits the request (`Ok`) or says why not. Refusals are logged at debug level; a policy
    /// that could not be evaluated is also logged as a warning.
    pub async fn check(&self, facts: &CallerFacts) -> Result<(), Refusal> {
        let decision = self.decide(facts).await;
        if let Err(refusal) = &decision {
            debug!(caller = %facts.describe(), transport = ?facts.transport, %refusal, "request refused by trust");
        }
        decision
    }

    /// [`Gatekeeper::check`] without the rate limit: whether the lists and the rule admit this
    /// caller at all (a WebSocket CONNECT asks, and the turns it opens are each counted).
    pub async fn admits(&self, facts: &CallerFacts) -> Result<(), Refusal> {
        let decision = self.admitted_by_rules(facts).await;
        if let Err(refusal) = &decision {
            debug!(caller = %facts.describe(), transport = ?facts.transport, %refusal, "refused by trust");
        }
        decision
    }

    /// Whether an address is on the blacklist (code values or file, as of now). The signed
    /// envelope check asks this before verifying a signature (WIRE.md 2.3).
    pub fn is_blacklisted(&self, address: &Address) -> bool {
        self.lists.refresh();
        self.lists.is_blacklisted(address)
    }

    /// Whether the level is `strict`: only listed callers, and signed requests must name
    /// this agent in `to` (WIRE.md §2.3).
    pub fn is_strict(&self) -> bool {
        matches!(self.rule, Rule::Strict)
    }

    /// `"open"`, `"careful"`, `"strict"`, `"policy"` or `"custom"`, as [`Trust::name`].
    pub fn trust_name(&self) -> &str {
        match self.rule {
            Rule::Open => "open",
            Rule::Careful => "careful",
            Rule::Strict => "strict",
            Rule::Policy(_) => "policy",
            Rule::Custom(_) => "custom",
        }
    }

    async fn decide(&self, facts: &CallerFacts) -> Result<(), Refusal> {
        self.admitted_by_rules(facts).await?;
        let is_admin = facts.address.is_some_and(|a| self.lists.is_admin(&a));
        match &self.rate_limiter {
            // Admins skip the rate limit.
            Some(limiter) if !is_admin => limiter.check(&facts.key()),
            _ => Ok(()),
        }
    }

    /// Blacklist, admins, whitelist, then the level, policy or custom rule.
    async fn admitted_by_rules(&self, facts: &CallerFacts) -> Result<(), Refusal> {
        self.lists.refresh();
        // The whitelist and the admins both admit; admins are asked first only because they
        // also skip the rate limit.
        let listed = match &facts.address {
            Some(address) if self.lists.is_blacklisted(address) => {
                return Err(Refusal::forbidden("blacklisted"));
            }
            Some(address) if self.lists.is_admin(address) => return Ok(()),
            Some(address) => self.lists.is_whitelisted(address),
            None => false,
        };
        if !listed {
            self.apply_rule(facts).await?;
        }
        Ok(())
    }

    /// Step 4: the level, policy or custom rule, for callers the lists did not decide.
    async fn apply_rule(&self, facts: &CallerFacts) -> Result<(), Refusal> {
        match &self.rule {
            Rule::Open => Ok(()),
            Rule::Careful if facts.address.is_some() || facts.transport.is_local() => Ok(()),
            Rule::Careful => Err(Refusal::unauthorized(IDENTITY_REQUIRED)),
            Rule::Strict if facts.address.is_none() => {
                Err(Refusal::unauthorized(IDENTITY_REQUIRED))
            }
            Rule::Strict => Err(Refusal::forbidden("not whitelisted")),
            Rule::Policy(gate) => gate.decide(facts).await,
            Rule::Custom(policy) => policy.decide(facts).await,
        }
    }
}

impl fmt::Debug for Gatekeeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gatekeeper")
            .field("trust", &self.trust_name())
            .field("rate_limited", &self.rate_limiter.is_some())
            .finish_non_exhaustive()
    }
}
