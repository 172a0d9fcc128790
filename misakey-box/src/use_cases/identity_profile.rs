//! Public profiles and the public keys others need to contact an identity.

use serde_json::Value;
use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::ProfileView;
use crate::error::{Detail, Error, ErrorCode, Origin};
use crate::validation::parse_public_keys_update;

impl BoxService {
    /// The public profile of identity `id`, for any authenticated caller; 404
    /// `{"id": "not_found"}` when no identity has this id.
    pub async fn profile(&self, id: Uuid) -> Result<ProfileView, Error> {
        let identity = self.ports().identities.identity(id).await?.ok_or_else(|| {
            Error::new(ErrorCode::NotFound, Origin::Path, "no identity has this id")
                .with_detail("id", Detail::NotFound)
        })?;
        Ok(identity.profile())
    }

    /// Sets and clears the caller's public keys as `body` says (see
    /// [`parse_public_keys_update`]). The next contact to the caller checks its invitation key
    /// against these.
    pub async fn update_public_keys(&self, caller: &Caller, body: &Value) -> Result<(), Error> {
        let update = parse_public_keys_update(body)?;
        let updated = self
            .ports()
            .identities
            .update_public_keys(caller.identity_id, &update)
            .await?;
        if updated {
            Ok(())
        } else {
            Err(Error::internal(
                "the identity of a valid token is not in the identity directory",
            ))
        }
    }
}
