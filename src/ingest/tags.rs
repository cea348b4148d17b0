//! Tags kept on cost facts. Exports carry every tag of every resource; the store keeps only
//! the keys the config names, because each kept key multiplies the number of daily facts.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

/// Folds a tag key so `Team`, ` team ` and `TEAM` are one key, as users mean them (Azure
/// keys are case-insensitive; AWS's depend on the service). Provider prefixes
/// (`aws:createdBy`, `user:Team`) stay part of the key.
pub fn normalise_tag_key(key: &str) -> String {
    crate::focus::fold_case_and_space(key)
}

/// `key` with the first of `prefixes` it starts with rewritten (CUR 2.0's `user_team` →
/// `team`, `aws_createdBy` → `aws:createdBy`), so one tag has one key in every format.
pub fn rewrite_key_prefix<'k>(key: &'k str, prefixes: &[(String, String)]) -> std::borrow::Cow<'k, str> {
    match prefixes.iter().find_map(|(from, to)| key.strip_prefix(from.as_str()).map(|rest| (to, rest))) {
        Some((to, rest)) => format!("{to}{rest}").into(),
        None => key.into(),
    }
}

/// Which tag keys to keep, normalised.
#[derive(Debug, Clone)]
pub struct TagFilter {
    keep: HashSet<String>,
}

impl TagFilter {
    pub fn new(keys: &[String]) -> Self {
        TagFilter { keep: keys.iter().map(|k| normalise_tag_key(k)).collect() }
    }

    /// Whether tag key `key` (before folding) is kept.
    pub fn keeps(&self, key: &str) -> bool {
        self.keep.contains(&normalise_tag_key(key))
    }

    /// The kept tags of one export value (a FOCUS Tags JSON object) as a JSON object with
    /// normalised keys in sorted order, key prefixes rewritten first. Values are trimmed
    /// text; FOCUS allows numbers and booleans (a key without a value is `true`). When two
    /// keys fold to one, the first non-empty value in the document wins. Azure's Tags
    /// column leaves out the outer braces (`"team": "a","env": "b"`); they are added back.
    pub fn kept(&self, raw: &str, prefixes: &[(String, String)]) -> Result<String, String> {
        let raw = raw.trim();
        if raw.is_empty() || raw == "{}" {
            return Ok("{}".into());
        }
        let braced;
        let document = if raw.starts_with('{') || raw.starts_with('[') {
            raw
        } else {
            braced = format!("{{{raw}}}");
            &braced
        };
        let not_tags = |e: &dyn std::fmt::Display| format!("`{}` is not a JSON object of tags ({e})", shorten(raw));
        let object: serde_json::Map<String, Value> = match serde_json::from_str(document).map_err(|e| not_tags(&e))? {
            Value::Object(object) => object,
            // Google Cloud writes labels and tags as a list of key/value records (its FOCUS
            // view's Tags too, once saved as CSV).
            Value::Array(entries) => {
                key_value_entries(entries).ok_or_else(|| not_tags(&"a list, but not of key/value records"))?
            }
            _ => return Err(not_tags(&"neither an object nor a list")),
        };
        let mut kept = BTreeMap::new();
        for (key, value) in object {
            let key = normalise_tag_key(&rewrite_key_prefix(&key, prefixes));
            if !self.keep.contains(&key) || kept.contains_key(&key) {
                continue;
            }
            let text = match value {
                Value::String(s) => s.trim().to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null => continue,
                Value::Array(_) | Value::Object(_) => {
                    return Err(format!(
                        "tag `{key}` has a nested value; FOCUS tag values are text, numbers or booleans"
                    ));
                }
            };
            if !text.is_empty() {
                kept.insert(key, text);
            }
        }
        Ok(serde_json::to_string(&kept).expect("strings serialise"))
    }
}

/// `[{"key": "team", "value": "search"}, …]` as an object; `None` when an entry is no such
/// record.
fn key_value_entries(entries: Vec<Value>) -> Option<serde_json::Map<String, Value>> {
    let mut object = serde_json::Map::new();
    for entry in entries {
        let Value::Object(mut fields) = entry else { return None };
        let Some(Value::String(key)) = fields.remove("key") else { return None };
        object.entry(key).or_insert(fields.remove("value").unwrap_or(Value::Null));
    }
    Some(object)
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> TagFilter {
        TagFilter::new(&["team".into(), " Cost Center".into(), "aws:createdBy".into()])
    }

    #[test]
    fn keys_fold_case_and_whitespace() {
        let kept = filter().kept(r#"{"Team ":"payments","COST  center":"cc-1","env":"prod"}"#, &[]).unwrap();
        assert_eq!(kept, r#"{"cost center":"cc-1","team":"payments"}"#);
    }

    #[test]
    fn provider_prefixes_stay() {
        let kept = filter().kept(r#"{"aws:createdBy":"ci","createdBy":"x"}"#, &[]).unwrap();
        assert_eq!(kept, r#"{"aws:createdby":"ci"}"#);
    }

    #[test]
    fn first_non_empty_value_wins_and_scalars_become_text() {
        let kept = filter().kept(r#"{"team":"","Team":"search","TEAM":"other"}"#, &[]).unwrap();
        assert_eq!(kept, r#"{"team":"search"}"#);
        assert_eq!(filter().kept(r#"{"team":true}"#, &[]).unwrap(), r#"{"team":"true"}"#);
        assert_eq!(filter().kept("", &[]).unwrap(), "{}");
    }

    #[test]
    fn prefixes_are_rewritten_and_missing_braces_added() {
        let prefixes = [("user_".to_string(), String::new()), ("aws_".to_string(), "aws:".to_string())];
        let kept = filter().kept(r#"{"user_Team":"a","aws_createdBy":"ci"}"#, &prefixes).unwrap();
        assert_eq!(kept, r#"{"aws:createdby":"ci","team":"a"}"#);
        assert_eq!(filter().kept(r#""team": "payments","env": "prod""#, &[]).unwrap(), r#"{"team":"payments"}"#);
    }

    #[test]
    fn key_value_records_are_tags() {
        let kept = filter().kept(r#"[{"key":"Team","value":"search"},{"key":"env","value":"prod"}]"#, &[]).unwrap();
        assert_eq!(kept, r#"{"team":"search"}"#);
        assert_eq!(filter().kept("[]", &[]).unwrap(), "{}");
        assert!(filter().kept(r#"["team"]"#, &[]).unwrap_err().contains("not of key/value records"));
    }

    #[test]
    fn malformed_tags_are_reported() {
        assert!(filter().kept("team=payments", &[]).unwrap_err().contains("not a JSON object"));
        assert!(filter().kept(r#"{"team":{"a":1}}"#, &[]).unwrap_err().contains("nested"));
    }
}
