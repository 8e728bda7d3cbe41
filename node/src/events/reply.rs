//! [`Reply`]: the frames answering one request, in order, ending with one terminal frame.
//! The same type is returned by the in-process dispatcher and by the remote client, so the
//! gateway and the CLI do not care where the agent runs.

use std::{
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::wire::{ErrorCode, ErrorFrame, Frame, OutputFrame};

/// The reply to one request. Dropping it before the terminal frame cancels the request.
pub struct Reply {
    /// A frame known up front (a reply of one frame needs no channel).
    ready: Option<Frame>,
    frames: Option<mpsc::Receiver<Frame>>,
    finished: bool,
    _cancel_on_drop: Option<DropGuard>,
}

impl Reply {
    /// A reply fed through `frames`; dropping the reply cancels `cancel`.
    pub fn new(frames: mpsc::Receiver<Frame>, cancel: CancellationToken) -> Self {
        Reply {
            ready: None,
            frames: Some(frames),
            finished: false,
            _cancel_on_drop: Some(cancel.drop_guard()),
        }
    }

    /// A reply that is one terminal frame.
    pub fn single(frame: Frame) -> Self {
        Reply {
            ready: Some(frame),
            frames: None,
            finished: false,
            _cancel_on_drop: None,
        }
    }

    /// A reply that is one ERROR frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Reply::single(Frame::Error(ErrorFrame::new(code, message)))
    }

    /// The next frame; `None` after the terminal frame. If the producer vanished without a
    /// terminal frame, an internal ERROR stands in for it, so every reply ends with exactly
    /// one terminal frame.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        std::future::poll_fn(|cx| self.poll_frame(cx)).await
    }

    /// Reads to the end: the OUTPUT, or the ERROR (or unexpected response) as an error.
    pub async fn output(mut self) -> Result<OutputFrame, ErrorFrame> {
        while let Some(frame) = self.next_frame().await {
            match frame {
                Frame::Output(out) => return Ok(out),
                Frame::Error(err) => return Err(err),
                Frame::Response(_) => {
                    return Err(ErrorFrame::new(
                        ErrorCode::Internal,
                        "expected OUTPUT, got a response body",
                    ))
                }
                Frame::Stream { .. } | Frame::Event(_) | Frame::Detached { .. } => {}
            }
        }
        Err(ErrorFrame::new(ErrorCode::Internal, "reply ended early"))
    }

    /// Reads to the end and returns the terminal frame.
    pub async fn terminal(mut self) -> Frame {
        let mut last = None;
        while let Some(frame) = self.next_frame().await {
            last = Some(frame);
        }
        last.unwrap_or_else(|| Frame::Error(ErrorFrame::new(ErrorCode::Internal, "empty reply")))
    }

    fn poll_frame(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Frame>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if let Some(frame) = self.ready.take() {
            self.finished = frame.is_terminal();
            return Poll::Ready(Some(frame));
        }
        let Some(frames) = self.frames.as_mut() else {
            self.finished = true;
            return Poll::Ready(None);
        };
        match frames.poll_recv(cx) {
            Poll::Ready(Some(frame)) => {
                self.finished = frame.is_terminal();
                Poll::Ready(Some(frame))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Some(Frame::Error(ErrorFrame::new(
                    ErrorCode::Internal,
                    "the reply ended without a result",
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Stream for Reply {
    type Item = Frame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Frame>> {
        self.get_mut().poll_frame(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_vanished_producer_still_yields_one_terminal_frame() {
        let (tx, rx) = mpsc::channel(4);
        let mut reply = Reply::new(rx, CancellationToken::new());
        tx.send(Frame::Stream {
            content: "a".into(),
        })
        .await
        .unwrap();
        drop(tx);
        assert!(matches!(
            reply.next_frame().await,
            Some(Frame::Stream { .. })
        ));
        assert!(matches!(reply.next_frame().await, Some(Frame::Error(_))));
        assert!(reply.next_frame().await.is_none());
    }

    #[tokio::test]
    async fn a_single_frame_reply_ends_after_its_frame() {
        let mut reply = Reply::error(ErrorCode::NotFound, "gone");
        assert!(matches!(reply.next_frame().await, Some(Frame::Error(_))));
        assert!(reply.next_frame().await.is_none());
    }

    #[tokio::test]
    async fn dropping_a_reply_cancels_its_run() {
        let (_tx, rx) = mpsc::channel(1);
        let token = CancellationToken::new();
        drop(Reply::new(rx, token.clone()));
        assert!(token.is_cancelled());
    }
}
