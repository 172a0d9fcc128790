//! Turning errors into responses: the core's [`Error`] as the JSON of DESIGN.md section 4, and
//! every error poem raises itself (unknown route, bad upgrade...) into the same format.

use misakey_box::web::no_such_route;
use misakey_box::{Error, ErrorCode, Origin};
use poem::Response;
use poem::error::ResponseError;
use poem::http::StatusCode;

/// A core error on its way to becoming a response: what handlers return as their error.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct ApiError(pub(crate) Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn as_response(&self) -> Response {
        error_response(&self.0)
    }
}

fn status_of(error: &Error) -> StatusCode {
    StatusCode::from_u16(error.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The response for `error`. Internal and unavailability errors are logged with their cause
/// (inside the request's span, so with its request id); the body never carries the cause.
pub fn error_response(error: &Error) -> Response {
    if matches!(
        error.code(),
        ErrorCode::Internal | ErrorCode::ServiceUnavailable
    ) {
        let cause = std::error::Error::source(error).map(ToString::to_string);
        tracing::error!(code = %error.code(), cause, "request failed");
    }
    let body = serde_json::to_vec(&error.body()).unwrap_or_default();
    Response::builder()
        .status(status_of(error))
        .content_type("application/json")
        .body(body)
}

/// The wire error for an error raised by poem before or around our handlers.
pub(crate) fn from_poem_error(error: poem::Error) -> Response {
    if error.is::<ApiError>() {
        // Already in our format.
        return error.into_response();
    }
    let status = error.status();
    let core = match status {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => no_such_route(),
        status if status.is_client_error() => {
            Error::new(ErrorCode::BadRequest, Origin::NotDefined, error.to_string())
        }
        _ => Error::internal(error.to_string()),
    };
    error_response(&core)
}
