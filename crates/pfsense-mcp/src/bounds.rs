//! Bounded outputs: a list returns a page with the total and how to get the next one, `fields`
//! keeps only the fields asked for, and any result larger than the budget is cut with a note
//! on how to narrow it (Claude Code refuses tool results over 25,000 tokens by default).

use crate::catalog::ToolDef;
use crate::spec::Verb;
use serde_json::{Map, Value, json};

/// Items a list returns when the caller gives no `limit`.
pub const DEFAULT_PAGE: u64 = 50;

/// Default result budget in tokens (under Claude Code's 25,000-token cap).
pub const DEFAULT_BUDGET_TOKENS: usize = 20_000;

/// Rough characters per token of JSON, for the budget (o200k averages about 4 on our output).
const CHARS_PER_TOKEN: usize = 4;

/// Endpoints that can hold more than anyone wants in one answer, where pfSense itself must
/// be asked for a limit (fetching everything first would be slow or time out): logs, and the
/// state table (`DELETE /firewall/states` without a limit can time out on a busy box).
const SERVER_SIDE_LIMIT_PREFIXES: &[&str] = &["/api/v2/status/logs/", "/api/v2/firewall/states"];

/// How a list call is paged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paging {
    /// Applies to this call (a list tool).
    pub list: bool,
    /// The limit the caller gave, if any.
    pub caller_limit: Option<u64>,
    pub offset: u64,
    /// We asked pfSense for this limit on the caller's behalf.
    pub injected_limit: Option<u64>,
    /// Fields to keep in each object.
    pub fields: Option<Vec<String>>,
}

/// Before sending: take out `fields` (ours), and give unbounded log reads a limit.
pub fn plan(def: &ToolDef, args: &mut Map<String, Value>) -> Paging {
    let fields = args.remove("fields").and_then(|v| {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    });
    if def.verb != Verb::List {
        return Paging {
            fields,
            ..Paging::default()
        };
    }
    let caller_limit = args.get("limit").and_then(Value::as_u64).filter(|l| *l > 0);
    let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let mut injected_limit = None;
    if caller_limit.is_none()
        && SERVER_SIDE_LIMIT_PREFIXES
            .iter()
            .any(|p| def.path.starts_with(p))
    {
        args.insert("limit".into(), json!(DEFAULT_PAGE));
        injected_limit = Some(DEFAULT_PAGE);
    }
    Paging {
        list: true,
        caller_limit,
        offset,
        injected_limit,
        fields,
    }
}

fn project(item: &Value, fields: &[String]) -> Value {
    match item {
        Value::Object(m) => {
            let mut out = Map::new();
            for key in ["id", "parent_id"] {
                if let Some(v) = m.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
            for f in fields {
                if let Some(v) = m.get(f) {
                    out.insert(f.clone(), v.clone());
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Data paged, projected and fitted to the budget.
pub struct Shaped {
    pub data: Value,
    /// For lists: where the page is and how to get the next.
    pub paging: Option<Value>,
    /// `data` as compact JSON: serialised once, both to measure it against the budget and as
    /// the result's text.
    pub text: String,
    /// Names in `fields` that no object of the answer has.
    pub fields_not_found: Vec<String>,
}

/// After a successful call: page, project and fit the data.
pub fn shape(paging: &Paging, data: Value, budget_tokens: usize) -> Shaped {
    let budget_chars = budget_tokens.saturating_mul(CHARS_PER_TOKEN);
    let mut data = data;
    let mut fields_not_found = Vec::new();
    if let Some(fields) = &paging.fields {
        // A name no object has is most likely misspelt: said, not silently dropped.
        let objects: Vec<&Map<String, Value>> = match &data {
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            Value::Object(m) => vec![m],
            _ => Vec::new(),
        };
        if !objects.is_empty() {
            fields_not_found = fields
                .iter()
                .filter(|f| !objects.iter().any(|o| o.contains_key(f.as_str())))
                .cloned()
                .collect();
        }
        data = match data {
            Value::Array(items) => Value::Array(items.iter().map(|i| project(i, fields)).collect()),
            Value::Object(_) => project(&data, fields),
            other => other,
        };
    }
    let Value::Array(items) = data else {
        let (data, text) = fit_value(data, budget_chars);
        return Shaped {
            data,
            paging: None,
            text,
            fields_not_found,
        };
    };
    let mut info = Map::new();
    let (mut page, next_offset, total): (Vec<Value>, Option<u64>, Option<u64>) = if !paging.list {
        (items, None, None)
    } else if let Some(limit) = paging.caller_limit.or(paging.injected_limit) {
        // pfSense paged it; more may exist when the page is full.
        let full = items.len() as u64 >= limit;
        let next = full.then_some(paging.offset + limit);
        (items, next, None)
    } else if items.is_empty() && paging.offset > 0 {
        // Nothing from `offset` on: pfrest answers an offset past the end with an empty list,
        // so the total is not known, only that it is at most `offset`.
        info.insert(
            "next".into(),
            Value::String(format!(
                "Nothing at offset {}: the list holds at most {} objects. Call with offset=0 to read it from the start.",
                paging.offset, paging.offset
            )),
        );
        (items, None, None)
    } else {
        // pfSense returned everything from `offset`: page it here, so the total is known.
        let total = paging.offset + items.len() as u64;
        let page: Vec<Value> = items.into_iter().take(DEFAULT_PAGE as usize).collect();
        let end = paging.offset + page.len() as u64;
        (page, (end < total).then_some(end), Some(total))
    };
    // The page's compact JSON, written once: `ends[i]` is where item i ends (its comma and
    // the items before it included), so a cut page's text is a prefix of it.
    let mut json = vec![b'['];
    let mut ends = Vec::with_capacity(page.len());
    for (i, item) in page.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        // Writing a `Value` to memory cannot fail.
        pfsense_json::write(&mut json, item);
        ends.push(json.len());
    }
    // Cut to the budget.
    let mut cut = false;
    loop {
        let size = page.len().checked_sub(1).map_or(0, |last| ends[last]);
        if size <= budget_chars || page.len() <= 1 {
            break;
        }
        let keep = ((page.len() as f64) * (budget_chars as f64 / size as f64) * 0.95) as usize;
        page.truncate(keep.max(1).min(page.len() - 1));
        cut = true;
    }
    json.truncate(page.len().checked_sub(1).map_or(1, |last| ends[last]));
    json.push(b']');
    // serde_json writes UTF-8.
    let mut text = String::from_utf8(json).unwrap_or_default();
    // One object larger than the budget alone: its largest fields are cut (its id and small
    // fields stay), as a single object's would be.
    if text.len() > budget_chars
        && let [only] = page.as_mut_slice()
    {
        fit_in_place(only, budget_chars.saturating_sub(2));
        text = Value::Array(page.clone()).to_string();
        cut = true;
    }
    let returned = page.len() as u64;
    if !paging.list && !cut {
        return Shaped {
            data: Value::Array(page),
            paging: None,
            text,
            fields_not_found,
        };
    }
    let next = if cut {
        Some(paging.offset + returned)
    } else {
        next_offset
    };
    info.insert("offset".into(), json!(paging.offset));
    info.insert("returned".into(), json!(returned));
    if let Some(t) = total {
        info.insert("total".into(), json!(t));
    }
    if let Some(n) = next {
        info.insert("next_offset".into(), json!(n));
        let how = if cut {
            format!(
                "Cut to fit the result budget. Ask for fewer fields (`fields`), filter with `query`, or continue with offset={n} and a smaller limit."
            )
        } else {
            format!(
                "More objects exist: call again with offset={n} (limit sets the page size; `fields` and `query` narrow it)."
            )
        };
        info.insert("next".into(), Value::String(how));
    }
    Shaped {
        data: Value::Array(page),
        paging: Some(Value::Object(info)),
        text,
        fields_not_found,
    }
}

/// Page, project and fit the `data` of a successful result, and say how to get more.
pub fn bound_result(
    result: &mut rmcp::model::CallToolResult,
    paging: &Paging,
    budget_tokens: usize,
) {
    let Some(Value::Object(structured)) = result.structured_content.as_mut() else {
        return;
    };
    let Some(data) = structured.remove("data") else {
        return;
    };
    let Shaped {
        data,
        paging: info,
        mut text,
        fields_not_found,
    } = shape(paging, data, budget_tokens);
    if !fields_not_found.is_empty() {
        let list: Vec<String> = fields_not_found.iter().map(|f| format!("`{f}`")).collect();
        text.push_str(&format!(
            "\nNo object has the field {}: check the names with pfsense_describe_tool.",
            list.join(", ")
        ));
        structured.insert("fields_not_found".into(), json!(fields_not_found));
    }
    if let Some(info) = &info {
        if let Some(next) = info.get("next").and_then(Value::as_str) {
            text.push('\n');
            text.push_str(next);
        }
        if let Some(total) = info.get("total") {
            text.push_str(&format!("\n{} of {total} objects shown.", info["returned"]));
        }
    }
    structured.insert("data".into(), data);
    if let Some(info) = info {
        structured.insert("paging".into(), info);
    }
    result.content = vec![rmcp::model::ContentBlock::text(text)];
}

/// A non-list value larger than the budget gives up its largest parts ([`fit_in_place`]); with
/// its JSON text.
fn fit_value(mut data: Value, budget_chars: usize) -> (Value, String) {
    if json_len(&data) > budget_chars {
        fit_in_place(&mut data, budget_chars);
    }
    let text = pfsense_json::to_string(&data);
    (data, text)
}

/// Characters a cut text or value keeps at least, so that what is shown still says something.
const SHOWN_AT_LEAST: usize = 200;

/// About what a note's own words take (`truncated`, the size, the sentence).
const NOTE_WORDS: usize = 150;

/// Any other result held to the budget: a preview of a large body, a write's long answer, an
/// operator tool's report (Claude Code refuses a result over 25,000 tokens whole). The largest
/// parts of the structured result become notes with their start, small fields such as `next`
/// and `fingerprint` are kept, and the text keeps its head and its end (where a preview says
/// how to execute). Nothing changes when the result fits; what is sent on a confirmed call is
/// the whole request either way.
pub fn fit_result(result: &mut rmcp::model::CallToolResult, budget_tokens: usize) {
    let budget_chars = budget_tokens.saturating_mul(CHARS_PER_TOKEN);
    if let Some(structured) = result.structured_content.as_mut() {
        fit_in_place(structured, budget_chars);
    }
    for block in &mut result.content {
        let cut = block
            .as_text()
            .filter(|t| t.text.len() > budget_chars)
            .map(|t| cut_middle(&t.text, budget_chars));
        if let Some(cut) = cut {
            *block = rmcp::model::ContentBlock::text(cut);
        }
    }
}

/// A cut value's note is about this long (its words, its size and the start it shows): values
/// no longer than this are never cut, so a cut always makes the result smaller.
const NOTE_CHARS: usize = 2 * SHOWN_AT_LEAST + NOTE_WORDS;

/// Shrink `value` to about `target` characters of JSON: an object with several fields gives
/// up its largest field's excess first; anything else becomes a note with its start.
fn fit_in_place(value: &mut Value, target: usize) {
    let map = match value {
        Value::Object(map) if map.len() > 1 && !is_cut(map) => map,
        _ => {
            if json_len(value) > target.max(NOTE_CHARS) {
                *value = summary(value, target).unwrap_or_else(|| cut_note(value, target));
            }
            return;
        }
    };
    // Fields that could not be made smaller.
    let mut settled: Vec<String> = Vec::new();
    // Each round makes a field smaller or settles it: the loop ends.
    loop {
        let size = json_len(map);
        if size <= target {
            return;
        }
        let largest = map
            .iter()
            .filter(|(k, v)| !v.as_object().is_some_and(is_cut) && !settled.contains(k))
            .map(|(k, v)| (k.clone(), json_len(v)))
            .max_by_key(|(_, n)| *n);
        let Some((key, child)) = largest.filter(|(_, n)| *n > NOTE_CHARS) else {
            // No field is worth cutting alone: many small fields keep the leading ones (a
            // little over the target is left as it is, such as a request whose body was cut).
            if size > target + NOTE_CHARS {
                keep_leading_fields(map, target);
            }
            return;
        };
        let child_target = target.saturating_sub(size - child).max(NOTE_CHARS);
        let Some(v) = map.get_mut(&key) else { return };
        fit_in_place(v, child_target);
        if json_len(v) >= child {
            settled.push(key);
        }
    }
}

/// Keep the fields of `map` that fit in `target` characters, in order, and say how many went.
fn keep_leading_fields(map: &mut Map<String, Value>, target: usize) {
    // Room for the note that replaces the rest.
    let mut room = target.saturating_sub(NOTE_WORDS);
    let mut kept = 0;
    for (k, v) in map.iter() {
        let field = k.len() + json_len(v) + 4;
        if field > room {
            break;
        }
        room -= field;
        kept += 1;
    }
    let cut = map.len() - kept;
    let mut index = 0;
    map.retain(|_, _| {
        index += 1;
        index <= kept
    });
    map.insert(
        "…".into(),
        json!({
            "truncated": true,
            "fields_cut": cut,
            "note": "Cut to fit the result budget (--result-budget): the fields before this one are shown.",
        }),
    );
}

/// Fields that say which object an object is: what a list of objects too large to show keeps
/// of each (a preview's removed aliases by name, a diff's changed objects by identity).
const IDENTIFYING_FIELDS: &[&str] = &["id", "identity", "position", "name", "descr", "tool"];

/// An object by its identifying fields (short ones only); `None` when it has none.
pub fn identifying_fields(object: &Value) -> Option<Value> {
    let fields: Map<String, Value> = object
        .as_object()?
        .iter()
        .filter(|(k, v)| IDENTIFYING_FIELDS.contains(&k.as_str()) && json_len(*v) <= 200)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!fields.is_empty()).then_some(Value::Object(fields))
}

/// An object in a few words: its id and name (or, without a name, the start of its
/// description), for one short line of a long list.
pub fn name_of(object: &Value) -> Option<String> {
    let map = object.as_object()?;
    let name = map
        .get("name")
        .or_else(|| map.get("identity"))
        .map(|n| n.to_string())
        .or_else(|| {
            let descr = map.get("descr")?.as_str()?;
            Some(format!("\"{}\"", head(descr, 60)))
        });
    match (map.get("id").or_else(|| map.get("position")), name) {
        (Some(id), Some(name)) => Some(format!("{name} (id {id})")),
        (None, Some(name)) => Some(name),
        (Some(id), None) => Some(format!("id {id}")),
        (None, None) => None,
    }
}

/// A list of objects too large to show, each object cut to its identifying fields, when that
/// fits `target`.
fn summary(value: &Value, target: usize) -> Option<Value> {
    let items = value.as_array()?;
    let mut kept: Vec<Value> = items
        .iter()
        .map(identifying_fields)
        .collect::<Option<_>>()?;
    // As many as fit, in order, when not all do.
    let room = target.saturating_sub(NOTE_WORDS);
    let mut used = 2;
    let fit = kept
        .iter()
        .take_while(|k| {
            used += json_len(*k) + 1;
            used <= room
        })
        .count();
    if fit == 0 {
        return None;
    }
    kept.truncate(fit);
    let note = if fit == items.len() {
        "Cut to fit the result budget (--result-budget): each object by its identifying fields."
    } else {
        "Cut to fit the result budget (--result-budget): the first objects by their identifying fields."
    };
    Some(json!({
        "truncated": true,
        "count": items.len(),
        "shown": fit,
        "note": note,
        "objects": kept,
    }))
}

/// Whether `object` is the note of a cut value.
fn is_cut(object: &Map<String, Value>) -> bool {
    object.get("truncated") == Some(&Value::Bool(true))
}

/// A value too large to show: its size and the start of its JSON.
fn cut_note(value: &Value, target: usize) -> Value {
    let text = value.to_string();
    // The note's own words take part of the target; the start is measured as written,
    // escapes included (JSON in a JSON string escapes every quote).
    let room = target.saturating_sub(NOTE_WORDS).max(SHOWN_AT_LEAST);
    json!({
        "truncated": true,
        "size_chars": text.len(),
        "note": "Cut to fit the result budget (--result-budget); this is the start of it.",
        "start": &text[..escaped_prefix(&text, room)],
    })
}

/// The longest prefix of `text` whose JSON string form (quotes and escapes) fits in `room`.
fn escaped_prefix(text: &str, room: usize) -> usize {
    let mut used = 2;
    for (i, c) in text.char_indices() {
        used += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used > room {
            return i;
        }
    }
    text.len()
}

/// `text` with its middle cut out to fit `budget` characters, saying how much went.
fn cut_middle(text: &str, budget: usize) -> String {
    let head = floor_char_boundary(text, budget * 2 / 3);
    let mut tail = text.len() - budget / 3;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[… {} characters cut to fit the result budget (--result-budget); cut parts of the structured result are marked `truncated` …]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// The first `at` bytes of `text` or fewer, ending on a character boundary.
pub fn head(text: &str, at: usize) -> &str {
    &text[..floor_char_boundary(text, at)]
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The length of `value`'s compact JSON, without writing it.
fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"id": i, "name": format!("a{i}"), "descr": "x"}))
                .collect(),
        )
    }

    /// [`shape`]'s data and paging, once its text is checked to be the data's JSON.
    fn shape_checked(p: &Paging, data: Value, budget: usize) -> (Value, Option<Value>) {
        let shaped = shape(p, data, budget);
        assert_eq!(shaped.text, shaped.data.to_string());
        (shaped.data, shaped.paging)
    }

    #[test]
    fn unbounded_lists_get_a_page_with_the_total() {
        let p = Paging {
            list: true,
            ..Paging::default()
        };
        let (data, info) = shape_checked(&p, items(5000), DEFAULT_BUDGET_TOKENS);
        assert_eq!(data.as_array().unwrap().len(), DEFAULT_PAGE as usize);
        let info = info.unwrap();
        assert_eq!(info["total"], 5000);
        assert_eq!(info["next_offset"], 50);
        assert!(info["next"].as_str().unwrap().contains("offset=50"));
        // An offset past the end: pfrest answers an empty list, and the total is not known.
        let past = Paging {
            list: true,
            offset: 500,
            ..Paging::default()
        };
        let (data, info) = shape_checked(&past, items(0), DEFAULT_BUDGET_TOKENS);
        assert_eq!(data, json!([]));
        let info = info.unwrap();
        assert!(info.get("total").is_none(), "{info}");
        assert!(info.get("next_offset").is_none(), "{info}");
        assert!(
            info["next"].as_str().unwrap().contains("at most 500"),
            "{info}"
        );
    }

    #[test]
    fn fields_project_and_budget_cuts() {
        let p = Paging {
            list: true,
            caller_limit: Some(1000),
            fields: Some(vec!["name".into()]),
            ..Paging::default()
        };
        let (data, info) = shape_checked(&p, items(1000), DEFAULT_BUDGET_TOKENS);
        assert_eq!(data[3], json!({"id": 3, "name": "a3"}));
        assert_eq!(info.unwrap()["next_offset"], 1000);
        let p = Paging {
            list: true,
            caller_limit: Some(1000),
            ..Paging::default()
        };
        let (data, info) = shape_checked(&p, items(1000), 200);
        let n = data.as_array().unwrap().len();
        assert!(n < 1000 && n > 0);
        // 20 items of 32 or 34 characters: 680 with the commas and the bracket, over the
        // 400 of 100 tokens; 20 × 400 / 680 × 0.95 = 11.2 → 11 items, 365 characters.
        let (data, _) = shape_checked(&p, items(20), 100);
        assert_eq!(data.as_array().unwrap().len(), 11);
        // Never less than one item, and an empty page is `[]`.
        let (data, _) = shape_checked(&p, items(10), 1);
        assert_eq!(data.as_array().unwrap().len(), 1);
        let (data, _) = shape_checked(&p, items(0), 1);
        assert_eq!(data, json!([]));
        assert!(
            info.unwrap()["next"]
                .as_str()
                .unwrap()
                .contains("result budget")
        );
    }

    #[test]
    fn a_value_over_the_budget_becomes_a_note_whose_text_is_its_json() {
        let big = json!({"text": "y".repeat(5000)});
        let Shaped { data, text, .. } = shape(&Paging::default(), big.clone(), 100);
        assert_eq!(data["truncated"], true);
        assert_eq!(text, data.to_string());
        let Shaped { data, text, .. } = shape(&Paging::default(), big.clone(), 10_000);
        assert_eq!((data, text), (big.clone(), big.to_string()));
    }

    fn preview_like(objects: usize) -> Value {
        let body: Vec<Value> = (0..objects)
            .map(|i| json!({"name": format!("alias{i}"), "type": "host", "address": ["192.0.2.1"]}))
            .collect();
        json!({
            "preview": true,
            "tool": "pfsense_replace_firewall_aliases",
            "request": {"method": "PUT", "path": "/api/v2/firewall/aliases", "body": body},
            "current": body,
            "fingerprint": "sha256:abc",
            "next": "call again with the same arguments plus confirm: true",
        })
    }

    fn result_of(text: String, structured: Value) -> rmcp::model::CallToolResult {
        crate::outcome::result(text, structured, false)
    }

    #[test]
    fn a_large_result_keeps_its_small_fields_and_the_ends_of_its_text() {
        let structured = preview_like(500);
        let text = format!(
            "Preview only. Body: {}. To execute, call again.",
            structured["request"]["body"]
        );
        let mut r = result_of(text.clone(), structured);
        fit_result(&mut r, 1000);
        let s = r.structured_content.as_ref().unwrap();
        // 1000 tokens are 4000 characters; the notes' own words may go a little over.
        assert!(json_len(s) <= 4000 + 400, "{}", json_len(s));
        assert_eq!(s["fingerprint"], "sha256:abc");
        assert_eq!(
            s["next"],
            "call again with the same arguments plus confirm: true"
        );
        assert_eq!(s["request"]["method"], "PUT");
        assert_eq!(s["request"]["path"], "/api/v2/firewall/aliases");
        assert_eq!(s["current"]["truncated"], true, "{s}");
        assert_eq!(s["request"]["body"]["truncated"], true, "{s}");
        let t = &r.content[0].as_text().unwrap().text;
        assert!(t.len() < 4300, "{}", t.len());
        assert!(t.starts_with("Preview only. Body: [{"), "{t}");
        assert!(t.ends_with("To execute, call again."), "{t}");
        assert!(t.contains("characters cut to fit the result budget"), "{t}");
    }

    #[test]
    fn a_result_that_fits_is_left_alone_and_many_small_fields_keep_the_leading_ones() {
        let structured = preview_like(3);
        let text = "short".to_string();
        let mut r = result_of(text.clone(), structured.clone());
        fit_result(&mut r, 1000);
        assert_eq!(r.structured_content.as_ref(), Some(&structured));
        assert_eq!(r.content[0].as_text().unwrap().text, text);
        // An object of 2000 small fields: no field is worth cutting alone, the leading ones
        // are kept.
        let wide: Map<String, Value> = (0..2000).map(|i| (format!("k{i}"), json!(i))).collect();
        let mut r = result_of(String::new(), json!({"tool": "x", "fields": wide}));
        fit_result(&mut r, 1000);
        let s = r.structured_content.unwrap();
        assert!(json_len(&s) <= 4000, "{}", json_len(&s));
        assert_eq!(s["tool"], "x");
        assert_eq!(s["fields"]["k0"], 0);
        let fields = s["fields"].as_object().unwrap();
        let cut = fields["…"]["fields_cut"].as_u64().unwrap() as usize;
        assert_eq!(fields.len() - 1 + cut, 2000, "{s}");
        assert_eq!(fields.keys().next_back().map(String::as_str), Some("…"));
        // Text in a multi-byte script is cut on character boundaries.
        let mut r = result_of("é".repeat(10_000), json!({}));
        fit_result(&mut r, 1000);
        assert!(r.content[0].as_text().unwrap().text.len() < 4300);
    }
}
