//! Signed deliveries (pure), following the Standard Webhooks conventions
//! (<https://www.standardwebhooks.com/>): headers `webhook-id` (the delivery's stable id, what
//! receivers de-duplicate on), `webhook-timestamp` (Unix seconds of this attempt) and
//! `webhook-signature` (`v1,<base64 HMAC-SHA256>` of `<id>.<timestamp>.<body>`), under the
//! endpoint's secret, handed to its owner as `whsec_<base64>`.
//!
//! Endpoint secrets are never stored or published: each is derived from the service's key
//! (`WEBHOOKS_SIGNING_KEY`), the endpoint id and its `secret_version`, so the reference data
//! carries no secret and rotating one is bumping `secret_version`.

use runtime::secret::{encode_base64, hmac_bytes};

/// One endpoint's signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(<redacted>)")
    }
}

impl EndpointSecret {
    /// The secret of `endpoint_id` at `version`, derived from the service's key.
    pub fn derive(service_key: &[u8], endpoint_id: &str, version: i32) -> EndpointSecret {
        let label = format!("attrib-webhook-endpoint/v1/{endpoint_id}/{version}");
        EndpointSecret(hmac_bytes(service_key, label.as_bytes()).to_vec())
    }

    /// From its `whsec_<base64>` text (a secret made elsewhere, and tests).
    pub fn from_text(text: &str) -> Option<EndpointSecret> {
        let bytes = runtime::secret::decode_base64(text.strip_prefix("whsec_")?)?;
        (!bytes.is_empty()).then_some(EndpointSecret(bytes))
    }

    /// The form handed to the endpoint's owner: `whsec_<base64>`.
    pub fn text(&self) -> String {
        format!("whsec_{}", encode_base64(&self.0))
    }

    /// `v1,<base64 signature>` of one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut content = format!("{id}.{timestamp}.").into_bytes();
        content.extend_from_slice(body);
        format!("v1,{}", encode_base64(&hmac_bytes(&self.0, &content)))
    }

    /// The three headers of one attempt.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", self.sign(id, timestamp, body)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification: secret
    /// `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`, timestamp
    /// 1614265330, body `{"test": 2432232314}` signs as
    /// `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`.
    #[test]
    fn the_specifications_example_signs_as_published() {
        let secret =
            EndpointSecret::from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(EndpointSecret::from_text("MfKQ9r8G"), None);
    }

    #[test]
    fn secrets_are_per_endpoint_and_version_and_never_printed() {
        let key = [7u8; 32];
        let a1 = EndpointSecret::derive(&key, "a", 1);
        assert_eq!(
            a1,
            EndpointSecret::derive(&key, "a", 1),
            "derived, not stored"
        );
        assert_ne!(a1, EndpointSecret::derive(&key, "a", 2), "rotation");
        assert_ne!(a1, EndpointSecret::derive(&key, "b", 1));
        assert!(a1.text().starts_with("whsec_") && a1.text().len() == 6 + 44);
        assert_eq!(EndpointSecret::from_text(&a1.text()), Some(a1.clone()));
        assert!(!format!("{a1:?}").contains(&a1.text()[6..]));
        let [id, ts, sig] = a1.headers("msg_1", 1_700_000_000, b"{}");
        assert_eq!((id.1.as_str(), ts.1.as_str()), ("msg_1", "1700000000"));
        assert!(sig.1.starts_with("v1,"));
        assert_ne!(
            sig.1,
            a1.sign("msg_1", 1_700_000_001, b"{}"),
            "the time is signed"
        );
    }
}
