use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::BoxService;
use crate::error::{Detail, Error, ErrorCode, Origin};
use crate::validation::parse_uuid;

/// The credentials a request carries (the `accesstoken` and `tokentype` cookies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The opaque access token.
    pub access_token: Option<&'a str>,
    /// The token type; must be `bearer`, in any case.
    pub token_type: Option<&'a str>,
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The caller's identity (on `/box-users/{id}` routes, equal to the path id).
    pub identity_id: Uuid,
    /// The caller's account, if any.
    pub account_id: Option<Uuid>,
    /// How strongly the caller authenticated.
    pub acr: u8,
    /// When the caller's token expires (`None`: never); a socket lives no longer.
    pub token_expires_at: Option<DateTime<Utc>>,
}

impl BoxService {
    /// Authorises a request on `/box-users/{path_id}/...`, checking in this order
    /// (`docs/protocol.md`, "Authentication"): token present and valid (401), ACR (403, origin
    /// `acr`), path id shape (400), path id is the token's identity (403).
    ///
    /// CSRF and the body come after this: [`crate::http::HttpApi`] checks them.
    pub async fn authorize(
        &self,
        credentials: Credentials<'_>,
        path_id: &str,
    ) -> Result<Caller, Error> {
        let caller = self.authenticate(credentials).await?;
        let Some(path_id) = parse_uuid(path_id) else {
            return Err(Error::new(
                ErrorCode::BadRequest,
                Origin::Path,
                "the id in the path must be a UUID",
            )
            .with_detail("id", Detail::Malformed));
        };
        if path_id != caller.identity_id {
            return Err(Error::new(
                ErrorCode::Forbidden,
                Origin::NotDefined,
                "the id in the path is not the identity of the access token",
            ));
        }
        Ok(caller)
    }

    /// Authenticates the caller of a route that is not the caller's own: token present and
    /// valid (401), then ACR (403, origin `acr`).
    pub async fn authenticate(&self, credentials: Credentials<'_>) -> Result<Caller, Error> {
        let token = match credentials.access_token {
            Some(token) if !token.is_empty() => token,
            _ => return Err(Error::unauthorized_cookie("accesstoken", Detail::Required)),
        };
        if !credentials
            .token_type
            .is_some_and(|kind| kind.eq_ignore_ascii_case("bearer"))
        {
            return Err(Error::unauthorized_cookie("tokentype", Detail::Invalid));
        }
        let info = self
            .ports()
            .tokens
            .introspect(token)
            .await?
            .filter(|info| {
                info.expires_at
                    .is_none_or(|expiry| expiry > self.ports().clock.now())
            })
            .ok_or_else(|| Error::unauthorized_cookie("accesstoken", Detail::Invalid))?;
        let required_acr = self.config().required_acr;
        if info.acr < required_acr {
            return Err(Error::acr_too_low(required_acr));
        }
        Ok(Caller {
            identity_id: info.identity_id,
            account_id: info.account_id,
            acr: info.acr,
            token_expires_at: info.expires_at,
        })
    }
}
