//! The HTML the simulated login host shows: error pages and the consent page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::SimConfig;

/// A 400 HTML error page: what Docusign's login host shows instead of redirecting.
pub(super) fn error_page(message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Docusign (simulated): error</title></head>\n<body><h1>Something went \
         wrong</h1>\n<p>{}</p></body></html>\n",
        escape_html(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// The consent page: the app, the scopes, and the accept / deny form.
pub(super) fn consent_page(cfg: &SimConfig, scopes: &[String], id: &str) -> Response {
    let mut items = String::new();
    for scope in scopes {
        items.push_str("<li>");
        items.push_str(&escape_html(scope));
        items.push_str("</li>");
    }
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Docusign (simulated): allow access</title></head>\n<body>\n<h1>Allow \
         access?</h1>\n<p>The app with integration key <code>{app}</code> asks for access to your Docusign account \
         as {user}:</p>\n<ul>{items}</ul>\n<form method=\"post\" action=\"/oauth/auth/consent\">\n<input \
         type=\"hidden\" name=\"request\" value=\"{id}\">\n<button type=\"submit\" name=\"decision\" \
         value=\"accept\">Accept</button>\n<button type=\"submit\" name=\"decision\" \
         value=\"deny\">Deny</button>\n</form>\n</body></html>\n",
        app = escape_html(&cfg.integration_key),
        user = escape_html(&cfg.user_id),
        id = escape_html(id),
    );
    let mut resp = Html(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
