//! Browser upload tickets: an S3 POST policy that pins the object key, the content type, a size range and an
//! expiry, signed with SigV4 (aws-sdk-s3 has no presigned POST, aws-sdk-rust issue #863).

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credentials a policy is signed with.
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// Present for temporary (instance role, SSO) credentials; S3 then requires it as a form field.
    pub session_token: Option<&'a str>,
    pub region: &'a str,
}

/// What an upload may be.
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// Sign the base64 policy with the SigV4 key of `secret` for `date` in `region`: hex HMAC-SHA256.
pub fn sign_policy(policy_base64: &str, secret: &str, date: SystemTime, region: &str) -> String {
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, date, region, "s3");
    aws_sigv4::sign::v4::calculate_signature(key, policy_base64.as_bytes())
}

/// The form fields a client sends, in order, before the file (field `file`).
pub fn form_fields(policy: &PostPolicy, signer: &Signer, now: DateTime<Utc>) -> Vec<(String, String)> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!("{}/{}/{}/s3/aws4_request", signer.access_key_id, now.format("%Y%m%d"), signer.region);
    let mut fields = vec![
        ("key".to_string(), policy.key.to_string()),
        ("Content-Type".to_string(), policy.content_type.to_string()),
        ("x-amz-algorithm".to_string(), ALGORITHM.to_string()),
        ("x-amz-credential".to_string(), credential),
        ("x-amz-date".to_string(), amz_date),
    ];
    if let Some(token) = signer.session_token {
        fields.push(("x-amz-security-token".to_string(), token.to_string()));
    }
    let mut conditions = vec![json!({ "bucket": policy.bucket })];
    conditions.extend(fields.iter().map(|(name, value)| json!({ name: value })));
    conditions.push(json!(["content-length-range", 1, policy.max_bytes]));
    let document = json!({
        "expiration": policy.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "conditions": conditions,
    });
    let encoded = STANDARD.encode(document.to_string());
    let signature = sign_policy(&encoded, signer.secret_access_key, now.into(), signer.region);
    fields.push(("policy".to_string(), encoded));
    fields.push(("x-amz-signature".to_string(), signature));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of AWS's S3 API reference, "Example: Browser-Based Upload using HTTP POST (Using AWS
    /// Signature Version 4)": its policy (base64, as published) and the signature it publishes.
    #[test]
    fn signature_matches_the_published_aws_example() {
        let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        let date = DateTime::parse_from_rfc3339("2015-12-29T00:00:00Z").unwrap().with_timezone(&Utc);
        let signature = sign_policy(policy, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", date.into(), "us-east-1");
        assert_eq!(signature, "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e");
    }

    #[test]
    fn policy_pins_key_type_size_expiry_and_session_token() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z").unwrap().with_timezone(&Utc);
        let policy = PostPolicy {
            bucket: "photos",
            key: "photos/abc.jpg",
            content_type: "image/jpeg",
            max_bytes: 1000,
            expires_at: now + chrono::Duration::minutes(10),
        };
        let signer = Signer {
            access_key_id: "test",
            secret_access_key: "secret",
            session_token: Some("tok"),
            region: "eu-west-1",
        };
        let fields = form_fields(&policy, &signer, now);
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(field("x-amz-credential"), "test/20261128/eu-west-1/s3/aws4_request");
        assert_eq!(field("x-amz-security-token"), "tok");
        let document: serde_json::Value = serde_json::from_slice(&STANDARD.decode(field("policy")).unwrap()).unwrap();
        assert_eq!(document["expiration"], "2026-11-28T10:10:00.000Z");
        let conditions = document["conditions"].as_array().unwrap();
        for expected in [
            json!({"bucket": "photos"}),
            json!({"key": "photos/abc.jpg"}),
            json!({"Content-Type": "image/jpeg"}),
            json!({"x-amz-security-token": "tok"}),
            json!(["content-length-range", 1, 1000]),
        ] {
            assert!(conditions.contains(&expected), "missing {expected}");
        }
        assert_eq!(field("x-amz-signature"), sign_policy(field("policy"), "secret", now.into(), "eu-west-1"));
    }
}
