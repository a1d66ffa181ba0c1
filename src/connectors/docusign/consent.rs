//! DocuSign's consent URL, and what its OAuth error replies mean.

use crate::auth::{AuthError, ExplainRefusal, Refusal};

/// How DocuSign names itself in errors.
pub(crate) const VENDOR: &str = "DocuSign";

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

/// What DocuSign's refusals of a token request mean; `consent` is the URL that grants consent.
pub fn refusals(consent: String) -> ExplainRefusal {
    Box::new(move |r| explain(r, &consent))
}

/// Turns an OAuth error reply (`{"error","error_description"}`) into an `AuthError`.
fn explain(r: &Refusal, consent: &str) -> AuthError {
    let (error, description) = (r.error.clone(), r.description.clone());
    if error == "consent_required" || description == "consent_required" {
        return AuthError::Consent { vendor: VENDOR, url: consent.to_owned() };
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
    AuthError::Rejected {
        vendor: VENDOR,
        status: r.status,
        error: if error.is_empty() { "unknown".into() } else { error },
        description,
        hint,
    }
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
        let classify = |status, body| refusals("U".into())(&Refusal::from_reply(status, &body));
        let c = classify(400, json!({"error": "consent_required"}));
        assert!(matches!(c, AuthError::Consent { ref url, .. } if url == "U"));
        assert!(c.to_string().starts_with("DocuSign answered consent_required: "), "{c}");
        let c = classify(400, json!({"error": "invalid_grant", "error_description": "user_not_found"}));
        assert!(c.to_string().contains("user_id"), "{c}");
        assert_eq!(c.exit_code(), crate::exit::Exit::Auth);
        assert_eq!(
            classify(401, json!({"error": 7})).to_string(),
            "DocuSign refused the token request: HTTP 401 unknown : see DocuSign's OAuth troubleshooting for this error"
        );
    }
}
