//! Checks an answer against the schema an OpenAPI 3.1 document gives for it: `$ref`, `type`
//! (one or several, `null` included), `required`, `properties`, `items`, `enum`, `allOf`,
//! `oneOf` — what the project's documents use. Enough to catch a field the document promises
//! and the service does not send, or one of the wrong type.

use serde_json::Value;

/// The schema of `status`'s JSON body for `method` (`get`, `post`) on `path` (a templated
/// path as documented).
pub fn response_schema<'d>(
    doc: &'d Value,
    method: &str,
    path: &str,
    status: u16,
) -> Option<&'d Value> {
    let mut response = &doc["paths"][path][method]["responses"][status.to_string()];
    if let Some(r) = response["$ref"].as_str() {
        response = resolve(doc, r)?;
    }
    response["content"]["application/json"].get("schema")
}

fn resolve<'d>(doc: &'d Value, reference: &str) -> Option<&'d Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every way `value` departs from `schema`, each with its JSON path.
pub fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(r) = schema["$ref"].as_str() {
        return match resolve(doc, r) {
            Some(s) => check(doc, s, value, at),
            None => vec![format!("{at}: unresolvable {r}")],
        };
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            problems.extend(check(doc, s, value, at));
        }
    }
    if let Some(any) = schema["oneOf"].as_array() {
        if !any.iter().any(|s| check(doc, s, value, at).is_empty()) {
            problems.push(format!("{at}: matches none of oneOf"));
        }
    }
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !allowed.is_empty()
        && !allowed
            .iter()
            .any(|t| *t == kind || (*t == "number" && kind == "integer"))
    {
        problems.push(format!("{at}: {kind}, documented as {allowed:?}"));
        return problems;
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(value) {
            problems.push(format!("{at}: {value} is not one of {values:?}"));
        }
    }
    if let Value::Object(fields) = value {
        for name in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !fields.contains_key(name) {
                problems.push(format!("{at}: required `{name}` missing"));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (name, s) in props {
                if let Some(v) = fields.get(name) {
                    problems.extend(check(doc, s, v, &format!("{at}.{name}")));
                }
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            problems.extend(check(doc, s, v, &format!("{at}[{i}]")));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_fields_wrong_types_and_enums_are_named() {
        let doc = json!({"components": {"schemas": {"M": {"type": "object", "required": ["a"], "properties": {
            "a": {"type": "string"}, "b": {"type": ["integer", "null"]}, "c": {"enum": ["x"]},
            "d": {"type": "array", "items": {"$ref": "#/components/schemas/M"}}}}}}});
        let m = json!({"$ref": "#/components/schemas/M"});
        assert!(check(
            &doc,
            &m,
            &json!({"a": "ok", "b": null, "c": "x", "d": [{"a": "y"}]}),
            "$"
        )
        .is_empty());
        let problems = check(&doc, &m, &json!({"b": "1", "c": "z", "d": [{}]}), "$");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("$.d[0]: required `a`")),
            "{problems:?}"
        );
    }
}
