//! Turns started over WebSocket, kept while they run, so a client that reconnects (CONNECT
//! with the `session_id` and its `last_msg_id`) gets the frames it missed and then the live
//! ones. Each frame gets a `msg_id` (1, 2, ... per turn) and, unless the agent gave it one, an
//! `id` (the same number as a string): ConnectOnion's client reattaches with the last `id` it
//! saw, ours with either. A finished turn leaves at once: a
//! CONNECT never replays one (WIRE.md §4.2), and its result is in the session store.
//!
//! The pump reading the agent's reply never waits for a WebSocket: frames go to a bounded log
//! and a broadcast channel; a client that falls more than the channel's capacity behind is told
//! and dropped (`Lagged`), and the run goes on.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use agenthost_node::{Frame, Reply};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::replay_budget::ReplayBudget;
use crate::background::Background;

/// Frames of one turn kept for replay, at most; older ones are dropped first.
const LOG_MAX_FRAMES: usize = 10_000;
/// Bytes of one turn's frames kept for replay, at most.
const LOG_MAX_BYTES: usize = 16 << 20;

/// One frame of a turn as it goes to clients: `msg_id` and `id` already in the JSON.
#[derive(Debug)]
pub struct TurnFrame {
    pub msg_id: u64,
    /// The frame's `id`: the agent's own, or `msg_id` as a string.
    pub id: String,
    pub text: String,
    pub terminal: bool,
}

/// The last frame a reconnecting client saw, as its CONNECT's `last_msg_id` names it.
#[derive(Debug, Clone, PartialEq)]
pub enum LastSeen {
    /// Nothing: every frame kept is replayed.
    Nothing,
    /// A `msg_id`.
    MsgId(u64),
    /// An `id` (ConnectOnion's client sends the last string `id` it saw).
    Id(String),
}

/// The registry of live turns, by session id.
pub struct LiveTurns {
    turns: Mutex<HashMap<String, Arc<LiveTurn>>>,
    channel_capacity: usize,
    /// Where the pumps run: a stopping gateway ends them.
    background: Background,
    /// What all turns' logs may hold together.
    budget: Arc<ReplayBudget>,
}

/// One turn: its frames so far and the channel carrying the next ones.
pub struct LiveTurn {
    pub session_id: String,
    /// The signer who started it; `None` for the simple (anonymous) form.
    pub owner: Option<String>,
    log: Mutex<TurnLog>,
    tx: broadcast::Sender<Arc<TurnFrame>>,
    budget: Arc<ReplayBudget>,
}

#[derive(Default)]
struct TurnLog {
    frames: VecDeque<Arc<TurnFrame>>,
    bytes: usize,
    next_id: u64,
    finished: bool,
}

/// What a subscriber gets: the frames it missed, then the live channel.
pub struct Subscription {
    pub backlog: Vec<Arc<TurnFrame>>,
    pub live: broadcast::Receiver<Arc<TurnFrame>>,
    /// Frames after `last_msg_id` that were already dropped from the log.
    pub missing: bool,
}

impl LiveTurns {
    pub fn new(channel_capacity: usize, background: Background, budget: Arc<ReplayBudget>) -> Self {
        LiveTurns {
            turns: Mutex::new(HashMap::new()),
            channel_capacity: channel_capacity.max(1),
            background,
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveTurn>>> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, session_id: &str) -> Option<Arc<LiveTurn>> {
        self.lock().get(session_id).cloned()
    }

    /// Registers a turn whose agent reply is `reply` and pumps it in the background until its
    /// terminal frame; sockets that follow it keep their subscription after it leaves.
    pub fn start(
        self: &Arc<Self>,
        session_id: String,
        owner: Option<String>,
        reply: Reply,
    ) -> Arc<LiveTurn> {
        let (tx, _) = broadcast::channel(self.channel_capacity);
        let turn = Arc::new(LiveTurn {
            session_id: session_id.clone(),
            owner,
            log: Mutex::new(TurnLog {
                next_id: 1,
                ..TurnLog::default()
            }),
            tx,
            budget: Arc::clone(&self.budget),
        });
        self.lock().insert(session_id.clone(), Arc::clone(&turn));
        let registry = Arc::clone(self);
        let pumped = Arc::clone(&turn);
        self.background.spawn(async move {
            pumped.pump(reply).await;
            let mut turns = registry.lock();
            if turns
                .get(&session_id)
                .is_some_and(|t| Arc::ptr_eq(t, &pumped))
            {
                turns.remove(&session_id);
            }
        });
        turn
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for LiveTurn {
    /// The turn's log leaves with it: its bytes go back to the budget.
    fn drop(&mut self) {
        let bytes = self.log().bytes;
        self.budget.refund(bytes);
    }
}

impl LiveTurn {
    fn log(&self) -> std::sync::MutexGuard<'_, TurnLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_finished(&self) -> bool {
        self.log().finished
    }

    async fn pump(&self, mut reply: Reply) {
        while let Some(frame) = reply.next_frame().await {
            let terminal = frame.is_terminal();
            self.push(frame_json(&frame), terminal);
        }
    }

    fn push(&self, mut value: Value, terminal: bool) {
        let mut log = self.log();
        let msg_id = log.next_id;
        log.next_id += 1;
        let mut id = msg_id.to_string();
        if let Value::Object(map) = &mut value {
            map.insert("msg_id".into(), json!(msg_id));
            match map.get("id") {
                Some(Value::String(own)) => id = own.clone(),
                Some(_) => {}
                None => {
                    map.insert("id".into(), json!(id));
                }
            }
            map.entry("session_id")
                .or_insert_with(|| json!(self.session_id));
        }
        let frame = Arc::new(TurnFrame {
            msg_id,
            id,
            text: value.to_string(),
            terminal,
        });
        log.bytes += frame.text.len();
        self.budget.charge(frame.text.len());
        log.frames.push_back(Arc::clone(&frame));
        // Over its own bounds, or over the budget of all turns: the oldest frames go, never
        // the newest (subscribers are sent it on the channel below anyway).
        while log.frames.len() > LOG_MAX_FRAMES
            || log.bytes > LOG_MAX_BYTES
            || (self.budget.is_over() && log.frames.len() > 1)
        {
            match log.frames.pop_front() {
                Some(old) => {
                    log.bytes -= old.text.len();
                    self.budget.refund(old.text.len());
                }
                None => break,
            }
        }
        if terminal {
            log.finished = true;
        }
        // Under the log's lock, so a subscriber sees each frame exactly once: either in its
        // backlog or on its channel. No receivers is fine: the log keeps it.
        let _ = self.tx.send(frame);
    }

    /// The frames after the one last seen, and the channel for the ones to come. An `id` not
    /// in the log counts as nothing seen (as ConnectOnion's host rewinds: all of it).
    pub fn subscribe(&self, last: &LastSeen) -> Subscription {
        let log = self.log();
        let last_msg_id = match last {
            LastSeen::Nothing => 0,
            LastSeen::MsgId(n) => *n,
            LastSeen::Id(id) => log
                .frames
                .iter()
                .find(|f| f.id == *id)
                .map_or(0, |f| f.msg_id),
        };
        let oldest = log.frames.front().map_or(log.next_id, |f| f.msg_id);
        Subscription {
            backlog: log
                .frames
                .iter()
                .filter(|f| f.msg_id > last_msg_id)
                .cloned()
                .collect(),
            live: self.tx.subscribe(),
            missing: last_msg_id + 1 < oldest,
        }
    }
}

/// The JSON of a frame as WebSocket clients see it (WIRE.md §4).
fn frame_json(frame: &Frame) -> Value {
    frame.to_json()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use agenthost_node::{ErrorCode, OutputFrame};
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    fn budget(bytes: usize) -> Arc<ReplayBudget> {
        Arc::new(ReplayBudget::new(bytes))
    }

    fn output() -> Frame {
        Frame::Output(OutputFrame {
            result: "a b".into(),
            session_id: "s1".into(),
            duration_ms: 1,
            session: json!({}),
        })
    }

    #[tokio::test]
    async fn a_late_subscriber_gets_the_backlog_then_live_frames_once() {
        let turns = Arc::new(LiveTurns::new(16, Background::default(), budget(1 << 30)));
        let (tx, rx) = mpsc::channel(8);
        let turn = turns.start("s1".into(), None, Reply::new(rx, CancellationToken::new()));
        tx.send(Frame::Stream {
            content: "a ".into(),
        })
        .await
        .unwrap();
        tx.send(Frame::Stream {
            content: "b".into(),
        })
        .await
        .unwrap();
        // Wait until the pump logged both.
        while turn.subscribe(&LastSeen::Nothing).backlog.len() < 2 {
            tokio::task::yield_now().await;
        }
        let mut sub = turn.subscribe(&LastSeen::MsgId(1));
        assert_eq!(sub.backlog.len(), 1);
        assert_eq!(sub.backlog[0].msg_id, 2);
        assert!(!sub.missing);
        // The same frame named by its `id`, as ConnectOnion's client names it.
        let by_id = turn.subscribe(&LastSeen::Id("1".into()));
        assert_eq!(by_id.backlog.len(), 1);
        assert_eq!(by_id.backlog[0].id, "2");
        assert_eq!(
            turn.subscribe(&LastSeen::Id("nope".into())).backlog.len(),
            2
        );
        tx.send(output()).await.unwrap();
        let live = sub.live.recv().await.unwrap();
        assert_eq!(live.msg_id, 3);
        assert!(live.terminal);
        let v: Value = serde_json::from_str(&live.text).unwrap();
        assert_eq!(v["type"], "OUTPUT");
        assert_eq!(v["msg_id"], 3);
        assert!(turn.is_finished());
        // Finished, it leaves the registry; its subscriber got everything.
        tokio::time::timeout(Duration::from_secs(5), async {
            while turns.get("s1").is_some() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("a finished turn leaves");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_lags_and_the_pump_goes_on() {
        let turns = Arc::new(LiveTurns::new(4, Background::default(), budget(1 << 30)));
        let (tx, rx) = mpsc::channel(8);
        let turn = turns.start("s2".into(), None, Reply::new(rx, CancellationToken::new()));
        let mut sub = turn.subscribe(&LastSeen::Nothing);
        for i in 0..20 {
            tx.send(Frame::Stream {
                content: format!("{i} "),
            })
            .await
            .unwrap();
        }
        tx.send(Frame::Error(agenthost_node::ErrorFrame::new(
            ErrorCode::Internal,
            "x",
        )))
        .await
        .unwrap();
        while !turn.is_finished() {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            sub.live.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        // The log still has everything for a fresh subscriber.
        assert_eq!(turn.subscribe(&LastSeen::Nothing).backlog.len(), 21);
    }

    #[tokio::test]
    async fn over_the_budget_of_all_turns_the_oldest_frames_go_and_come_back_on_drop() {
        let budget = budget(1_000);
        let turns = Arc::new(LiveTurns::new(
            64,
            Background::default(),
            Arc::clone(&budget),
        ));
        let (tx, rx) = mpsc::channel(64);
        let turn = turns.start("s3".into(), None, Reply::new(rx, CancellationToken::new()));
        for i in 0..50 {
            tx.send(Frame::Stream {
                content: format!("{i:0>40}"),
            })
            .await
            .unwrap();
        }
        while turn
            .subscribe(&LastSeen::Nothing)
            .backlog
            .last()
            .map(|f| f.msg_id)
            != Some(50)
        {
            tokio::task::yield_now().await;
        }
        let kept = turn.subscribe(&LastSeen::Nothing);
        assert!(budget.used() <= 1_000 + 200, "{} bytes held", budget.used());
        assert!(kept.backlog.len() < 50, "nothing was dropped");
        assert!(kept.missing || kept.backlog[0].msg_id > 1);
        assert_eq!(kept.backlog.last().unwrap().msg_id, 50, "the newest stays");
        tx.send(output()).await.unwrap();
        drop(kept);
        while turns.get("s3").is_some() {
            tokio::task::yield_now().await;
        }
        drop(turn);
        assert_eq!(budget.used(), 0, "a finished turn gives its bytes back");
    }
}
