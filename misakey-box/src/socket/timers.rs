//! The deadlines of one socket, served by a single timer.
//!
//! A socket pings, closes when silent, closes when its token expires and may re-check its
//! token. Each as a timer of its own made every pass of the socket's loop poll four timers
//! (and each open socket keep four in memory); here they are plain instants, and the loop
//! sleeps until the earliest one that can fire.

use std::time::Duration;

use tokio::time::Instant;

use super::SocketSettings;

/// What a socket's timer found due, in the order they are served when several are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// The caller's token expired: close with 4001.
    TokenExpired,
    /// Time to check the token again.
    Recheck,
    /// Time to ping the client.
    Ping,
    /// Nothing heard for the idle timeout: close.
    Idle,
}

/// When each of a socket's timed actions is next due.
#[derive(Debug)]
pub(super) struct Deadlines {
    next_ping: Instant,
    ping_interval: Duration,
    idle_timeout: Duration,
    token_expiry: Option<Instant>,
    /// The next re-check and the period, when re-checks are configured.
    recheck: Option<(Instant, Duration)>,
}

impl Deadlines {
    /// The deadlines of a socket opened at `start`: its first ping and re-check one period
    /// after it, and the token's expiry `token_left` from now (`None`: it does not expire).
    pub(super) fn new(
        start: Instant,
        settings: &SocketSettings,
        token_left: Option<Duration>,
    ) -> Self {
        Self {
            next_ping: start + settings.ping_interval,
            ping_interval: settings.ping_interval,
            idle_timeout: settings.idle_timeout,
            token_expiry: token_left.map(|left| Instant::now() + left),
            recheck: settings
                .token_recheck
                .map(|period| (start + period, period)),
        }
    }

    /// The earliest deadline, given when the client was last heard and whether a re-check
    /// may start (none while one is in flight).
    pub(super) fn next(&self, last_heard: Instant, may_recheck: bool) -> Instant {
        let mut next = self.next_ping.min(last_heard + self.idle_timeout);
        if let Some(expiry) = self.token_expiry {
            next = next.min(expiry);
        }
        if let Some((at, _)) = self.recheck.filter(|_| may_recheck) {
            next = next.min(at);
        }
        next
    }

    /// The most urgent action due at `now`, its deadline moved to the next time; `None` when
    /// the timer fired for a deadline that moved meanwhile (the client spoke).
    pub(super) fn take_due(
        &mut self,
        now: Instant,
        last_heard: Instant,
        may_recheck: bool,
    ) -> Option<Due> {
        if self.token_expiry.is_some_and(|expiry| expiry <= now) {
            return Some(Due::TokenExpired);
        }
        if let Some((at, period)) = &mut self.recheck
            && may_recheck
            && *at <= now
        {
            *at = now + *period;
            return Some(Due::Recheck);
        }
        if self.next_ping <= now {
            // From now, not from when it was due: a late ping does not bring the next closer.
            self.next_ping = now + self.ping_interval;
            return Some(Due::Ping);
        }
        if last_heard + self.idle_timeout <= now {
            return Some(Due::Idle);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: SocketSettings = SocketSettings {
        ping_interval: Duration::from_secs(45),
        idle_timeout: Duration::from_secs(120),
        max_inbound_frame_bytes: 8 * 1024,
        send_timeout: Duration::from_secs(10),
        token_recheck: Some(Duration::from_secs(30)),
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_fire_in_time_order_and_move_on() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new(start, &SETTINGS, Some(secs(100)));
        let mut fired = Vec::new();
        let mut now = start;
        while fired.last() != Some(&Due::TokenExpired) {
            now = deadlines.next(start, true);
            if let Some(due) = deadlines.take_due(now, start, true) {
                fired.push(due);
            }
        }
        // Re-checks at 30, 60, 90; pings at 45, 90; the token expires at 100, before the
        // idle close (120).
        assert_eq!(
            fired,
            vec![
                Due::Recheck,
                Due::Ping,
                Due::Recheck,
                Due::Recheck,
                Due::Ping,
                Due::TokenExpired
            ]
        );
        assert_eq!(now - start, secs(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_heard_moves_the_idle_close_and_an_early_wake_finds_nothing_due() {
        let start = Instant::now();
        let settings = SocketSettings {
            token_recheck: None,
            ping_interval: secs(500),
            ..SETTINGS
        };
        let mut deadlines = Deadlines::new(start, &settings, None);
        assert_eq!(deadlines.next(start, true), start + secs(120));
        // Heard at 100 s: the timer set for 120 s finds nothing due and moves to 220 s.
        let heard = start + secs(100);
        assert_eq!(deadlines.take_due(start + secs(120), heard, true), None);
        assert_eq!(deadlines.next(heard, true), start + secs(220));
        assert_eq!(
            deadlines.take_due(start + secs(220), heard, true),
            Some(Due::Idle)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_recheck_is_due_while_one_is_in_flight() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new(start, &SETTINGS, None);
        let at_30 = start + secs(30);
        assert_eq!(deadlines.next(start, false), start + secs(45), "the ping");
        assert_eq!(deadlines.take_due(at_30, at_30, false), None);
        // Once the re-check in flight is done, the one due starts, and the next is a period
        // later.
        let at_40 = start + secs(40);
        assert_eq!(deadlines.next(at_40, true), at_30);
        assert_eq!(deadlines.take_due(at_40, at_40, true), Some(Due::Recheck));
        assert_eq!(deadlines.next(at_40, true), start + secs(45));
        assert_eq!(
            deadlines.take_due(start + secs(45), at_40, true),
            Some(Due::Ping)
        );
        assert_eq!(deadlines.next(at_40, true), start + secs(70));
    }
}
