//! Building responses: JSON bodies and the error format of `docs/protocol.md`, "Errors".

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::error::{Error, ErrorCode};

/// `status` with `value` as its JSON body.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Bytes> {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Bytes::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => error_response(&Error::internal(error)),
    }
}

/// The response for `error`: its status and its JSON body. Internal and unavailability errors
/// are logged with their cause (inside the request's span, so with its request id); the body
/// never carries the cause.
pub fn error_response(error: &Error) -> Response<Bytes> {
    if matches!(
        error.code(),
        ErrorCode::Internal | ErrorCode::ServiceUnavailable
    ) {
        let cause = std::error::Error::source(error).map(ToString::to_string);
        tracing::error!(code = %error.code(), cause, "request failed");
    }
    let status = StatusCode::from_u16(error.code().http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, &error.body());
    *response.status_mut() = status;
    response
}
