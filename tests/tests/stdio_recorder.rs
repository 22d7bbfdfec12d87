//! The real binary over stdio, driven by a real MCP client, against a real HTTP server on
//! loopback that records what it receives.

use serde_json::{Value, json};
use tests::mcp::{McpSession, is_error, structured, text};
use tests::recorder::{Answer, Recorder};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

/// The last request that was not a read: mutations read their target before and after.
fn last_change(rec: &Recorder) -> tests::recorder::Recorded {
    rec.requests()
        .into_iter()
        .rfind(|q| q.method != "GET")
        .expect("a change was sent")
}

async fn session(recorder: &Recorder, extra: &[(&str, &str)], args: &[&str]) -> McpSession {
    let url = recorder.url();
    let mut env = vec![("PFSENSE_HOST", url.as_str()), ("PFSENSE_API_KEY", KEY)];
    env.extend_from_slice(extra);
    McpSession::spawn(&tests::binary::pfsense_mcp(), args, &env)
        .await
        .expect("start pfsense-mcp")
}

#[tokio::test]
async fn get_tool_returns_data_and_sends_query_parameters() {
    let rec = Recorder::start().await;
    rec.answer(
        "GET",
        "/api/v2/firewall/aliases",
        Answer::ok(
            json!([{"id": 0, "name": "web_servers", "type": "host", "address": ["10.0.0.5"]}]),
        ),
    );
    let s = session(&rec, &[], &[]).await;
    let r = s
        .call(
            "pfsense_list_firewall_aliases",
            json!({"limit": 2, "sort_by": ["name", "type"], "query": {"name__contains": "web"}}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(structured(&r)["data"][0]["name"], "web_servers");
    let reqs = rec.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.method, "GET");
    assert_eq!(q.path, "/api/v2/firewall/aliases");
    assert_eq!(
        q.query_pairs(),
        vec![
            ("limit".to_string(), "2".to_string()),
            ("sort_by[]".to_string(), "name".to_string()),
            ("sort_by[]".to_string(), "type".to_string()),
            ("name__contains".to_string(), "web".to_string()),
        ]
    );
    assert!(q.body.is_empty(), "GET sends no body");
    assert_eq!(
        q.header("content-type"),
        None,
        "GET must not claim a JSON body"
    );
    assert_eq!(q.header("accept"), Some("application/json"));
    assert_eq!(q.header("x-api-key"), Some(KEY));
    s.close().await;
}

#[tokio::test]
async fn api_errors_come_back_as_tool_errors_with_the_response_id() {
    let rec = Recorder::start().await;
    rec.answer(
        "GET",
        "/api/v2/firewall/alias",
        Answer::envelope(
            404,
            "MODEL_OBJECT_NOT_FOUND",
            "Object with ID `7` does not exist.",
            json!([]),
        ),
    );
    rec.answer(
        "POST",
        "/api/v2/firewall/alias",
        Answer::envelope(
            400,
            "FIELD_INVALID_CHOICE",
            "Field `type` must be one of [host, network, port]",
            json!([]),
        ),
    );
    let s = session(&rec, &[], &[]).await;
    let r = s
        .call("pfsense_get_firewall_alias", json!({"id": 7}))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert_eq!(
        structured(&r)["error"]["response_id"],
        "MODEL_OBJECT_NOT_FOUND"
    );
    assert_eq!(structured(&r)["error"]["http_status"], 404);
    assert!(text(&r).contains("MODEL_OBJECT_NOT_FOUND"), "{}", text(&r));
    assert!(
        text(&r).contains("list the collection again"),
        "a hint says what to do: {}",
        text(&r)
    );
    assert_eq!(rec.requests()[0].query, "id=7");

    let r = s
        .call(
            "pfsense_create_firewall_alias",
            json!({"name": "x", "type": "host", "confirm": true}),
        )
        .await
        .unwrap();
    assert!(is_error(&r));
    assert_eq!(
        structured(&r)["error"]["response_id"],
        "FIELD_INVALID_CHOICE"
    );
    s.close().await;
}

#[tokio::test]
async fn mutation_without_confirm_sends_nothing_and_returns_the_exact_request() {
    let rec = Recorder::start().await;
    let s = session(&rec, &[], &[]).await;
    let r = s
        .call(
            "pfsense_create_firewall_alias",
            json!({"name": "blocklist", "type": "host", "address": ["203.0.113.5"]}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    let v = structured(&r);
    assert_eq!(v["preview"], true);
    assert_eq!(v["executed"], false);
    assert_eq!(v["request"]["method"], "POST");
    assert_eq!(v["request"]["path"], "/api/v2/firewall/alias");
    assert_eq!(
        v["request"]["body"],
        json!({"name": "blocklist", "type": "host", "address": ["203.0.113.5"]})
    );
    assert!(
        v["apply"]
            .as_str()
            .unwrap()
            .contains("pfsense_firewall_apply")
    );
    assert!(text(&r).contains("confirm: true"));
    // The only request: the REST API version, read to decide whether pfrest's dry run can be
    // sent (safety/dry_run.rs); no write.
    assert!(
        rec.requests()
            .iter()
            .all(|q| q.method == "GET" && q.path == "/api/v2/system/restapi/version"),
        "a preview sends no write: {:?}",
        rec.requests()
    );

    // Destructive previews say so, and DELETE previews carry the query string.
    let r = s
        .call(
            "pfsense_delete_firewall_alias",
            json!({"id": 3, "apply": true}),
        )
        .await
        .unwrap();
    let v = structured(&r);
    assert_eq!(v["request"]["method"], "DELETE");
    assert_eq!(v["request"]["query"], json!({"id": "3", "apply": "true"}));
    assert_eq!(v["risk"], "destructive");
    assert!(
        rec.requests().iter().all(|q| q.method == "GET"),
        "a delete preview reads the object and sends nothing else"
    );
    s.close().await;
}

#[tokio::test]
async fn confirmed_mutations_send_the_right_request() {
    let rec = Recorder::start().await;
    let s = session(&rec, &[], &[]).await;

    // POST: everything in a JSON body, unset optional fields absent, confirm never sent.
    let r = s
        .call(
            "pfsense_create_firewall_alias",
            json!({"name": "blocklist", "type": "host", "address": ["203.0.113.5"], "confirm": true}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    let v = structured(&r);
    assert_eq!(v["pending_apply"]["tool"], "pfsense_firewall_apply");
    assert!(text(&r).contains("pfsense_firewall_apply"));
    let q = last_change(&rec);
    assert_eq!(
        (q.method.as_str(), q.path.as_str()),
        ("POST", "/api/v2/firewall/alias")
    );
    assert_eq!(q.query, "", "POST carries nothing in the query string");
    assert_eq!(q.header("content-type"), Some("application/json"));
    assert_eq!(
        q.json(),
        json!({"name": "blocklist", "type": "host", "address": ["203.0.113.5"]})
    );

    // PATCH: id and apply in the body, only the fields given (no spec defaults sent).
    rec.clear();
    let r = s
        .call(
            "pfsense_update_firewall_alias",
            json!({"id": 2, "descr": "updated", "apply": true, "confirm": true}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert!(
        structured(&r).get("pending_apply").is_none(),
        "applied in the same request"
    );
    let q = last_change(&rec);
    assert_eq!(q.method, "PATCH");
    assert_eq!(
        q.json(),
        json!({"id": 2, "descr": "updated", "apply": true})
    );

    // A settings PATCH sends only what was set: nothing else is reset to spec defaults.
    rec.clear();
    s.call(
        "pfsense_update_system_restapi_settings",
        json!({"read_only": false, "confirm": true}),
    )
    .await
    .unwrap();
    assert_eq!(last_change(&rec).json(), json!({"read_only": false}));

    // Nested: parent_id in the body, typed as the parent's string id.
    rec.clear();
    s.call(
        "pfsense_create_services_dhcp_server_static_mapping",
        json!({"parent_id": "lan", "mac": "00:11:22:33:44:55", "ipaddr": "192.168.1.50", "confirm": true}),
    )
    .await
    .unwrap();
    let q = last_change(&rec);
    assert_eq!(q.path, "/api/v2/services/dhcp_server/static_mapping");
    assert_eq!(
        q.json(),
        json!({"parent_id": "lan", "mac": "00:11:22:33:44:55", "ipaddr": "192.168.1.50"})
    );

    // DELETE: id and apply in the query string, no body, no JSON content type.
    rec.clear();
    s.call(
        "pfsense_delete_firewall_alias",
        json!({"id": 3, "apply": true, "confirm": true}),
    )
    .await
    .unwrap();
    let q = last_change(&rec);
    assert_eq!(q.method, "DELETE");
    assert_eq!(q.query, "id=3&apply=true");
    assert!(q.body.is_empty());
    assert_eq!(q.header("content-type"), None);

    // PUT: the list is the body.
    rec.clear();
    s.call(
        "pfsense_replace_firewall_aliases",
        json!({"objects": [{"name": "a", "type": "port", "address": ["443"]}], "confirm": true}),
    )
    .await
    .unwrap();
    let q = last_change(&rec);
    assert_eq!(q.method, "PUT");
    assert_eq!(
        q.json(),
        json!([{"name": "a", "type": "port", "address": ["443"]}])
    );
    s.close().await;
}

#[tokio::test]
async fn wrong_arguments_are_refused_before_any_request() {
    let rec = Recorder::start().await;
    let s = session(&rec, &[], &[]).await;
    let r = s
        .call(
            "pfsense_create_firewall_alias",
            json!({"name": "x", "type": "hosts", "address": "1.2.3.4", "confirm": true}),
        )
        .await
        .unwrap();
    assert!(is_error(&r));
    let t = text(&r);
    assert!(
        t.contains("`type`") && t.contains("\"host\", \"network\", \"port\""),
        "{t}"
    );
    assert!(t.contains("`address`: expected array"), "{t}");

    let r = s
        .call("pfsense_get_firewall_alias", json!({"id": "7"}))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(
        text(&r).contains("`id`: expected integer, got string"),
        "{}",
        text(&r)
    );

    let r = s
        .call("pfsense_get_firewall_alias", json!({}))
        .await
        .unwrap();
    assert!(text(&r).contains("`id`: is required"), "{}", text(&r));

    let r = s
        .call("pfsense_list_firewall_aliases", json!({"limt": 5}))
        .await
        .unwrap();
    assert!(text(&r).contains("Did you mean `limit`?"), "{}", text(&r));

    assert!(rec.requests().is_empty(), "nothing was sent for bad calls");
    assert!(
        s.call("pfsense_no_such_tool", json!({})).await.is_err(),
        "unknown tool is a protocol error"
    );
    s.close().await;
}

#[tokio::test]
async fn tools_list_is_paginated_sorted_and_annotated() {
    let rec = Recorder::start().await;
    let generated = |tools: &[rmcp::model::Tool]| -> usize {
        tools.iter().filter(|t| !is_our_own_tool(&t.name)).count()
    };
    let s = session(
        &rec,
        &[("PFSENSE_PAGE_SIZE", "100"), ("PFSENSE_TOOL_MODE", "full")],
        &[],
    )
    .await;
    let tools = s.list_tools().await.unwrap();
    // Every generated tool but the 17 dangerous operations, plus our own tools.
    assert_eq!(generated(&tools), 677 - 17);
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(!names.contains(&"pfsense_post_diagnostics_reboot"));
    assert!(
        !names.contains(&"pfsense_find_tools"),
        "discovery tools are for compact mode"
    );
    let get = tools
        .iter()
        .find(|t| t.name == "pfsense_get_firewall_alias")
        .unwrap();
    let ann = get.annotations.as_ref().unwrap();
    assert_eq!(ann.read_only_hint, Some(true));
    // Only values that differ from MCP's defaults (readOnly false, destructive true,
    // idempotent false) are sent.
    let del = tools
        .iter()
        .find(|t| t.name == "pfsense_delete_firewall_alias")
        .unwrap();
    let ann = del.annotations.as_ref().unwrap();
    assert_eq!(
        (
            ann.read_only_hint,
            ann.destructive_hint,
            ann.idempotent_hint
        ),
        (None, None, Some(true))
    );
    let create = tools
        .iter()
        .find(|t| t.name == "pfsense_create_firewall_alias")
        .unwrap();
    let ann = create.annotations.as_ref().unwrap();
    assert_eq!(
        (
            ann.read_only_hint,
            ann.destructive_hint,
            ann.idempotent_hint
        ),
        (None, Some(false), None)
    );
    let update = tools
        .iter()
        .find(|t| t.name == "pfsense_update_firewall_alias")
        .unwrap();
    let ann = update.annotations.as_ref().unwrap();
    assert_eq!(
        (ann.destructive_hint, ann.idempotent_hint),
        (Some(false), Some(true))
    );
    s.close().await;

    let s = session(
        &rec,
        &[("PFSENSE_READ_ONLY", "true"), ("PFSENSE_TOOL_MODE", "full")],
        &[],
    )
    .await;
    let tools = s.list_tools().await.unwrap();
    assert_eq!(generated(&tools), 236);
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
    );
    let r = s
        .call(
            "pfsense_create_firewall_alias",
            json!({"name": "x", "type": "host", "confirm": true}),
        )
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(text(&r).contains("read-only mode"), "{}", text(&r));
    s.close().await;

    let s = session(
        &rec,
        &[("PFSENSE_TOOL_MODE", "full")],
        &["--allow-dangerous", "--modules", "diagnostics"],
    )
    .await;
    let tools = s.list_tools().await.unwrap();
    assert_eq!(generated(&tools), 15);
    assert!(
        tools
            .iter()
            .any(|t| t.name == "pfsense_post_diagnostics_reboot")
    );
    s.close().await;
    assert!(rec.requests().is_empty());
}

/// Our own tools (not generated from the spec).
fn is_our_own_tool(name: &str) -> bool {
    matches!(
        name,
        "pfsense_list_changes"
            | "pfsense_health"
            | "pfsense_undo"
            | "pfsense_confirm_changes"
            | "pfsense_find_tools"
            | "pfsense_describe_tool"
            | "pfsense_call"
            | "pfsense_firewall_log"
            | "pfsense_explain_traffic"
            | "pfsense_block_addresses"
            | "pfsense_diagnose"
            | "pfsense_health_report"
            | "pfsense_security_audit"
    )
}

#[tokio::test]
async fn odd_answers_become_clear_results() {
    let rec = Recorder::start().await;
    rec.answer(
        "GET",
        "/api/v2/status/system",
        Answer::raw(
            404,
            "text/html",
            "<html><head><title>404 Not Found</title></head><body>nginx</body></html>",
        ),
    );
    rec.answer(
        "PATCH",
        "/api/v2/system/timezone",
        Answer::raw(200, "application/json", "Setting timezone...done.\n{\"code\":200,\"status\":\"ok\",\"response_id\":\"SUCCESS\",\"message\":\"\",\"data\":{\"timezone\":\"Etc/UTC\"}}"),
    );
    rec.answer(
        "POST",
        "/api/v2/system/certificate/pkcs12/export",
        Answer::raw(
            200,
            "application/octet-stream",
            vec![0x30, 0x82, 0x01, 0x00],
        ),
    );
    let s = session(&rec, &[], &[]).await;
    let r = s
        .call("pfsense_get_status_system", json!({}))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(
        text(&r).contains("HTTP 404") && text(&r).contains("REST API package"),
        "{}",
        text(&r)
    );

    let r = s
        .call(
            "pfsense_update_system_timezone",
            json!({"timezone": "Etc/UTC", "confirm": true}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(structured(&r)["data"]["timezone"], "Etc/UTC");
    assert_eq!(
        structured(&r)["firewall_output"],
        "Setting timezone...done."
    );

    let r = s
        .call(
            "pfsense_post_system_certificate_pkcs12_export",
            json!({"certref": "abc", "confirm": true}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(structured(&r)["data"]["base64"], "MIIBAA==");
    let q = last_change(&rec);
    assert_eq!(q.header("accept"), Some("application/octet-stream"));
    s.close().await;
}

#[tokio::test]
async fn redirects_are_reported_not_followed() {
    let rec = Recorder::start().await;
    let (elsewhere, target) = rec.redirect_elsewhere("/api/v2/status/system", 301).await;
    let s = session(&rec, &[], &[]).await;
    let r = s
        .call("pfsense_get_status_system", json!({}))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(
        text(&r).contains(&format!("HTTP 301 with a redirect to {target}"))
            && text(&r).contains("does not follow redirects")
            && text(&r).contains("PFSENSE_HOST"),
        "{}",
        text(&r)
    );
    assert_eq!(structured(&r)["error"]["http_status"], 301);
    assert!(!text(&r).contains(KEY), "the key never shows");
    assert_eq!(rec.requests().len(), 1, "a redirect is not retried");
    assert!(
        elsewhere.requests().is_empty(),
        "nothing followed the redirect"
    );
    s.close().await;
}

#[tokio::test]
async fn basic_only_operations_need_basic_credentials() {
    let rec = Recorder::start().await;
    let s = session(&rec, &[], &[]).await;
    let r = s
        .call(
            "pfsense_create_auth_key",
            json!({"descr": "ci", "confirm": true}),
        )
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(
        text(&r).contains("Basic authentication only"),
        "{}",
        text(&r)
    );
    assert!(rec.requests().is_empty());
    s.close().await;

    let s = session(
        &rec,
        &[
            ("PFSENSE_USERNAME", "admin"),
            ("PFSENSE_PASSWORD", "pfsense"),
        ],
        &[],
    )
    .await;
    let r = s
        .call(
            "pfsense_create_auth_key",
            json!({"descr": "ci", "confirm": true}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    let q = last_change(&rec);
    assert_eq!(
        q.header("authorization"),
        Some("Basic YWRtaW46cGZzZW5zZQ==")
    );
    assert_eq!(q.header("x-api-key"), None);
    s.close().await;
}

#[tokio::test]
async fn jwt_auth_fetches_a_token_once_and_sends_it() {
    let rec = Recorder::start().await;
    rec.answer(
        "POST",
        "/api/v2/auth/jwt",
        Answer::ok(json!({"token": "header.eyJleHAiOjQxMDI0NDQ4MDB9.sig"})),
    );
    let url = rec.url();
    let s = McpSession::spawn(
        &tests::binary::pfsense_mcp(),
        &[],
        &[
            ("PFSENSE_HOST", url.as_str()),
            ("PFSENSE_AUTH", "jwt"),
            ("PFSENSE_USERNAME", "admin"),
            ("PFSENSE_PASSWORD", "pfsense"),
        ],
    )
    .await
    .unwrap();
    for _ in 0..2 {
        let r = s
            .call("pfsense_get_system_version", json!({}))
            .await
            .unwrap();
        assert!(!is_error(&r), "{}", text(&r));
    }
    let reqs = rec.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/v2/auth/jwt",
            "/api/v2/system/version",
            "/api/v2/system/version"
        ]
    );
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Basic YWRtaW46cGZzZW5zZQ==")
    );
    assert_eq!(
        reqs[1].header("authorization"),
        Some("Bearer header.eyJleHAiOjQxMDI0NDQ4MDB9.sig")
    );
    s.close().await;
}

#[tokio::test]
async fn an_unreachable_firewall_is_a_clear_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let s = McpSession::spawn(
        &tests::binary::pfsense_mcp(),
        &[],
        &[("PFSENSE_HOST", url.as_str()), ("PFSENSE_API_KEY", KEY)],
    )
    .await
    .unwrap();
    let r = s
        .call("pfsense_get_system_version", json!({}))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(text(&r).contains("cannot connect"), "{}", text(&r));
    assert!(!text(&r).contains(KEY), "the key never shows up in errors");
    s.close().await;
}

#[test]
fn the_binary_explains_missing_configuration() {
    let out = std::process::Command::new(tests::binary::pfsense_mcp())
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PFSENSE_HOST"), "{err}");
    assert!(out.stdout.is_empty(), "stdout stays clean for MCP");
    let _ = Value::Null;
}
