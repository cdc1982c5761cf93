//! The engine's view of the connections (CLIENT LIST, CLIENT KILL): the
//! connection table of [`Stop`], behind the engine's
//! [`ClientDirectory`], and the ticker that moves the table's coarse clock.
//!
//! The table is the drain signal's own (one slot per connection, which
//! already holds the waker a kill must wake), so listing and killing add
//! no second per-connection table, and no second lock at connect and
//! disconnect.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::ClientRecord;
use crate::engine::clients::{ClientClock, ClientDirectory, TICK_MS};

use super::stop::Stop;

impl ClientDirectory for Stop {
    fn clients(&self) -> Vec<Arc<ClientRecord>> {
        Stop::clients(self)
    }

    fn kill(&self, id: u64) -> bool {
        Stop::kill(self, id)
    }

    fn clock(&self) -> &ClientClock {
        &self.clock
    }
}

/// Moves `stop`'s clock every [`TICK_MS`] until the drain signal is up.
pub async fn tick(stop: Arc<Stop>) {
    let mut every = tokio::time::interval(Duration::from_millis(TICK_MS));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.is_stopping() {
        every.tick().await;
        stop.clock.tick();
    }
}
