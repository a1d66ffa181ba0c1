//! The consent URL, and the meaning of the OAuth error replies.

use super::AuthError;

/// The URL an administrator opens once to grant the app consent for `scopes`.
pub fn consent_url(auth_base: &str, client_id: &str, redirect_uri: &str, scopes: &[String]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes.join(" "))
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .finish();
    // DocuSign's own examples write spaces as %20; a literal '+' was already escaped as %2B.
    format!("{}/oauth/auth?{}", auth_base.trim_end_matches('/'), query.replace('+', "%20"))
}

/// Turns an OAuth error reply (`{"error","error_description"}`) into an `AuthError`.
pub(crate) fn classify(status: u16, body: &serde_json::Value, consent: &str) -> AuthError {
    let field = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (error, description) = (field("error"), field("error_description"));
    if error == "consent_required" || description == "consent_required" {
        return AuthError::Consent { url: consent.to_owned() };
    }
    let hint = match description.as_str() {
        "no_valid_keys_or_signatures" => {
            "the private key does not belong to this integration key, was deleted, or is for the other environment (demo vs production)"
        }
        "user_not_found" => "docusign.user_id is not a user GUID in this environment",
        "issuer_not_found" => {
            "docusign.integration_key is unknown here, or the app has not been promoted to this environment"
        }
        "unsupported_grant_type" | "invalid_request" => "the token request was malformed; please report this",
        _ if error == "invalid_grant" => "check the key pair, user id, integration key and the machine's clock",
        _ => "see DocuSign's OAuth troubleshooting for this error",
    };
    AuthError::Rejected { status, error: if error.is_empty() { "unknown".into() } else { error }, description, hint }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_is_encoded() {
        let u = consent_url(
            "https://account-d.docusign.com/",
            "ik-1",
            "https://example.com/cb?a=1&b=2",
            &["signature".into(), "impersonation".into()],
        );
        assert_eq!(
            u,
            "https://account-d.docusign.com/oauth/auth?response_type=code&scope=signature%20impersonation&client_id=ik-1&redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fa%3D1%26b%3D2"
        );
    }

    #[test]
    fn errors_classified() {
        let c = classify(400, &json!({"error": "consent_required"}), "U");
        assert!(matches!(c, AuthError::Consent { ref url } if url == "U"));
        let c = classify(400, &json!({"error": "invalid_grant", "error_description": "user_not_found"}), "U");
        assert!(c.to_string().contains("user_id"), "{c}");
        assert_eq!(c.exit_code(), crate::error::Exit::Auth);
    }
}
