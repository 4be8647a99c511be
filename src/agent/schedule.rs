//! The daemon's schedule: a cron expression's ticks, each waited for with one timer.
//!
//! tokio-cron-scheduler's `JobScheduler` polls its jobs every 500 ms, which alone costs more
//! CPU than an idle agent may use. Its `Job` keeps the expression and the next tick; the daemon
//! sleeps until that tick and then asks the job whether it is due.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_cron_scheduler::{Job, JobSchedulerError};

/// The longest single sleep: a wall clock stepped while the agent sleeps (NTP, a resumed VM)
/// moves the next tick, and a bounded sleep notices it within this.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A cron schedule, as [`crate::config::Config::schedule`] holds it (six fields, seconds first).
pub(super) struct Schedule {
    job: Job,
}

impl Schedule {
    /// Parses `expr`; the first tick is the first one after now.
    pub(super) fn new(expr: &str) -> Result<Schedule, JobSchedulerError> {
        let mut job = Job::new_async(expr, |_, _| Box::pin(async {}))?;
        // The job counts a tick as due when it falls between two of these calls: this first one
        // sets where counting starts (it never reports a tick itself).
        match job.tick() {
            Ok(_) | Err(JobSchedulerError::NoNextTick) => Ok(Schedule { job }),
            Err(e) => Err(e),
        }
    }

    /// When the next tick falls; `None` when the expression has no tick left (a date that
    /// has passed, or one that never comes, such as the 30th of February).
    pub(super) fn next_tick(&mut self) -> Option<SystemTime> {
        match self.job.job_data().ok()?.next_tick {
            0 => None,
            secs => Some(UNIX_EPOCH + Duration::from_secs(secs)),
        }
    }

    /// Returns at the next tick. Ticks missed while the caller was busy (a cycle longer than
    /// the period) come as one, at once. Never returns if no tick is left.
    pub(super) async fn tick(&mut self) {
        loop {
            let Some(at) = self.next_tick() else {
                return std::future::pending().await;
            };
            let wait = at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                tokio::time::sleep(wait.min(MAX_SLEEP)).await;
                // Checked again, against the clock, in the next turn.
                if wait > MAX_SLEEP {
                    continue;
                }
            }
            match self.job.tick() {
                Ok(true) => return,
                // Woken a little early by the monotonic timer: the remainder is slept next turn.
                Ok(false) => {}
                Err(_) => return std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_tick_is_the_first_one_after_now() {
        let mut every_2s = Schedule::new("*/2 * * * * *").unwrap();
        let now = SystemTime::now();
        let at = every_2s.next_tick().unwrap();
        assert!(at > now - Duration::from_secs(1) && at <= now + Duration::from_secs(2), "{at:?} vs {now:?}");
        let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs % 2, 0);
    }

    #[test]
    fn a_schedule_without_ticks_has_no_next_one() {
        let mut feb_30 = Schedule::new("0 0 0 30 2 *").unwrap();
        assert_eq!(feb_30.next_tick(), None);
    }

    #[tokio::test]
    async fn ticks_come_one_a_period_and_advance() {
        let mut every_s = Schedule::new("* * * * * *").unwrap();
        let first = every_s.next_tick().unwrap();
        every_s.tick().await;
        assert!(SystemTime::now() >= first);
        let second = every_s.next_tick().unwrap();
        assert_eq!(second.duration_since(first).unwrap(), Duration::from_secs(1));
        every_s.tick().await;
        assert!(SystemTime::now() >= second);
    }

    #[tokio::test]
    async fn a_late_caller_gets_one_tick_at_once_for_the_missed_ones() {
        let mut every_s = Schedule::new("* * * * * *").unwrap();
        std::thread::sleep(Duration::from_millis(2_100));
        let t = std::time::Instant::now();
        every_s.tick().await;
        assert!(t.elapsed() < Duration::from_millis(200), "{:?}", t.elapsed());
        // The next one is after now, not one of those missed.
        assert!(every_s.next_tick().unwrap() > SystemTime::now() - Duration::from_millis(1));
    }
}
