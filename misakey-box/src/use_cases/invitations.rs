//! The crypto actions of an account (invitations): reading and consuming them.

use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::CryptoActionView;
use crate::error::{Detail, Error, ErrorCode, Origin, StoreError};
use crate::ports::{Change, ChangeSet};

fn no_such_action() -> Error {
    Error::new(
        ErrorCode::NotFound,
        Origin::Path,
        "the account has no crypto action with this id",
    )
    .with_detail("action_id", Detail::NotFound)
}

/// The caller's account; the HTTP layer has checked it is the one in the path.
fn account_of(caller: &Caller) -> Result<Uuid, Error> {
    caller.account_id.ok_or_else(|| {
        Error::new(
            ErrorCode::Forbidden,
            Origin::NotDefined,
            "the caller has no account",
        )
        .with_detail("account_id", Detail::Forbidden)
    })
}

impl BoxService {
    /// The crypto actions of the caller's account, oldest first.
    pub async fn crypto_actions(&self, caller: &Caller) -> Result<Vec<CryptoActionView>, Error> {
        let actions = self
            .ports()
            .inbox
            .list_crypto_actions(account_of(caller)?)
            .await?;
        Ok(actions.iter().map(|action| action.view()).collect())
    }

    /// One crypto action of the caller's account; 404 `{"action_id": "not_found"}` when the
    /// account has none by that id (another account's included).
    pub async fn crypto_action(
        &self,
        caller: &Caller,
        action_id: Uuid,
    ) -> Result<CryptoActionView, Error> {
        self.ports()
            .inbox
            .find_crypto_action(account_of(caller)?, action_id)
            .await?
            .map(|action| action.view())
            .ok_or_else(no_such_action)
    }

    /// Consumes a crypto action of the caller's account: in one transaction it is deleted and
    /// the notifications pointing to it get `"used": true` in their details. 404 when the
    /// account has no such action (consuming twice included); nothing changes then.
    pub async fn consume_crypto_action(
        &self,
        caller: &Caller,
        action_id: Uuid,
    ) -> Result<(), Error> {
        let account_id = account_of(caller)?;
        let changes = ChangeSet {
            changes: vec![
                Change::DeleteCryptoAction {
                    account_id,
                    action_id,
                },
                Change::MarkInvitationUsed {
                    account_id,
                    crypto_action_id: action_id,
                },
            ],
            updates: Vec::new(),
            created_at: self.ports().clock.now(),
        };
        match self.ports().store.commit(&changes).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound) => Err(no_such_action()),
            Err(error) => Err(error.into()),
        }
    }
}
