//! Reading cookies and headers with poem's types, for the core's rules of
//! [`misakey_box::web`].

use misakey_box::web::{
    ACCESS_TOKEN_COOKIE, CSRF_COOKIE, CSRF_HEADER, TOKEN_TYPE_COOKIE, new_csrf_token,
};
use misakey_box::{Caller, Credentials, Error};
use poem::Request;
use poem::http::header;
use poem::web::cookie::{Cookie, SameSite};

use crate::AppState;

/// Authorises the request on `/box-users/{path_id}` with its cookies.
pub(crate) async fn authorize(
    state: &AppState,
    req: &Request,
    path_id: &str,
) -> Result<Caller, Error> {
    let jar = req.cookie();
    let (token, token_type) = (jar.get(ACCESS_TOKEN_COOKIE), jar.get(TOKEN_TYPE_COOKIE));
    let credentials = Credentials {
        access_token: token.as_ref().map(Cookie::value_str),
        token_type: token_type.as_ref().map(Cookie::value_str),
    };
    state.service.authorize(credentials, path_id).await
}

/// Double-submit CSRF check.
pub(crate) fn check_csrf(req: &Request) -> Result<(), Error> {
    let header = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok());
    let cookie = req.cookie().get(CSRF_COOKIE);
    misakey_box::web::check_csrf(header, cookie.as_ref().map(Cookie::value_str))
}

/// A fresh CSRF token and the cookie that carries it.
pub(crate) fn new_csrf_cookie(secure: bool) -> (String, Cookie) {
    let token = new_csrf_token();
    let mut cookie = Cookie::new_with_str(CSRF_COOKIE, &token);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(secure);
    (token, cookie)
}

/// The handshake's `Origin` must be allowed.
pub(crate) fn check_origin(req: &Request, allowed: &[String]) -> Result<(), Error> {
    misakey_box::web::check_origin(
        req.headers()
            .get(header::ORIGIN)
            .map(|value| value.as_bytes()),
        allowed,
    )
}
