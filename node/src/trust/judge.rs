//! Natural-language policies: a [`PolicyJudge`] reads the policy and a caller's facts and
//! returns a [`Verdict`]; [`PolicyGate`] asks it once per caller and remembers the answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use tracing::{debug, warn};

use crate::trust::facts::CallerKey;
use crate::trust::{Arrival, CallerFacts, Refusal};

/// A judge's answer for one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the caller is admitted.
    pub allow: bool,
    /// Why; on a refusal this is what the caller is told.
    pub reason: String,
}

impl Verdict {
    /// A verdict admitting the caller, with the judge's reason.
    pub fn allow(reason: impl Into<String>) -> Self {
        Verdict {
            allow: true,
            reason: reason.into(),
        }
    }

    /// A verdict refusing the caller; `reason` is what the caller is told.
    pub fn deny(reason: impl Into<String>) -> Self {
        Verdict {
            allow: false,
            reason: reason.into(),
        }
    }
}

/// Judges a natural-language policy for one caller, typically by asking an LLM agent.
///
/// `facts` is the JSON of [`CallerFacts::to_judge_json`]:
/// `{"caller": "0x…"|null, "signed", "transport": "p2p"|"http"|"in_process", "relayed",
/// "loopback", "times_seen"}` — never the prompt. An `Err` (a failed call, a reply that is not
/// a verdict) refuses the caller. The gatekeeper waits for the judge as long as it takes, so a
/// judge that calls out over the network bounds its own time.
pub trait PolicyJudge: Send + Sync + 'static {
    /// Judges `policy` for the caller described by `facts` (never the prompt); an `Err` refuses.
    fn judge<'a>(
        &'a self,
        policy: &'a str,
        facts: &'a serde_json::Value,
    ) -> Pin<Box<dyn Future<Output = Result<Verdict, String>> + Send + 'a>>;
}

/// Upper bound on remembered callers, for verdicts and for request counts alike.
const MAX_CALLERS: u64 = 100_000;
/// Request counts are forgotten after a day without requests.
const SEEN_IDLE: Duration = Duration::from_secs(24 * 3600);
/// moka panics on expirations beyond 1000 years; no verdict needs to live longer than a year.
const MAX_VERDICT_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a cached verdict is about: the caller and how it came. The request count is left out
/// (it changes every request); the transport is kept so a verdict given to a direct peer is not
/// reused when the same peer comes through a relay.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VerdictKey {
    caller: CallerKey,
    signed: bool,
    transport: Arrival,
}

/// The policy, its judge, and the per-caller verdict cache and request counts.
pub(crate) struct PolicyGate {
    policy: String,
    judge: Option<Arc<dyn PolicyJudge>>,
    verdicts: Cache<VerdictKey, Verdict>,
    times_seen: Cache<CallerKey, Arc<AtomicU64>>,
}

impl PolicyGate {
    pub(crate) fn new(
        policy: String,
        judge: Option<Arc<dyn PolicyJudge>>,
        cache_ttl: Duration,
    ) -> Self {
        if judge.is_none() {
            warn!("trust is a policy but no policy judge is configured: every caller the lists do not admit will be refused");
        }
        PolicyGate {
            policy,
            judge,
            verdicts: Cache::builder()
                .max_capacity(MAX_CALLERS)
                .time_to_live(cache_ttl.min(MAX_VERDICT_TTL))
                .build(),
            times_seen: Cache::builder()
                .max_capacity(MAX_CALLERS)
                .time_to_idle(SEEN_IDLE)
                .build(),
        }
    }

    /// Counts this request, then admits or refuses by the (cached) verdict for this caller.
    /// A missing or failing judge refuses; errors are not cached, so the next request asks again.
    pub(crate) async fn decide(&self, facts: &CallerFacts) -> Result<(), Refusal> {
        let key = facts.key();
        let times_seen = self
            .times_seen
            .get_with(key.clone(), async { Arc::new(AtomicU64::new(0)) })
            .await
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        // Warned about once at startup; each refusal is logged by the gatekeeper.
        let Some(judge) = &self.judge else {
            return Err(Refusal::forbidden(
                "trust policy could not be evaluated: no policy judge is configured",
            ));
        };
        let verdict_key = VerdictKey {
            caller: key,
            signed: facts.signed,
            transport: facts.transport,
        };
        // `try_get_with` also makes concurrent first requests of one caller share one judgement.
        let verdict = self
            .verdicts
            .try_get_with(verdict_key, async {
                let judged = judge
                    .judge(&self.policy, &facts.to_judge_json(times_seen))
                    .await;
                debug!(caller = %facts.describe(), verdict = ?judged, "trust policy judged");
                judged
            })
            .await;
        match verdict {
            Ok(verdict) if verdict.allow => Ok(()),
            Ok(verdict) => {
                let reason = verdict.reason.trim();
                Err(Refusal::forbidden(if reason.is_empty() {
                    "refused by trust policy"
                } else {
                    reason
                }))
            }
            Err(error) => {
                warn!(caller = %facts.describe(), %error, "refused: the trust policy judge failed");
                Err(Refusal::forbidden(
                    "trust policy could not be evaluated: the policy judge failed",
                ))
            }
        }
    }
}
