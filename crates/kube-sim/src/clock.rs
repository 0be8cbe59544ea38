//! The simulated clock that every timestamp, delay and deadline of kube-sim reads, and the
//! timing profiles of the simulation.
//!
//! [`SimClock`] runs in one of two modes:
//! - [`ClockMode::Realtime`]: `now() = start + wall time elapsed × speed + advanced`, where
//!   `advanced` is the sum of all [`SimClock::advance`] calls (so tests may still jump ahead).
//! - [`ClockMode::Manual`]: `now() = start + advanced`; time moves only through
//!   [`SimClock::advance`] (`POST /_sim/advance`).
//!
//! [`Profile`] bundles the timings of the simulation: how often the controllers tick, how long
//! a pod takes to become ready by default, the longest termination grace period honoured, and
//! the speed of the realtime clock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// How the simulated clock moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// Follows the wall clock (scaled by the speed), plus any explicit advances.
    Realtime,
    /// Moves only when [`SimClock::advance`] is called.
    Manual,
}

#[derive(Debug)]
struct ClockState {
    mode: ClockMode,
    start: DateTime<Utc>,
    wall_start: Instant,
    speed: f64,
    advanced: Duration,
}

/// A shared simulated clock; clones read and move the same time.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<ClockState>>,
}

impl SimClock {
    /// A clock reading `start` now, moving at speed 1.0 in realtime mode.
    pub fn new(mode: ClockMode, start: DateTime<Utc>) -> Self {
        Self::with_speed(mode, start, 1.0)
    }

    /// A clock reading `start` now whose realtime mode runs `speed` times faster than the wall
    /// clock. A speed that is not a positive finite number is taken as 1.0.
    pub fn with_speed(mode: ClockMode, start: DateTime<Utc>, speed: f64) -> Self {
        let state = ClockState {
            mode,
            start,
            wall_start: Instant::now(),
            speed: sanitize_speed(speed),
            advanced: Duration::ZERO,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        // The state is plain data that is always left consistent, so a poisoned lock is safe.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        let state = self.lock();
        let elapsed = match state.mode {
            ClockMode::Manual => state.advanced,
            ClockMode::Realtime => {
                // Saturates instead of panicking on absurd speeds.
                let scaled = state.wall_start.elapsed().as_secs_f64() * state.speed;
                Duration::try_from_secs_f64(scaled)
                    .unwrap_or(Duration::MAX)
                    .saturating_add(state.advanced)
            }
        };
        let elapsed = chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX);
        state
            .start
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Moves the clock forward by `d` (in either mode).
    pub fn advance(&self, d: Duration) {
        let mut state = self.lock();
        state.advanced = state.advanced.saturating_add(d);
    }

    /// The mode the clock runs in.
    pub fn mode(&self) -> ClockMode {
        self.lock().mode
    }

    /// The speed of the realtime mode (1.0 = wall-clock speed).
    pub fn speed(&self) -> f64 {
        self.lock().speed
    }

    /// Changes the speed of the realtime mode from now on, without jumping the current time.
    pub fn set_speed(&self, speed: f64) {
        let now = self.now();
        let mut state = self.lock();
        state.start = now;
        state.wall_start = Instant::now();
        state.advanced = Duration::ZERO;
        state.speed = sanitize_speed(speed);
    }
}

fn sanitize_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 { speed } else { 1.0 }
}

/// Timings of the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// How often the controllers run (one [`crate::controllers::Controllers::tick`] per period).
    pub tick: Duration,
    /// How long a pod with the default `ready` behaviour stays `ContainerCreating`; also the
    /// start-up time of the other behaviours.
    pub pod_ready_after: Duration,
    /// The longest termination grace period honoured (`--max-grace`); a terminating pod is
    /// removed after `min(terminationGracePeriodSeconds, max_grace)`.
    pub max_grace: Duration,
    /// The speed of the realtime clock (1.0 = wall-clock speed).
    pub speed: f64,
}

impl Profile {
    /// Quick timings for tests: a 3-replica rolling update finishes in well under 2 s of wall
    /// time (tick 25 ms, pods ready after 150 ms, terminating pods gone after 100 ms).
    pub fn fast() -> Self {
        Self {
            tick: Duration::from_millis(25),
            pod_ready_after: Duration::from_millis(150),
            max_grace: Duration::from_millis(100),
            speed: 1.0,
        }
    }

    /// Timings that look like a small real cluster: tick 100 ms, pods ready after 2 s,
    /// terminating pods gone after at most 1 s.
    pub fn realistic() -> Self {
        Self {
            tick: Duration::from_millis(100),
            pod_ready_after: Duration::from_secs(2),
            max_grace: Duration::from_secs(1),
            speed: 1.0,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self::realistic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = SimClock::new(ClockMode::Manual, start());
        assert_eq!(clock.now(), start());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), start());
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), start() + chrono::Duration::milliseconds(1500));
        assert_eq!(clock.mode(), ClockMode::Manual);
    }

    #[test]
    fn clones_share_the_same_time() {
        let clock = SimClock::new(ClockMode::Manual, start());
        let other = clock.clone();
        other.advance(Duration::from_secs(3));
        assert_eq!(clock.now(), start() + chrono::Duration::seconds(3));
    }

    #[test]
    fn realtime_clock_follows_the_wall_clock_scaled_by_speed() {
        let clock = SimClock::with_speed(ClockMode::Realtime, start(), 10.0);
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = clock.now() - start();
        assert!(elapsed >= chrono::Duration::milliseconds(200), "{elapsed}");
        clock.advance(Duration::from_secs(60));
        assert!(clock.now() - start() >= chrono::Duration::seconds(60));
    }

    #[test]
    fn changing_the_speed_does_not_jump_the_time() {
        let clock = SimClock::new(ClockMode::Realtime, start());
        clock.advance(Duration::from_secs(5));
        let before = clock.now();
        clock.set_speed(100.0);
        let after = clock.now();
        assert!(after >= before);
        assert!(after - before < chrono::Duration::seconds(1));
        assert_eq!(clock.speed(), 100.0);
    }

    #[test]
    fn invalid_speeds_fall_back_to_one() {
        assert_eq!(SimClock::with_speed(ClockMode::Realtime, start(), 0.0).speed(), 1.0);
        assert_eq!(
            SimClock::with_speed(ClockMode::Realtime, start(), f64::NAN).speed(),
            1.0
        );
    }

    #[test]
    fn the_fast_profile_is_quicker_than_the_realistic_one() {
        let fast = Profile::fast();
        let real = Profile::realistic();
        assert!(fast.tick < real.tick);
        assert!(fast.pod_ready_after < real.pod_ready_after);
        assert!(fast.pod_ready_after <= Duration::from_millis(200));
        assert!(fast.max_grace < real.max_grace);
    }
}
