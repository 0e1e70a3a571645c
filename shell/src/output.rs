//! Results for people: maps as aligned `key: value` lines, lists as blocks.
//!
//! Rhai maps are sorted by key, which puts `contact` before `id`. The keys
//! people look for first (ids, numbers, states, subjects) are listed first,
//! in [`LEADING_KEYS`] order, the rest follow alphabetically, and
//! fingerprints and nested values come last.

use rhai::{Array, Dynamic, Map};

/// Keys shown before all others, in this order.
const LEADING_KEYS: &[&str] = &[
    "id", "number", "name", "root", "state", "valid", "subject", "issuer", "usage", "address",
    "host", "port", "url",
];

/// Keys shown after the other one-line values: the long fingerprints.
const TRAILING_KEYS: &[&str] = &["sha1", "sha256"];

/// Formats a value for the REPL and `show`; unit is the empty string.
pub fn format_value(value: &Dynamic) -> String {
    let mut text = String::new();
    write_value(&mut text, value, 0);
    text.trim_end().to_owned()
}

fn write_value(text: &mut String, value: &Dynamic, indent: usize) {
    if value.is_unit() {
        return;
    }
    if let Some(map) = crate::engine::tls::fields_of(value) {
        write_map(text, &map, indent);
        return;
    }
    if let Some(map) = value.read_lock::<Map>() {
        write_map(text, &map, indent);
        return;
    }
    if let Some(array) = value.read_lock::<Array>() {
        write_array(text, &array, indent);
        return;
    }
    text.push_str(&" ".repeat(indent));
    text.push_str(&scalar(value));
    text.push('\n');
}

/// Orders keys: [`LEADING_KEYS`], the other one-line values, [`TRAILING_KEYS`], then nested maps and lists.
fn ordered_keys(map: &Map) -> Vec<&str> {
    let mut keys: Vec<&str> = LEADING_KEYS
        .iter()
        .copied()
        .filter(|key| map.contains_key(*key))
        .collect();
    let others = map
        .keys()
        .map(|key| key.as_str())
        .filter(|key| !LEADING_KEYS.contains(key) && !TRAILING_KEYS.contains(key));
    let (nested, flat): (Vec<&str>, Vec<&str>) =
        others.partition(|key| map.get(*key).is_some_and(is_nested));
    keys.extend(flat);
    keys.extend(
        TRAILING_KEYS
            .iter()
            .copied()
            .filter(|key| map.contains_key(*key)),
    );
    keys.extend(nested);
    keys
}

fn write_map(text: &mut String, map: &Map, indent: usize) {
    if map.is_empty() {
        text.push_str(&" ".repeat(indent));
        text.push_str("(empty)\n");
        return;
    }
    let keys = ordered_keys(map);
    let width = keys
        .iter()
        .filter(|key| map.get(**key).is_some_and(|value| !is_nested(value)))
        .map(|key| key.len())
        .max()
        .unwrap_or(0);
    let pad = " ".repeat(indent);
    for key in keys {
        let Some(value) = map.get(key) else { continue };
        if is_nested(value) {
            text.push_str(&format!("{pad}{key}:\n"));
            write_value(text, value, indent + 2);
        } else {
            let label = format!("{key}:");
            text.push_str(&format!(
                "{pad}{label:width$} {}\n",
                scalar(value),
                width = width + 1
            ));
        }
    }
}

fn write_array(text: &mut String, array: &Array, indent: usize) {
    let pad = " ".repeat(indent);
    if array.is_empty() {
        text.push_str(&format!("{pad}(none)\n"));
        return;
    }
    let blocks = array.iter().any(is_nested);
    if !blocks {
        for item in array {
            text.push_str(&format!("{pad}- {}\n", scalar(item)));
        }
        return;
    }
    for (index, item) in array.iter().enumerate() {
        if index > 0 && indent == 0 {
            text.push('\n');
        }
        let mut block = String::new();
        write_value(&mut block, item, 0);
        for (line_number, line) in block.lines().enumerate() {
            let marker = if line_number == 0 { "- " } else { "  " };
            text.push_str(&format!("{pad}{marker}{line}\n"));
        }
    }
}

fn is_nested(value: &Dynamic) -> bool {
    if crate::engine::tls::fields_of(value).is_some() {
        return true;
    }
    if let Some(map) = value.read_lock::<Map>() {
        return !map.is_empty();
    }
    if let Some(array) = value.read_lock::<Array>() {
        return array
            .iter()
            .any(|item| item.is::<Map>() || item.is::<Array>())
            || array.len() > 1;
    }
    false
}

/// Formats a value that fits on one line.
fn scalar(value: &Dynamic) -> String {
    if value.is_unit() {
        return "-".to_owned();
    }
    if let Some(array) = value.read_lock::<Array>() {
        if array.is_empty() {
            return "(none)".to_owned();
        }
        let items: Vec<String> = array.iter().map(scalar).collect();
        return items.join(", ");
    }
    if let Some(map) = value.read_lock::<Map>() {
        if map.is_empty() {
            return "(empty)".to_owned();
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Dynamic)]) -> Dynamic {
        let map: Map = entries
            .iter()
            .map(|(key, value)| ((*key).into(), value.clone()))
            .collect();
        Dynamic::from_map(map)
    }

    #[test]
    fn map_keys_aligned_with_id_first() {
        let value = map(&[
            ("state", Dynamic::from("pending")),
            ("id", Dynamic::from("0001")),
            ("contact_name", Dynamic::from("Ada")),
        ]);
        assert_eq!(
            format_value(&value),
            "id:           0001\nstate:        pending\ncontact_name: Ada"
        );
    }

    #[test]
    fn nested_map_indented() {
        let contact = map(&[("name", Dynamic::from("Ada"))]);
        let value = map(&[("id", Dynamic::from("1")), ("contact", contact)]);
        assert_eq!(format_value(&value), "id: 1\ncontact:\n  name: Ada");
    }

    #[test]
    fn list_of_maps_as_blocks() {
        let first = map(&[("id", Dynamic::from("1")), ("state", Dynamic::from("a"))]);
        let second = map(&[("id", Dynamic::from("2"))]);
        let value = Dynamic::from_array(vec![first, second]);
        assert_eq!(format_value(&value), "- id:    1\n  state: a\n\n- id: 2");
    }

    #[test]
    fn empty_list_says_none() {
        assert_eq!(format_value(&Dynamic::from_array(Vec::new())), "(none)");
    }

    #[test]
    fn unit_is_empty() {
        assert_eq!(format_value(&Dynamic::UNIT), "");
    }
}
