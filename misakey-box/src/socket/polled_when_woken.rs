//! Streams and futures that the socket loop polls only when they have something new to say.
//!
//! The socket's loop wakes for many reasons (a frame from the bus, a timer, an ack's reset
//! done) and, on each pass, polls every branch it waits on. Polling the client's side of the
//! connection when nothing arrived is not free: the WebSocket library goes down through its
//! lock, the HTTP server's I/O layers and the socket's readiness, and clears its read buffer,
//! to find nothing (callgrind, a fan-out to 200 sockets: a third of the socket tasks'
//! instructions); the shutdown signal and the socket's timer cost less each, but are polled
//! just as often. This wrapper gives the inner stream or future a waker of its own and skips
//! polling it until that waker fires (or it last returned something: more may be buffered).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::Stream;
use futures::task::AtomicWaker;

/// Whether the inner stream's waker fired since it last returned `Pending`, and the task to
/// wake when it does.
#[derive(Debug)]
struct WakeSignal {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WakeSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// `inner` (a stream or a future), polled only once its own waker fired or after it returned
/// something.
pub(super) struct PolledWhenWoken<S> {
    inner: S,
    signal: Arc<WakeSignal>,
    /// The waker handed to `inner`, made once: it wraps `signal`.
    waker: Waker,
}

impl<S> PolledWhenWoken<S> {
    pub(super) fn new(inner: S) -> Self {
        let signal = Arc::new(WakeSignal {
            // Polled the first time: nothing is known yet.
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(Arc::clone(&signal));
        Self {
            inner,
            signal,
            waker,
        }
    }

    /// Polls the inner stream or future with `poll` if its waker fired since it was last
    /// pending; after a result, it is polled again next time.
    fn poll_inner<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut S, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        // Registered before the flag is read, so that a wake in between is not lost.
        self.signal.task.register(cx.waker());
        if !self.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let mut inner_cx = Context::from_waker(&self.waker);
        let polled = poll(&mut self.inner, &mut inner_cx);
        if polled.is_ready() {
            // A stream may hold more, a reset timer may be due: look again next time.
            self.signal.woken.store(true, Ordering::Release);
        }
        polled
    }

    /// The inner stream or future, to change it (a timer's deadline). A change that makes
    /// it ready must wake its waker, as a timer's reset does.
    pub(super) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Stream + Unpin> Stream for PolledWhenWoken<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.poll_inner(cx, |inner, cx| Pin::new(inner).poll_next(cx))
    }
}

impl<F: Future + Unpin> Future for PolledWhenWoken<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.poll_inner(cx, |inner, cx| Pin::new(inner).poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use std::time::Duration;

    use futures::channel::mpsc;
    use futures::task::noop_waker;
    use futures::{FutureExt as _, StreamExt as _};

    use super::*;

    /// Counts how often it is polled.
    struct CountedPolls<S> {
        inner: S,
        polls: Arc<AtomicUsize>,
    }

    impl<S: Stream + Unpin> Stream for CountedPolls<S> {
        type Item = S::Item;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut self.inner).poll_next(cx)
        }
    }

    #[test]
    fn the_inner_stream_is_polled_again_only_after_its_waker_fired_or_it_gave_an_item() {
        let (sender, receiver) = mpsc::unbounded::<u32>();
        let polls = Arc::new(AtomicUsize::new(0));
        let mut stream = PolledWhenWoken::new(CountedPolls {
            inner: receiver,
            polls: Arc::clone(&polls),
        });
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);

        assert_eq!(stream.poll_next_unpin(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // Woken for something else: the inner stream is left alone.
        for _ in 0..3 {
            assert_eq!(stream.poll_next_unpin(&mut cx), Poll::Pending);
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);

        // Two items arrive: the first wakes the inner stream's waker.
        sender.unbounded_send(7).unwrap();
        sender.unbounded_send(8).unwrap();
        assert_eq!(stream.poll_next_unpin(&mut cx), Poll::Ready(Some(7)));
        // After an item, polled again without a wake: the second was already buffered.
        assert_eq!(stream.poll_next_unpin(&mut cx), Poll::Ready(Some(8)));
        assert_eq!(stream.poll_next_unpin(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::Relaxed), 4);
        assert_eq!(stream.poll_next_unpin(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::Relaxed), 4);

        drop(sender);
        assert_eq!(stream.poll_next_unpin(&mut cx), Poll::Ready(None));
        assert_eq!(polls.load(Ordering::Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_moved_earlier_while_wrapped_fires_at_its_new_deadline() {
        let start = tokio::time::Instant::now();
        let mut timer = PolledWhenWoken::new(Box::pin(tokio::time::sleep_until(
            start + Duration::from_secs(100),
        )));
        let waker = noop_waker();
        assert_eq!(
            timer.poll_unpin(&mut Context::from_waker(&waker)),
            Poll::Pending
        );
        timer
            .get_mut()
            .as_mut()
            .reset(start + Duration::from_secs(1));
        let fired = tokio::time::timeout(Duration::from_secs(5), timer).await;
        assert_eq!((fired, start.elapsed()), (Ok(()), Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn a_wake_of_the_inner_stream_wakes_the_task_that_polled_it() {
        let (sender, receiver) = mpsc::unbounded::<u32>();
        let mut stream = PolledWhenWoken::new(receiver);
        let reader = tokio::spawn(async move { stream.next().await });
        tokio::task::yield_now().await;
        sender.unbounded_send(5).unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), reader).await;
        assert_eq!(read.expect("the task was woken").unwrap(), Some(5));
    }
}
