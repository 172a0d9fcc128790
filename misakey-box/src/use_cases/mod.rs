//! The use cases, as methods of [`crate::BoxService`], independent of any HTTP framework.

mod authorization;
mod contact;
mod socket_session;

pub use authorization::{Caller, Credentials};
pub use socket_session::{InboundOutcome, SocketSession};

use crate::BoxService;
use crate::domain::AddressedUpdate;

impl BoxService {
    /// Publishes updates whose data is already committed: the one place updates leave the
    /// core. The use cases call it after their store commits; an embedding application calls it
    /// for updates it produces itself (`box.delete`, `file.saved`...) after committing its own
    /// data. A failure is logged and undoes nothing (the data is safe in the store; clients
    /// catch up when they refetch).
    ///
    /// Returns how many updates could not be published.
    pub async fn publish_committed(&self, updates: &[AddressedUpdate]) -> usize {
        let mut failed = 0;
        for AddressedUpdate { recipient, update } in updates {
            if let Err(error) = self
                .ports()
                .bus
                .publish(*recipient, &update.to_frame())
                .await
            {
                failed += 1;
                tracing::warn!(
                    recipient = %recipient,
                    update = update.kind.as_str(),
                    error = %error,
                    "live delivery failed; the data is committed"
                );
            }
        }
        failed
    }
}
