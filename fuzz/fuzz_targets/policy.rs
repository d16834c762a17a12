//! The upload policy builder: any key, content type and size give a policy that decodes as JSON and pins
//! exactly that key, type and size range, signed over exactly what is sent.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use photoshare::blob::policy::{PostPolicy, Signer, form_fields, sign_policy};

fuzz_target!(|input: (String, String, u64, u32, Option<String>)| {
    let (key, content_type, max_bytes, seconds, token) = input;
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
    let policy = PostPolicy {
        bucket: "photos",
        key: &key,
        content_type: &content_type,
        max_bytes,
        expires_at: now + chrono::Duration::seconds(i64::from(seconds)),
    };
    let signer = Signer { access_key_id: "id", secret_access_key: "secret", session_token: token.as_deref(), region: "us-east-1" };
    let fields = form_fields(&policy, &signer, now);
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(field("key"), key);
    assert_eq!(field("Content-Type"), content_type);
    assert_eq!(field("x-amz-signature"), sign_policy(&field("policy"), "secret", now.into(), "us-east-1"));
});
