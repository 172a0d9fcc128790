//! The one error type every use case returns, and the narrower errors ports return.
//!
//! [`Error`] carries *meaning* (a code, where the problem comes from, a description and field
//! details), never an HTTP status: a frontend maps [`ErrorCode`] to its status once and
//! serialises [`Error::body`] as it is (`docs/protocol.md`, "Errors").

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A boxed error from an adapter (database driver, broker client...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An adapter's error that several answers may share (the contacts of one failed batch).
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Declares an enum whose variants each have one word on the wire, written once: `as_str`,
/// `Display`, serialisation and the JSON schema (hence the OpenAPI document) all read it.
macro_rules! wire_words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order of declaration.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The word used on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "enum": [$($word),+]})
            }
        }
    };
}

wire_words! {
    /// What went wrong, in the words of the wire format (`code`).
    pub enum ErrorCode {
        /// The request is malformed or breaks a validation rule.
        BadRequest => "bad_request",
        /// No valid credentials were presented.
        Unauthorized => "unauthorized",
        /// The credentials are valid but do not allow this.
        Forbidden => "forbidden",
        /// Something the request refers to does not exist.
        NotFound => "not_found",
        /// The path exists, but not with this method.
        MethodNotAllowed => "method_not_allowed",
        /// The request collides with existing state.
        Conflict => "conflict",
        /// The request body is larger than allowed.
        RequestEntityTooLarge => "request_entity_too_large",
        /// The caller holds too much of a limited resource (e.g. open sockets).
        TooManyRequests => "too_many_requests",
        /// A bug or an unexpected failure on the server side.
        Internal => "internal",
        /// A dependency (database, broker) cannot be reached right now.
        ServiceUnavailable => "service_unavailable",
    }
}

impl ErrorCode {
    /// The HTTP status the code is named after, for HTTP frontends (the one mapping every
    /// frontend shares, so that poem, axum or any other answer alike).
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::RequestEntityTooLarge => 413,
            Self::TooManyRequests => 429,
            Self::Internal => 500,
            Self::ServiceUnavailable => 503,
        }
    }
}

wire_words! {
    /// Which part of the request the error is about (`origin`).
    pub enum Origin {
        /// The request body.
        Body => "body",
        /// A path segment.
        Path => "path",
        /// The query string.
        Query => "query",
        /// A request header.
        Headers => "headers",
        /// A cookie.
        Cookies => "cookies",
        /// The authentication context reference of the token is too low.
        Acr => "acr",
        /// Not attributable to one part of the request.
        NotDefined => "not_defined",
    }
}

wire_words! {
    /// Why one field failed: the value of an entry of `details`.
    pub enum Detail {
        /// The field is missing or empty.
        Required => "required",
        /// The field is present but not of the expected shape (not a UUID, not base64...).
        Malformed => "malformed",
        /// The field has the right shape but a value that is not accepted.
        Invalid => "invalid",
        /// The value collides with existing state.
        Conflict => "conflict",
        /// The value refers to something that does not exist.
        NotFound => "not_found",
        /// The value is not allowed for this caller.
        Forbidden => "forbidden",
    }
}

/// The error of every use case: everything a frontend needs to answer, already decided.
///
/// Two errors are equal when their wire representations are equal; the
/// [`source`](std::error::Error::source) (kept for logs only) is not compared.
#[derive(Clone, thiserror::Error)]
#[error("{code} ({origin}): {desc}")]
pub struct Error {
    code: ErrorCode,
    origin: Origin,
    desc: String,
    details: BTreeMap<String, String>,
    #[source]
    source: Option<SharedError>,
}

/// The JSON body of an error response (`docs/protocol.md`, "Errors").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[schemars(
    rename = "Error",
    deny_unknown_fields,
    description = "The body of every error response."
)]
pub struct ErrorBody<'a> {
    /// See [`ErrorCode`].
    #[schemars(description = "What went wrong, named after the HTTP status.")]
    pub code: ErrorCode,
    /// See [`Origin`].
    #[schemars(description = "Which part of the request the error is about.")]
    pub origin: Origin,
    /// Human-readable description.
    pub desc: &'a str,
    /// Field (a dotted path for nested body fields) -> a [`Detail`] word, or the required
    /// level for `required_acr`.
    #[schemars(
        description = "Field (a dotted path for nested body fields) -> required, malformed, invalid, conflict, not_found or forbidden; `required_acr` -> the level required."
    )]
    pub details: &'a BTreeMap<String, String>,
}

impl Error {
    /// A new error without details.
    pub fn new(code: ErrorCode, origin: Origin, desc: impl Into<String>) -> Self {
        Self {
            code,
            origin,
            desc: desc.into(),
            details: BTreeMap::new(),
            source: None,
        }
    }

    /// Adds one field detail (dotted path for nested body fields).
    #[must_use]
    pub fn with_detail(self, field: impl Into<String>, detail: Detail) -> Self {
        self.with_detail_value(field, detail.as_str())
    }

    /// Adds one detail whose value is not a [`Detail`] word (such as `required_acr`).
    #[must_use]
    pub fn with_detail_value(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(field.into(), value.into());
        self
    }

    /// Attaches the underlying cause, for logs; it never reaches the wire.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// 400 on the body with one field detail.
    pub fn bad_body(desc: impl Into<String>, field: &str, detail: Detail) -> Self {
        Self::new(ErrorCode::BadRequest, Origin::Body, desc).with_detail(field, detail)
    }

    /// 401 about an authentication cookie.
    pub fn unauthorized_cookie(field: &str, detail: Detail) -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            Origin::Cookies,
            format!("{field} cookie {}", detail.as_str()),
        )
        .with_detail(field, detail)
    }

    /// 403 because the token's ACR is below `required`.
    pub fn acr_too_low(required: u8) -> Self {
        Self::new(
            ErrorCode::Forbidden,
            Origin::Acr,
            format!("an ACR of at least {required} is required"),
        )
        .with_detail("acr", Detail::Forbidden)
        .with_detail_value("required_acr", required.to_string())
    }

    /// An unexpected failure. The description stays generic so that no SQL, path or secret
    /// reaches a client; the cause is kept as the source for logs.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorCode::Internal, Origin::NotDefined, "internal error").with_source(source)
    }

    /// A dependency cannot be reached; the cause is kept for logs only.
    pub fn service_unavailable(source: impl Into<BoxError>) -> Self {
        Self::new(
            ErrorCode::ServiceUnavailable,
            Origin::NotDefined,
            "a dependency of the server is unavailable, retry later",
        )
        .with_source(source)
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The origin.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The human-readable description.
    pub fn desc(&self) -> &str {
        &self.desc
    }

    /// Field -> detail.
    pub fn details(&self) -> &BTreeMap<String, String> {
        &self.details
    }

    /// The body to send, ready for `serde_json`.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            code: self.code,
            origin: self.origin,
            desc: &self.desc,
            details: &self.details,
        }
    }

    /// The body as a JSON value (handy in tests and frontends).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.code,
            "origin": self.origin,
            "desc": self.desc,
            "details": self.details,
        })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("origin", &self.origin)
            .field("desc", &self.desc)
            .field("details", &self.details)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.origin == other.origin
            && self.desc == other.desc
            && self.details == other.details
    }
}

/// What a storage port (box store, identity directory, token introspection) can fail with.
/// Cloning shares the cause: one failed batch answers each of its callers.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A key share with the same `other_share_hash` is already stored.
    #[error("a key share with this other_share_hash is already stored")]
    KeyShareConflict,
    /// A row a change set changes or deletes does not exist; nothing was written.
    #[error("a row to change does not exist")]
    NotFound,
    /// A row a change set adds exists already (a second join); nothing was written.
    #[error("a row to add exists already")]
    Conflict,
    /// The storage cannot be reached (connection refused, pool timed out...).
    #[error("storage unavailable")]
    Unavailable(#[source] SharedError),
    /// Any other storage failure.
    #[error("storage failure")]
    Backend(#[source] SharedError),
}

impl StoreError {
    /// The storage cannot be reached, because of `cause`.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(Arc::from(cause.into()))
    }

    /// The storage failed otherwise, because of `cause`.
    pub fn backend(cause: impl Into<BoxError>) -> Self {
        Self::Backend(Arc::from(cause.into()))
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::KeyShareConflict => Error::new(
                ErrorCode::Conflict,
                Origin::Body,
                "a key share with this other_share_hash already exists",
            )
            .with_detail("key_share.other_share_hash", Detail::Conflict),
            StoreError::NotFound => Error::new(
                ErrorCode::NotFound,
                Origin::NotDefined,
                "what the request changes does not exist",
            ),
            StoreError::Conflict => Error::new(
                ErrorCode::Conflict,
                Origin::NotDefined,
                "what the request adds exists already",
            ),
            StoreError::Unavailable(source) => Error {
                source: Some(source),
                ..Error::service_unavailable("")
            },
            StoreError::Backend(source) => Error {
                source: Some(source),
                ..Error::internal("")
            },
        }
    }
}

/// What publishing to, or subscribing on, the notification bus can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The broker cannot be reached.
    #[error("notification bus unavailable")]
    Unavailable(#[source] BoxError),
}

impl From<BusError> for Error {
    fn from(error: BusError) -> Self {
        match error {
            BusError::Unavailable(source) => Error::service_unavailable(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_serialises_to_the_documented_format() {
        let error = Error::bad_body("invalid contact request", "box.title", Detail::Required)
            .with_detail("key_share.other_share_hash", Detail::Malformed);
        assert_eq!(
            serde_json::to_value(error.body()).unwrap(),
            json!({
                "code": "bad_request",
                "origin": "body",
                "desc": "invalid contact request",
                "details": {"box.title": "required", "key_share.other_share_hash": "malformed"}
            })
        );
        assert_eq!(serde_json::to_value(error.body()).unwrap(), error.to_json());
    }

    #[test]
    fn acr_error_carries_the_required_level() {
        assert_eq!(
            Error::acr_too_low(2).to_json(),
            json!({
                "code": "forbidden",
                "origin": "acr",
                "desc": "an ACR of at least 2 is required",
                "details": {"acr": "forbidden", "required_acr": "2"}
            })
        );
    }

    #[test]
    fn internal_errors_keep_the_cause_out_of_the_body() {
        let error = Error::internal("duplicate key value violates unique constraint \"secret\"");
        let body = error.to_json().to_string();
        assert!(!body.contains("constraint"), "{body}");
        assert_eq!(
            std::error::Error::source(&error).map(|s| s.to_string()),
            Some("duplicate key value violates unique constraint \"secret\"".to_owned())
        );
    }

    #[test]
    fn store_errors_map_to_wire_errors() {
        assert_eq!(
            Error::from(StoreError::KeyShareConflict).to_json(),
            json!({
                "code": "conflict",
                "origin": "body",
                "desc": "a key share with this other_share_hash already exists",
                "details": {"key_share.other_share_hash": "conflict"}
            })
        );
        assert_eq!(
            Error::from(StoreError::unavailable("connection refused")).code(),
            ErrorCode::ServiceUnavailable
        );
        assert_eq!(
            Error::from(StoreError::backend("boom")).code(),
            ErrorCode::Internal
        );
        assert_eq!(
            Error::from(BusError::Unavailable("down".into())).code(),
            ErrorCode::ServiceUnavailable
        );
    }
}
