//! Answers written as JSON, with the photo answers `photo_answers` keeps spliced in as the JSON they were
//! written as once. async-graphql's own serialisation (serde) would write such an answer, a
//! `Value::Binary`, as an array of numbers; this writer writes the bytes it holds. No output type of this
//! schema is binary, so a `Binary` in an answer is always a kept photo answer.
//!
//! Written here, not taken from serde: it is the one case serde cannot express (serde_json's `RawValue`
//! parses its text again each time it is made), and the rest is a walk of the tree over serde_json's own
//! string and number writers, so every other value comes out byte for byte as serde_json writes it.

use async_graphql::Value;

/// `response` as JSON: `data`, then `extensions` and `errors` when it has any (async-graphql's field order).
pub fn response(response: &async_graphql::Response) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(br#"{"data":"#);
    value(&mut out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(br#","extensions":"#);
        serde_json::to_writer(&mut out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(br#","errors":"#);
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.push(b'}');
    Ok(out)
}

/// Append `value` to `out` as JSON; a `Binary` is JSON already.
pub fn value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => serde_json::to_writer(&mut *out, number)?,
        Value::String(text) => serde_json::to_writer(&mut *out, text)?,
        Value::Enum(name) => serde_json::to_writer(&mut *out, name.as_str())?,
        Value::Binary(json) => out.extend_from_slice(json),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self::value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (name, field)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, name.as_str())?;
                out.push(b':');
                self::value(out, field)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Value {
        let json = serde_json::json!({
            "photos": {
                "edges": [
                    { "cursor": "YWJj", "node": { "id": "1", "name": "pier \"1\"\n\u{1F600} é", "width": 4032,
                      "ratio": 1.5, "gone": null, "ok": true, "no": false, "comments": [] } },
                    { "cursor": "ZGVm", "node": {} }
                ],
                "pageInfo": { "hasNextPage": true, "endCursor": "</script>\u{0}" }
            }
        });
        let mut tree = Value::from_json(json).expect("a value");
        if let Value::Object(fields) = &mut tree {
            fields.insert(async_graphql::Name::new("status"), Value::Enum(async_graphql::Name::new("READY")));
        }
        tree
    }

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let mut response = async_graphql::Response::new(tree());
        assert_eq!(super::response(&response).unwrap(), serde_json::to_vec(&response).unwrap());
        let mut error =
            async_graphql::ServerError::new("no such photo", Some(async_graphql::Pos { line: 1, column: 3 }));
        error.path = vec![async_graphql::PathSegment::Field("photo".into())];
        response.errors.push(error);
        response.extensions.insert("cost".into(), Value::from(3));
        assert_eq!(super::response(&response).unwrap(), serde_json::to_vec(&response).unwrap());
    }

    #[test]
    fn a_kept_answer_is_spliced_in_as_the_json_it_is() {
        let mut kept = Vec::new();
        value(&mut kept, &tree()).unwrap();
        let spliced = Value::List(vec![Value::Binary(kept.into()), Value::Null]);
        let written = super::response(&async_graphql::Response::new(spliced)).unwrap();
        let expected = serde_json::json!({ "data": [serde_json::to_value(tree()).unwrap(), null] });
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&written).unwrap(), expected);
    }
}
