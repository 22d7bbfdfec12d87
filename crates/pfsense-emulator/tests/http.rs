//! HTTP-level tests over real sockets, one per rule of `shared/docs/pfsense-rest-api.md`
//! (Request pipeline, Envelope, Objects and ids, Control parameters, Apply) plus auth,
//! special endpoints and faults.

mod common;

use common::{Emu, start, start_with};
use serde_json::{Value, json};

async fn alias(emu: &Emu, name: &str) -> Value {
    let a = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": name, "type": "host", "address": ["10.0.0.1"], "descr": format!("{name} hosts")}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.data()
}

// ------------------------------------------------------------------------------------------
// Request pipeline

#[tokio::test]
async fn disabled_api_answers_503_with_retry_after() {
    let emu = start().await;
    let r = emu
        .json(
            "PATCH",
            "/api/v2/system/restapi/settings",
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu.get("/api/v2/system/version").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.response_id(), "ENDPOINT_REST_API_IS_NOT_ENABLED");
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    emu.emu.reset();
    assert_eq!(emu.get("/api/v2/system/version").await.status, 200);
}

#[tokio::test]
async fn interface_not_allowed_is_403() {
    let emu = start().await;
    let r = emu
        .json(
            "PATCH",
            "/api/v2/system/restapi/settings",
            json!({"allowed_interfaces": ["wan"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu.get("/api/v2/system/version").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.response_id(), "ENDPOINT_INTERFACE_NOT_ALLOWED");
}

#[tokio::test]
async fn basic_auth_failures_are_401_with_realm() {
    let emu = start().await;
    let bad = emu
        .send(
            emu.client
                .get(emu.url("/api/v2/system/version"))
                .basic_auth("admin", Some("wrong")),
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.response_id(), "AUTH_AUTHENTICATION_FAILED");
    assert_eq!(bad.json()["message"], "Authentication failed.");
    assert_eq!(
        bad.header("www-authenticate").as_deref(),
        Some("Basic realm=\"Login for pfSense REST API\"")
    );
    let none = emu
        .send(emu.client.get(emu.url("/api/v2/system/version")))
        .await;
    assert_eq!(none.status, 401);
}

#[tokio::test]
async fn api_keys_work_only_when_key_auth_is_enabled_and_first_requested_method_wins() {
    let emu = start().await;
    let created = emu
        .json("POST", "/api/v2/auth/key", json!({"descr": "test key"}))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let key = created.data()["key"]
        .as_str()
        .expect("plaintext key once")
        .to_string();
    assert_eq!(key.len(), 48, "24 random bytes as hex");
    assert!(created.data().get("hash").is_none(), "hash never shown");
    // Later reads show key: null.
    let keys = emu.get("/api/v2/auth/keys").await.data();
    assert_eq!(keys[0]["key"], Value::Null);
    assert_eq!(keys[0]["username"], "admin");

    // Default auth_methods is BasicAuth only: the key is not accepted.
    let with_key = |k: &str| {
        emu.client
            .get(emu.url("/api/v2/system/version"))
            .header("X-API-Key", k.to_string())
    };
    assert_eq!(emu.send(with_key(&key)).await.status, 401);

    let r = emu
        .json(
            "PATCH",
            "/api/v2/system/restapi/settings",
            json!({"auth_methods": ["BasicAuth", "KeyAuth"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(emu.send(with_key(&key)).await.status, 200);
    assert_eq!(emu.send(with_key("00ff")).await.status, 401);
    // Bad Basic credentials plus a valid key: Basic was requested first → 401.
    let both = emu
        .send(with_key(&key).basic_auth("admin", Some("wrong")))
        .await;
    assert_eq!(both.status, 401);
    // POST /auth/key is Basic-only.
    let by_key = emu
        .send(
            emu.client
                .post(emu.url("/api/v2/auth/key"))
                .header("X-API-Key", key.clone())
                .json(&json!({"descr": "x"})),
        )
        .await;
    assert_eq!(by_key.status, 401);
}

#[tokio::test]
async fn key_auth_start_option_creates_a_working_key() {
    let mut config = common::config();
    config.enable_key_auth = true;
    let emu = start_with(config).await;
    let key = emu.emu.api_key().expect("key printed").to_string();
    assert_eq!(emu.emu.ready_json()["api_key"], json!(key));
    let r = emu
        .send(
            emu.client
                .get(emu.url("/api/v2/firewall/rules"))
                .header("X-API-Key", key),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn jwt_tokens_authenticate_when_jwt_auth_is_enabled() {
    let emu = start().await;
    let r = emu.json("POST", "/api/v2/auth/jwt", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.data()["token"].as_str().expect("token").to_string();
    assert_eq!(token.split('.').count(), 3);
    let bearer = |t: &str| {
        emu.client
            .get(emu.url("/api/v2/system/version"))
            .header("Authorization", format!("bearer {t}"))
    };
    assert_eq!(
        emu.send(bearer(&token)).await.status,
        401,
        "JWTAuth is off by default"
    );
    emu.json(
        "PATCH",
        "/api/v2/system/restapi/settings",
        json!({"auth_methods": ["BasicAuth", "JWTAuth"]}),
    )
    .await;
    assert_eq!(emu.send(bearer(&token)).await.status, 200);
    let mut forged = token.clone();
    forged.push('x');
    assert_eq!(emu.send(bearer(&forged)).await.status, 401);
}

#[tokio::test]
async fn privileges_authorize_per_endpoint_and_method() {
    let emu = start().await;
    let r = emu
        .json(
            "POST",
            "/api/v2/user",
            json!({"name": "reader", "password": "secret1", "priv": ["api-v2-firewall-aliases-get"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.data().get("password").is_none(),
        "passwords are never returned"
    );
    let as_reader = |path: &str| {
        emu.client
            .get(emu.url(path))
            .basic_auth("reader", Some("secret1"))
    };
    assert_eq!(
        emu.send(as_reader("/api/v2/firewall/aliases")).await.status,
        200
    );
    let denied = emu.send(as_reader("/api/v2/firewall/rules")).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.response_id(), "AUTH_AUTHORIZATION_FAILED");
}

#[tokio::test]
async fn access_list_denies_first_match_by_weight() {
    let emu = start().await;
    let r = emu
        .json(
            "POST",
            "/api/v2/system/restapi/access_list/entry",
            json!({"type": "deny", "weight": 0, "network": "127.0.0.0/8", "descr": "block loopback"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu.get("/api/v2/system/version").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.response_id(), "ENDPOINT_CLIENT_NOT_ALLOWED_BY_ACL");
}

#[tokio::test]
async fn accept_header_is_compared_as_one_whole_string() {
    let emu = start().await;
    let with_accept = |a: &str| {
        emu.request("GET", "/api/v2/system/version")
            .header("Accept", a.to_string())
    };
    assert_eq!(emu.send(with_accept("application/json")).await.status, 200);
    assert_eq!(emu.send(with_accept("*/*")).await.status, 200);
    let r = emu
        .send(with_accept("application/json, text/plain, */*"))
        .await;
    assert_eq!(r.status, 406);
    assert_eq!(r.response_id(), "CONTENT_HANDLER_ENCODE_NOT_FOUND");
    assert_eq!(
        emu.send(with_accept("application/octet-stream"))
            .await
            .status,
        406
    );

    // PKCS12 export needs exactly octet-stream.
    let certs = emu.get("/api/v2/system/certificates").await.data();
    let certref = certs[0]["refid"]
        .as_str()
        .expect("seeded GUI certificate")
        .to_string();
    let body = json!({"certref": certref});
    let r = emu
        .json(
            "POST",
            "/api/v2/system/certificate/pkcs12/export",
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 406);
    let r = emu
        .send(
            emu.request("POST", "/api/v2/system/certificate/pkcs12/export")
                .header("Accept", "application/octet-stream")
                .json(&body),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
}

#[tokio::test]
async fn methods_not_offered_and_read_only_mode_are_405() {
    let emu = start().await;
    let r = emu.json("PUT", "/api/v2/firewall/alias", json!({})).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.response_id(), "ENDPOINT_METHOD_NOT_ALLOWED");
    emu.json(
        "PATCH",
        "/api/v2/system/restapi/settings",
        json!({"read_only": true}),
    )
    .await;
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": "x", "type": "host"}),
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.response_id(),
        "ENDPOINT_METHOD_NOT_ALLOWED_IN_READ_ONLY_MODE"
    );
    assert_eq!(emu.get("/api/v2/firewall/aliases").await.status, 200);
}

#[tokio::test]
async fn bodies_decode_by_content_type() {
    let emu = start().await;
    let r = emu
        .send(
            emu.request("POST", "/api/v2/firewall/alias")
                .header("Content-Type", "text/yaml")
                .body("name: x"),
        )
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.response_id(), "CONTENT_HANDLER_DECODE_NOT_FOUND");
    let r = emu
        .send(
            emu.request("POST", "/api/v2/firewall/alias")
                .header("Content-Type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.response_id(),
        "JSON_CONTENT_HANDLER_COULD_NOT_DECODE_JSON"
    );
    // A GET with a JSON content type ignores its query string: no id arrives.
    let r = emu
        .send(
            emu.request(
                "GET",
                &common::with_query("/api/v2/firewall/rule", &[("id", "0")]),
            )
            .header("Content-Type", "application/json"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.response_id(), "MODEL_REQUIRES_ID");
    // A JSON POST ignores ?apply=true: the change stays pending.
    let r = emu
        .send(
            emu.request("POST", "/api/v2/firewall/alias?apply=true")
                .json(&json!({"name": "pending1", "type": "host"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        emu.get("/api/v2/firewall/apply").await.data()["applied"],
        false
    );
    // Form POST: the body is used when the query string is empty, values are guessed.
    let r = emu
        .send(
            emu.request("POST", "/api/v2/system/tunable")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("tunable=net.inet.tcp.x&value=-1&descr=form"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["value"], "-1", "\"-1\" stays a string");
}

#[tokio::test]
async fn form_values_are_guessed_so_integer_filters_match() {
    let emu = start().await;
    let r = emu
        .query("GET", "/api/v2/firewall/rules", &[("tracker", "100000101")])
        .await;
    assert_eq!(r.data().as_array().map(Vec::len), Some(1), "{}", r.text);
    let r = emu
        .query("GET", "/api/v2/firewall/rules", &[("limit", "x")])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.response_id(), "ENDPOINT_LIMIT_FIELD_INVALID_TYPE");
    let r = emu
        .query("GET", "/api/v2/firewall/rules", &[("reverse", "yes")])
        .await;
    assert_eq!(r.response_id(), "ENDPOINT_REVERSE_FIELD_INVALID_TYPE");
}

#[tokio::test]
async fn unknown_urls_get_nginx_html_404_and_the_spec_needs_no_auth() {
    let emu = start().await;
    let r = emu
        .send(emu.client.get(emu.url("/api/v2/no/such/thing")))
        .await;
    assert_eq!(r.status, 404);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(r.text.contains("nginx"));
    let r = emu
        .send(emu.client.get(emu.url("/api/v2/schema/openapi")))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["paths"]["/api/v2/firewall/alias"].is_object());
}

// ------------------------------------------------------------------------------------------
// Envelope

#[tokio::test]
async fn envelope_fields_status_strings_and_backticks() {
    let emu = start().await;
    let ok = emu.get("/api/v2/system/version").await.json();
    assert_eq!(ok["code"], 200);
    assert_eq!(ok["status"], "ok");
    assert_eq!(ok["response_id"], "SUCCESS");
    assert_eq!(ok["message"], "");
    assert_eq!(ok["data"]["version"], "2.8.1-RELEASE");
    for key in ["base", "patch", "buildtime"] {
        assert!(ok["data"][key].is_string(), "{key}");
    }
    let bad = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": "q", "type": "it's"}),
        )
        .await;
    let body = bad.json();
    assert_eq!(body["code"], 400);
    assert_eq!(body["status"], "bad request");
    assert_eq!(body["response_id"], "FIELD_INVALID_CHOICE");
    assert_eq!(body["data"], json!([]));
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("it`s") && !message.contains('\''),
        "{message}"
    );
    let missing = emu
        .query("GET", "/api/v2/firewall/alias", &[("id", "7")])
        .await
        .json();
    assert_eq!(missing["status"], "not found");
    assert_eq!(missing["message"], "Object with ID `7` does not exist.");
}

// ------------------------------------------------------------------------------------------
// Objects and ids

#[tokio::test]
async fn alias_smoke_sequence_ids_shift_down_after_delete() {
    let emu = start().await;
    let a = alias(&emu, "first").await;
    let b = alias(&emu, "second").await;
    let c = alias(&emu, "third").await;
    assert_eq!(
        (a["id"].clone(), b["id"].clone(), c["id"].clone()),
        (json!(0), json!(1), json!(2))
    );
    let read = emu
        .query("GET", "/api/v2/firewall/alias", &[("id", "1")])
        .await;
    assert_eq!(read.data()["name"], "second");
    let updated = emu
        .json(
            "PATCH",
            "/api/v2/firewall/alias",
            json!({"id": 1, "descr": "changed"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.data()["descr"], "changed");
    assert_eq!(
        updated.data()["address"],
        json!(["10.0.0.1"]),
        "PATCH keeps other fields"
    );
    assert_eq!(
        emu.get("/api/v2/firewall/apply").await.data()["applied"],
        false
    );
    let applied = emu
        .json("POST", "/api/v2/firewall/apply", json!({"async": false}))
        .await;
    assert_eq!(applied.data()["applied"], true);
    assert_eq!(
        emu.get("/api/v2/firewall/apply").await.data()["applied"],
        true
    );
    let deleted = emu
        .query("DELETE", "/api/v2/firewall/alias", &[("id", "0")])
        .await;
    assert_eq!(
        deleted.data()["name"],
        "first",
        "DELETE returns the deleted object"
    );
    let all = emu.get("/api/v2/firewall/aliases").await.data();
    assert_eq!(all[0]["id"], 0);
    assert_eq!(all[0]["name"], "second");
    assert_eq!(all[1]["id"], 1);
    assert_eq!(all[1]["name"], "third");
    let gone = emu
        .query("GET", "/api/v2/firewall/alias", &[("id", "2")])
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.response_id(), "MODEL_OBJECT_NOT_FOUND");
}

#[tokio::test]
async fn singular_requests_need_an_id() {
    let emu = start().await;
    let r = emu.get("/api/v2/firewall/alias").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.response_id(), "MODEL_REQUIRES_ID");
    let r = emu
        .json("PATCH", "/api/v2/firewall/alias", json!({"descr": "x"}))
        .await;
    assert_eq!(r.response_id(), "MODEL_REQUIRES_ID");
    let r = emu.query("DELETE", "/api/v2/firewall/alias", &[]).await;
    assert_eq!(r.response_id(), "MODEL_REQUIRES_ID");
}

#[tokio::test]
async fn post_ignores_id_and_appends() {
    let emu = start().await;
    alias(&emu, "one").await;
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"id": 0, "name": "two", "type": "port", "address": ["443"]}),
        )
        .await;
    assert_eq!(r.data()["id"], 1);
    assert_eq!(
        emu.get("/api/v2/firewall/aliases")
            .await
            .data()
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn string_ids_for_interfaces_and_dhcp_servers() {
    let emu = start().await;
    let lan = emu
        .query("GET", "/api/v2/interface", &[("id", "lan")])
        .await;
    assert_eq!(lan.status, 200, "{}", lan.text);
    assert_eq!(lan.data()["id"], "lan");
    assert_eq!(lan.data()["ipaddr"], "192.168.1.1");
    let dhcp = emu
        .json(
            "PATCH",
            "/api/v2/services/dhcp_server",
            json!({"id": "lan", "range_to": "192.168.1.150"}),
        )
        .await;
    assert_eq!(dhcp.status, 200, "{}", dhcp.text);
    assert_eq!(dhcp.data()["id"], "lan");
    let mapping = emu
        .json(
            "POST",
            "/api/v2/services/dhcp_server/static_mapping",
            json!({"parent_id": "lan", "mac": "00:11:22:33:44:55", "ipaddr": "192.168.1.20"}),
        )
        .await;
    assert_eq!(mapping.status, 200, "{}", mapping.text);
    assert_eq!(mapping.data()["parent_id"], "lan");
    assert_eq!(mapping.data()["id"], 0);
    let tables = emu
        .query("GET", "/api/v2/diagnostics/table", &[("id", "bogons")])
        .await;
    assert_eq!(tables.data()["id"], "bogons");
}

#[tokio::test]
async fn nested_objects_use_parent_id_and_plural_reads_span_parents() {
    let emu = start().await;
    let range = json!([{"month": ["1"], "day": ["1"], "hour": "0:00-23:59"}]);
    for name in ["sched_a", "sched_b"] {
        let r = emu
            .json(
                "POST",
                "/api/v2/firewall/schedule",
                json!({"name": name, "timerange": range}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/schedule/time_range",
            json!({"parent_id": 1, "month": ["2"], "day": ["3"], "hour": "8:00-17:00"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.data()["parent_id"].clone(), r.data()["id"].clone()),
        (json!(1), json!(1))
    );
    let all = emu
        .get("/api/v2/firewall/schedule/time_ranges")
        .await
        .data();
    let pairs: Vec<(Value, Value)> = all
        .as_array()
        .expect("list")
        .iter()
        .map(|t| (t["parent_id"].clone(), t["id"].clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (json!(0), json!(0)),
            (json!(1), json!(0)),
            (json!(1), json!(1))
        ]
    );
    let r = emu
        .query(
            "GET",
            "/api/v2/firewall/schedule/time_range",
            &[("id", "0")],
        )
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.response_id(),
        "MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL"
    );
    let r = emu
        .query(
            "GET",
            "/api/v2/firewall/schedule/time_range",
            &[("parent_id", "9"), ("id", "0")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.response_id(), "MODEL_PARENT_OBJECT_NOT_FOUND");
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/schedule/time_range",
            json!({"month": ["2"], "day": ["3"], "hour": "1:00-2:00"}),
        )
        .await;
    assert_eq!(r.status, 400);
    // The parent shows its children.
    let parent = emu
        .query("GET", "/api/v2/firewall/schedule", &[("id", "1")])
        .await
        .data();
    assert_eq!(parent["timerange"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn patch_overlays_and_explicit_null_resets_to_default() {
    let emu = start().await;
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/rule",
            json!({"type": "block", "interface": ["wan"], "ipprotocol": "inet", "source": "any",
                   "destination": "any", "statetype": "sloppy state", "descr": "x"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.data()["id"].clone();
    assert!(r.data()["tracker"].is_i64(), "readOnly tracker is computed");
    let r = emu
        .json(
            "PATCH",
            "/api/v2/firewall/rule",
            json!({"id": id, "statetype": null, "updated_by": "someone"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.data()["statetype"],
        "keep state",
        "null resets to the default"
    );
    // A read-only field pfrest lets be sent (not `editable: false`, unlike `tracker`) is
    // ignored: pfrest overwrites `updated_by` on every write (lab v2.7.1).
    assert_ne!(
        r.data()["updated_by"],
        "someone",
        "readOnly input is ignored"
    );
    assert_eq!(r.data()["descr"], "x");
}

/// Rule trackers as pfrest gives them: the second of the write (`UnixTimeField(auto_add_now)`),
/// so every rule of a PUT that sends none shares one, and a tracker sent on a create or a PUT
/// is kept (lab-tested); an update with another one is 400
/// `FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE` (lab-tested by
/// `read_only_fields_refuse_changes_like_pfrest`).
#[tokio::test]
async fn rule_trackers_are_the_second_of_the_write_unless_sent() {
    let emu = start().await;
    let rule = |descr: &str| {
        json!({"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "source": "any",
               "destination": "any", "descr": descr})
    };
    let mut sent = rule("sent");
    sent["tracker"] = json!(1_234_567);
    let r = emu
        .json("POST", "/api/v2/firewall/rule", sent.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["tracker"], 1_234_567, "a tracker sent is kept");

    let r = emu
        .json(
            "PUT",
            "/api/v2/firewall/rules",
            json!([rule("a"), rule("b"), sent]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rules = r.data();
    let trackers: Vec<&Value> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["tracker"])
        .collect();
    assert_eq!(trackers.len(), 3, "{rules}");
    assert!(trackers[0].is_i64(), "{rules}");
    assert_eq!(trackers[0], trackers[1], "one second, one tracker: {rules}");
    assert_eq!(trackers[2], 1_234_567, "{rules}");
}

#[tokio::test]
async fn put_replaces_all_or_nothing() {
    let emu = start().await;
    alias(&emu, "old1").await;
    alias(&emu, "old2").await;
    let bad = emu
        .json(
            "PUT",
            "/api/v2/firewall/aliases",
            json!([{"name": "new1", "type": "host"}, {"name": "new2", "type": "nope"}]),
        )
        .await;
    assert_eq!(bad.status, 400);
    let names: Vec<Value> = emu
        .get("/api/v2/firewall/aliases")
        .await
        .data()
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("old1"), json!("old2")], "nothing changed");
    let good = emu
        .json(
            "PUT",
            "/api/v2/firewall/aliases",
            json!([{"name": "new1", "type": "host"}]),
        )
        .await;
    assert_eq!(good.status, 200, "{}", good.text);
    assert_eq!(
        good.data(),
        emu.get("/api/v2/firewall/aliases").await.data()
    );
    assert_eq!(good.data()[0]["id"], 0);
    let not_list = emu
        .json("PUT", "/api/v2/firewall/aliases", json!({"name": "x"}))
        .await;
    assert_eq!(
        not_list.response_id(),
        "ENDPOINT_REQUEST_DATA_MUST_BE_INDEXED_ARRAY"
    );
}

#[tokio::test]
async fn bulk_delete_needs_all_or_a_filter_and_unknown_keys_match_everything() {
    let emu = start().await;
    for n in ["web1", "web2", "db1"] {
        alias(&emu, n).await;
    }
    let r = emu.query("DELETE", "/api/v2/firewall/aliases", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.response_id(), "MODEL_DELETE_MANY_REQUIRES_QUERY_PARAMS");
    let r = emu
        .query(
            "DELETE",
            "/api/v2/firewall/aliases",
            &[("name__startswith", "web")],
        )
        .await;
    assert_eq!(r.data().as_array().map(Vec::len), Some(2), "{}", r.text);
    let left = emu.get("/api/v2/firewall/aliases").await.data();
    assert_eq!(left[0]["name"], "db1");
    assert_eq!(left[0]["id"], 0);
    alias(&emu, "web3").await;
    // `apply` is a control parameter, `whatever` an unknown key that matches everything.
    let r = emu
        .query(
            "DELETE",
            "/api/v2/firewall/aliases",
            &[("whatever", "1"), ("apply", "true")],
        )
        .await;
    assert_eq!(r.data().as_array().map(Vec::len), Some(2));
    assert_eq!(emu.get("/api/v2/firewall/aliases").await.data(), json!([]));
    alias(&emu, "x").await;
    let r = emu
        .query("DELETE", "/api/v2/firewall/aliases", &[("all", "true")])
        .await;
    assert_eq!(r.data().as_array().map(Vec::len), Some(1));
}

// ------------------------------------------------------------------------------------------
// Fields

#[tokio::test]
async fn validation_is_strict() {
    let emu = start().await;
    let r = emu
        .json("POST", "/api/v2/firewall/alias", json!({"type": "host"}))
        .await;
    assert_eq!(r.response_id(), "FIELD_IS_REQUIRED");
    let r = emu
        .json(
            "POST",
            "/api/v2/system/tunable",
            json!({"tunable": 5, "value": "1"}),
        )
        .await;
    assert_eq!(r.response_id(), "FIELD_INVALID_TYPE");
    let r = emu
        .json(
            "PATCH",
            "/api/v2/firewall/states/size",
            json!({"maximumstates": "1000"}),
        )
        .await;
    assert_eq!(
        r.response_id(),
        "FIELD_INVALID_TYPE",
        "an integer field rejects \"1000\""
    );
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": "x", "type": "host", "address": "1.2.3.4"}),
        )
        .await;
    assert_eq!(r.response_id(), "FIELD_INVALID_MANY_VALUE");
    alias(&emu, "dup").await;
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": "dup", "type": "host"}),
        )
        .await;
    assert_eq!(r.response_id(), "FIELD_MUST_BE_UNIQUE");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Value is in use by object with ID `0`.")
    );
}

#[tokio::test]
async fn unmet_conditions_null_the_field() {
    let emu = start().await;
    // `direction` is only available on floating rules.
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/rule",
            json!({"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "source": "any",
                   "destination": "any", "direction": "bogus"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["direction"], Value::Null);
}

#[tokio::test]
async fn references_must_exist_and_referenced_objects_cannot_be_deleted() {
    let emu = start().await;
    let rule = |src: &str| json!({"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "source": src, "destination": "any"});
    // An address field takes an address or an alias name: anything else is pfrest's
    // FilterAddressField error (400), not a missing foreign object (as on the lab).
    let r = emu
        .json("POST", "/api/v2/firewall/rule", rule("no_such_alias"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.response_id(), "FILTER_ADDRESS_FIELD_INVALID");
    // Interfaces are choices of pfrest's InterfaceField, not references: 400.
    let mut bad_if = rule("any");
    bad_if["interface"] = json!(["opt9"]);
    let r = emu.json("POST", "/api/v2/firewall/rule", bad_if).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.response_id(), "FIELD_INVALID_CHOICE");
    // A route to a missing gateway is a ForeignModelField miss: 404.
    let route = json!({"network": "10.50.0.0/16", "gateway": "GW1"});
    let r = emu
        .json("POST", "/api/v2/routing/static_route", route.clone())
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.response_id(), "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND");
    let gw = json!({"name": "GW1", "interface": "lan", "ipprotocol": "inet", "gateway": "192.168.1.254"});
    let r = emu.json("POST", "/api/v2/routing/gateway", gw).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .json("POST", "/api/v2/routing/static_route", route)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .query("DELETE", "/api/v2/routing/gateway", &[("id", "0")])
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.response_id(), "MODEL_CANNOT_BE_DELETED_WHILE_REFERENCED");
    assert_eq!(r.data()[0]["gateway"], "GW1");
    // pfrest v2.7.1 tracks no references to aliases: a rule's alias can be deleted.
    alias(&emu, "servers").await;
    let r = emu
        .json("POST", "/api/v2/firewall/rule", rule("servers"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .query("DELETE", "/api/v2/firewall/alias", &[("id", "0")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn config_history_records_every_write_newest_first() {
    let emu = start().await;
    alias(&emu, "hist").await;
    let revs = emu
        .get("/api/v2/diagnostics/config_history/revisions")
        .await
        .data();
    assert_eq!(revs[0]["id"], 0);
    let d = revs[0]["description"].as_str().unwrap_or_default();
    assert!(d.contains("Added Firewall Alias via API"), "{d}");
    emu.query("DELETE", "/api/v2/firewall/alias", &[("id", "0")])
        .await;
    let revs = emu
        .get("/api/v2/diagnostics/config_history/revisions")
        .await
        .data();
    assert!(
        revs[0]["description"]
            .as_str()
            .unwrap_or_default()
            .contains("Deleted Firewall Alias")
    );
}

// ------------------------------------------------------------------------------------------
// Control parameters

async fn seeded_aliases(emu: &Emu) {
    for (name, descr) in [
        ("b_web", "3"),
        ("a_db", "10"),
        ("c_web", "2"),
        ("d_mail", "1"),
    ] {
        let r = emu
            .json(
                "POST",
                "/api/v2/firewall/alias",
                json!({"name": name, "type": "host", "descr": descr}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn filters_cover_every_operator() {
    let emu = start().await;
    seeded_aliases(&emu).await;
    let q = |pairs: &'static [(&'static str, &'static str)]| {
        emu.query("GET", "/api/v2/firewall/aliases", pairs)
    };
    assert_eq!(names(&q(&[("name", "a_db")]).await.data()), ["a_db"]);
    assert_eq!(
        names(&q(&[("name__except", "a_db")]).await.data()),
        ["b_web", "c_web", "d_mail"]
    );
    assert_eq!(
        names(&q(&[("name__contains", "web")]).await.data()),
        ["b_web", "c_web"]
    );
    assert_eq!(
        names(&q(&[("name__startswith", "d_")]).await.data()),
        ["d_mail"]
    );
    assert_eq!(
        names(&q(&[("name__endswith", "db")]).await.data()),
        ["a_db"]
    );
    assert_eq!(
        names(&q(&[("name__in", "a_db,d_mail")]).await.data()),
        ["a_db", "d_mail"]
    );
    assert_eq!(
        names(&q(&[("descr__lt", "3")]).await.data()),
        ["c_web", "d_mail"]
    );
    assert_eq!(
        names(&q(&[("descr__lte", "3")]).await.data()),
        ["b_web", "c_web", "d_mail"]
    );
    assert_eq!(names(&q(&[("descr__gt", "3")]).await.data()), ["a_db"]);
    assert_eq!(
        names(&q(&[("descr__gte", "3")]).await.data()),
        ["b_web", "a_db"]
    );
    assert_eq!(
        names(&q(&[("name__regex", "/^[ab]_/")]).await.data()),
        ["b_web", "a_db"]
    );
    assert_eq!(
        names(&q(&[("descr__format", "numeric")]).await.data()).len(),
        4
    );
    let r = q(&[("name__bogus", "x")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.response_id(), "QUERY_FILTER_NOT_FOUND");
}

#[tokio::test]
async fn sorting_and_paging_follow_pfrest_order() {
    let emu = start().await;
    seeded_aliases(&emu).await;
    let q = |pairs: &'static [(&'static str, &'static str)]| {
        emu.query("GET", "/api/v2/firewall/aliases", pairs)
    };
    let sorted = q(&[("sort_by", "name")]).await.data();
    assert_eq!(names(&sorted), ["a_db", "b_web", "c_web", "d_mail"]);
    assert_eq!(sorted[0]["id"], 1, "items keep their real ids");
    assert_eq!(
        names(
            &q(&[("sort_by", "name"), ("sort_order", "SORT_DESC")])
                .await
                .data()
        ),
        ["d_mail", "c_web", "b_web", "a_db"]
    );
    // Numeric vs string sorting of "10", "3", "2", "1".
    assert_eq!(
        names(
            &q(&[("sort_by", "descr"), ("sort_flags", "SORT_NUMERIC")])
                .await
                .data()
        ),
        ["d_mail", "c_web", "b_web", "a_db"]
    );
    assert_eq!(
        names(
            &q(&[("sort_by", "descr"), ("sort_flags", "SORT_STRING")])
                .await
                .data()
        ),
        ["d_mail", "a_db", "c_web", "b_web"]
    );
    // Without filters or sort: reverse first, then paginate.
    assert_eq!(
        names(&q(&[("reverse", "true"), ("limit", "2")]).await.data()),
        ["d_mail", "c_web"]
    );
    assert_eq!(
        names(&q(&[("limit", "2"), ("offset", "1")]).await.data()),
        ["a_db", "c_web"]
    );
    // With sort_by: sort, paginate, then reverse.
    assert_eq!(
        names(
            &q(&[("sort_by", "name"), ("limit", "2"), ("reverse", "true")])
                .await
                .data()
        ),
        ["b_web", "a_db"]
    );
    let r = q(&[("sort_by", "nope")]).await;
    assert_eq!(r.response_id(), "ENDPOINT_SORT_BY_FIELD_NON_EXISTENT_FIELD");
    // pfrest refuses `id` too: it is no field of the model (`get_fields()`; lab v2.7.1).
    let r = q(&[("sort_by", "id")]).await;
    assert_eq!(r.response_id(), "ENDPOINT_SORT_BY_FIELD_NON_EXISTENT_FIELD");
    // A string that names no order or flags is an unknown value, not a wrong type, with or
    // without `sort_by` (lab v2.7.1).
    let r = q(&[("sort_order", "UP")]).await;
    assert_eq!(
        r.response_id(),
        "ENDPOINT_SORT_ORDER_FIELD_UNKNOWN_SORT_ORDER"
    );
    let r = q(&[("sort_flags", "NOPE")]).await;
    assert_eq!(
        r.response_id(),
        "ENDPOINT_SORT_FLAGS_FIELD_UNKNOWN_SORT_FLAGS"
    );
}

#[tokio::test]
async fn append_remove_and_placement() {
    let emu = start().await;
    alias(&emu, "first").await;
    alias(&emu, "second").await;
    let r = emu
        .json(
            "PATCH",
            "/api/v2/firewall/alias",
            json!({"id": 0, "address": ["10.0.0.2"], "append": true}),
        )
        .await;
    assert_eq!(r.data()["address"], json!(["10.0.0.1", "10.0.0.2"]));
    let r = emu
        .json(
            "PATCH",
            "/api/v2/firewall/alias",
            json!({"id": 0, "address": ["10.0.0.1"], "remove": true}),
        )
        .await;
    assert_eq!(r.data()["address"], json!(["10.0.0.2"]));
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": "zeroth", "type": "host", "placement": 0}),
        )
        .await;
    assert_eq!(r.data()["id"], 0);
    assert_eq!(
        names(&emu.get("/api/v2/firewall/aliases").await.data()),
        ["zeroth", "first", "second"]
    );
    let r = emu
        .json(
            "PATCH",
            "/api/v2/firewall/alias",
            json!({"id": 0, "placement": "x"}),
        )
        .await;
    assert_eq!(r.response_id(), "ENDPOINT_PLACEMENT_FIELD_INVALID_TYPE");
}

#[tokio::test]
async fn firewall_states_default_to_a_page_of_100() {
    let emu = start().await;
    let r = emu.get("/api/v2/firewall/states").await;
    assert_eq!(r.status, 200);
    assert!(
        r.data()
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.len() <= 100)
    );
}

// ------------------------------------------------------------------------------------------
// Apply

#[tokio::test]
async fn apply_tracks_pending_changes_per_subsystem() {
    let emu = start().await;
    let fw = emu.get("/api/v2/firewall/apply").await.data();
    assert_eq!(fw, json!({"applied": true, "pending_subsystems": []}));
    alias(&emu, "p").await;
    let fw = emu.get("/api/v2/firewall/apply").await.data();
    assert_eq!(fw["applied"], false);
    assert_eq!(fw["pending_subsystems"], json!(["aliases"]));
    // Other subsystems are unaffected.
    assert_eq!(
        emu.get("/api/v2/routing/apply").await.data()["applied"],
        true
    );
    // apply=true on a write applies in the same request.
    emu.json("POST", "/api/v2/firewall/apply", json!({})).await;
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": "now", "type": "host", "apply": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        emu.get("/api/v2/firewall/apply").await.data()["applied"],
        true
    );
    // Interfaces report which interfaces are pending.
    let r = emu
        .json(
            "PATCH",
            "/api/v2/interface",
            json!({"id": "lan", "descr": "INSIDE"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ifs = emu.get("/api/v2/interface/apply").await.data();
    assert_eq!(
        ifs,
        json!({"applied": false, "pending_interfaces": ["lan"]})
    );
    // DHCP server changes stay pending until its own apply.
    emu.json(
        "PATCH",
        "/api/v2/services/dhcp_server",
        json!({"id": "lan", "domain": "example.org"}),
    )
    .await;
    assert_eq!(
        emu.get("/api/v2/services/dhcp_server/apply").await.data(),
        json!({"applied": false})
    );
    emu.json("POST", "/api/v2/services/dhcp_server/apply", json!({}))
        .await;
    assert_eq!(
        emu.get("/api/v2/services/dhcp_server/apply").await.data(),
        json!({"applied": true})
    );
}

// ------------------------------------------------------------------------------------------
// Special endpoints

#[tokio::test]
async fn command_prompt_ping_graphql_and_timezone_quirk() {
    let emu = start().await;
    let r = emu
        .json(
            "POST",
            "/api/v2/diagnostics/command_prompt",
            json!({"command": "echo hello"}),
        )
        .await;
    assert_eq!(r.data(), json!({"output": "hello\n", "result_code": 0}));
    let r = emu
        .json(
            "POST",
            "/api/v2/diagnostics/command_prompt",
            json!({"command": "rm -rf /"}),
        )
        .await;
    assert_eq!(r.data()["result_code"], 127);
    let r = emu
        .json(
            "POST",
            "/api/v2/diagnostics/ping",
            json!({"host": "127.0.0.1", "count": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["result_code"], 0);
    let r = emu
        .json(
            "POST",
            "/api/v2/diagnostics/ping",
            json!({"host": "127.0.0.1", "count": 11}),
        )
        .await;
    assert_eq!(r.status, 400, "count is 1-10");
    let r = emu
        .json(
            "POST",
            "/api/v2/graphql",
            json!({"query": "{ __typename }"}),
        )
        .await;
    assert_eq!(r.json(), json!({"data": {"__typename": "Query"}}));
    let r = emu
        .json(
            "POST",
            "/api/v2/graphql",
            json!({"query": "{ firewallAliases { name } }"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["errors"].is_array());
    let r = emu
        .json(
            "PATCH",
            "/api/v2/system/timezone",
            json!({"timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.starts_with("Setting timezone...done."), "{}", r.text);
    let json_part = &r.text[r.text.find('{').unwrap_or(0)..];
    let v: Value = serde_json::from_str(json_part).expect("JSON after the text");
    assert_eq!(v["data"]["timezone"], "Europe/Berlin");
}

#[tokio::test]
async fn add_on_package_writes_need_the_package() {
    let emu = start().await;
    let r = emu
        .json(
            "POST",
            "/api/v2/services/haproxy/backend",
            json!({"name": "web"}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.response_id(), "MODEL_MISSING_REQUIRED_PACKAGE");
    let r = emu
        .json(
            "POST",
            "/api/v2/system/package",
            json!({"name": "pfSense-pkg-haproxy"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .json(
            "POST",
            "/api/v2/services/haproxy/backend",
            json!({"name": "web"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn all_packages_option_installs_every_add_on() {
    let mut config = common::config();
    config.installed_packages = vec!["all".into()];
    let emu = start_with(config).await;
    let r = emu
        .json("POST", "/api/v2/services/cron/job", json!({"minute": "0", "hour": "1", "mday": "*", "month": "*", "wday": "*", "who": "root", "command": "/bin/true"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let key = base64_32(7);
    let r = emu
        .json(
            "POST",
            "/api/v2/vpn/wireguard/tunnel",
            json!({"privatekey": key}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.data().get("privatekey").is_none(),
        "private keys are never returned"
    );
    let r = emu
        .json(
            "POST",
            "/api/v2/vpn/wireguard/tunnel",
            json!({"privatekey": "not-a-key"}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn all_packages_leaves_packages_outside_the_spec_installable() {
    let mut config = common::config();
    config.installed_packages = vec!["all".into()];
    let emu = start_with(config).await;
    let r = emu
        .json(
            "POST",
            "/api/v2/system/package",
            json!({"name": "pfSense-pkg-nmap"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .json(
            "POST",
            "/api/v2/system/package",
            json!({"name": "pfSense-pkg-haproxy"}),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "haproxy is one of the spec's packages: {}",
        r.text
    );
}

#[tokio::test]
async fn service_action_addresses_the_service_by_id() {
    let emu = start().await;
    let services = emu.get("/api/v2/status/services").await.data();
    let name = services[1]["name"]
        .as_str()
        .expect("a service name")
        .to_string();
    let r = emu
        .json(
            "POST",
            "/api/v2/status/service",
            json!({"id": 1, "action": "stop"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["name"], name);
    assert_eq!(r.data()["status"], false);
    let r = emu
        .json(
            "POST",
            "/api/v2/status/service",
            json!({"id": 99, "action": "start"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.response_id(), "MODEL_OBJECT_NOT_FOUND");
    let r = emu
        .json("POST", "/api/v2/status/service", json!({"action": "start"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

fn base64_32(seed: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([seed; 32])
}

// ------------------------------------------------------------------------------------------
// Faults and control API

#[tokio::test]
async fn faults_503_burst_then_recovery_and_request_log() {
    let emu = start().await;
    emu.emu.add_fault(
        pfsense_emulator::Fault::new(pfsense_emulator::FaultAction::Unavailable { retry_after: 2 })
            .on_path("/api/v2/firewall/alias")
            .on_method("POST")
            .times(2),
    );
    let body = json!({"name": "retry", "type": "host"});
    for _ in 0..2 {
        let r = emu
            .json("POST", "/api/v2/firewall/alias", body.clone())
            .await;
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after").as_deref(), Some("2"));
        assert_eq!(r.response_id(), "DISPATCHER_TOO_MANY_QUEUED_PROCESSES");
    }
    assert_eq!(
        emu.get("/api/v2/firewall/aliases").await.data(),
        json!([]),
        "faulted writes did nothing"
    );
    let r = emu.json("POST", "/api/v2/firewall/alias", body).await;
    assert_eq!(r.status, 200);
    let log = emu.emu.requests();
    let posts: Vec<u16> = log
        .iter()
        .filter(|l| l.method == "POST")
        .map(|l| l.status)
        .collect();
    assert_eq!(posts, vec![503, 503, 200]);
}

#[tokio::test]
async fn faults_reset_malformed_non_json_html_and_latency() {
    let emu = start().await;
    use pfsense_emulator::{Fault, FaultAction};
    emu.emu.add_fault(
        Fault::new(FaultAction::Reset)
            .on_path("/api/v2/system/version")
            .times(1),
    );
    let r = emu.request("GET", "/api/v2/system/version").send().await;
    assert!(r.is_err(), "connection closed without an answer");
    emu.emu
        .add_fault(Fault::new(FaultAction::Malformed).times(1));
    let r = emu.get("/api/v2/system/version").await;
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    emu.emu.add_fault(Fault::new(FaultAction::NonJson).times(1));
    let r = emu.get("/api/v2/system/version").await;
    assert!(r.text.contains("Fatal error"));
    emu.emu.add_fault(Fault::new(FaultAction::Html404).times(1));
    let r = emu.get("/api/v2/system/version").await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("nginx"));
    emu.emu
        .add_fault(Fault::new(FaultAction::Error { status: 500 }).times(1));
    assert_eq!(emu.get("/api/v2/system/version").await.status, 500);
    emu.emu
        .add_fault(Fault::new(FaultAction::Delay).with_latency_ms(300).times(1));
    let started = std::time::Instant::now();
    assert_eq!(emu.get("/api/v2/system/version").await.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(
        emu.get("/api/v2/system/version").await.status,
        200,
        "all rules spent"
    );
}

#[tokio::test]
async fn preamble_fault_prints_text_before_the_processed_answer() {
    let emu = start().await;
    use pfsense_emulator::{Fault, FaultAction};
    emu.emu.add_fault(
        Fault::new(FaultAction::Preamble {
            text: "openvpn[123]: server started\n".into(),
        })
        .on_method("POST")
        .times(1),
    );
    let r = emu
        .json(
            "POST",
            "/api/v2/firewall/alias",
            json!({"name": "pre", "type": "host"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let (pre, json_text) = r.text.split_once('{').expect("JSON after the text");
    assert_eq!(pre, "openvpn[123]: server started\n");
    let v: Value = serde_json::from_str(&format!("{{{json_text}")).expect("the envelope");
    assert_eq!(v["data"]["name"], "pre", "the request was processed");
    let r = emu.get("/api/v2/firewall/aliases").await;
    assert_eq!(r.data()[0]["name"], "pre");
    assert!(r.text.starts_with('{'), "rule spent");
}

#[tokio::test]
async fn hang_fault_never_answers() {
    let emu = start().await;
    use pfsense_emulator::{Fault, FaultAction};
    emu.emu.add_fault(Fault::new(FaultAction::Hang).times(1));
    let r = emu
        .request("GET", "/api/v2/system/version")
        .timeout(std::time::Duration::from_millis(500))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn control_api_over_http_needs_admin_credentials() {
    let emu = start().await;
    let r = emu
        .send(emu.client.get(emu.url("/__emulator/requests")))
        .await;
    assert_eq!(r.status, 401);
    let r = emu
        .json(
            "POST",
            "/__emulator/faults",
            json!({"path": "/api/v2/firewall/*", "action": {"kind": "error", "status": 500}, "count": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(emu.get("/api/v2/firewall/aliases").await.status, 500);
    assert_eq!(emu.get("/api/v2/firewall/aliases").await.status, 200);
    alias(&emu, "before_reset").await;
    let log = emu.get("/__emulator/requests").await.json();
    assert!(
        log.as_array()
            .is_some_and(|l| l.iter().any(|e| e["status"] == 500))
    );
    let r = emu.json("POST", "/__emulator/reset", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(emu.get("/api/v2/firewall/aliases").await.data(), json!([]));
}

#[tokio::test]
async fn request_log_masks_secrets() {
    let emu = start().await;
    emu.json(
        "POST",
        "/api/v2/user",
        json!({"name": "u1", "password": "hunter2"}),
    )
    .await;
    let log = emu.emu.requests();
    let body = &log.last().expect("logged").body;
    assert!(!body.contains("hunter2"), "{body}");
}

/// Values PHP's `<=>` orders inconsistently ("9" < "10" by value, "10" < "1a" < "9" byte by
/// byte), in an order on which Rust's `slice::sort_by` (1.81+) panicked with the comparison
/// the emulator used before `pfsense_spec::php_sort`.
const INCONSISTENT: &[&str] = &[
    "9", "10", "1a", "8", "100", "2b", "11", "7", "1000", "3c", "99", "0a", "20", "5", "12a",
    "300", "4", "1", "9z", "21", "80", "b", "6", "15", "2",
];

/// `sort_by` reaches the sort with a caller's data: a plural GET sorted over values PHP's
/// `<=>` orders inconsistently must answer (a permutation of the list), not lose the
/// connection to a panic.
#[tokio::test]
async fn sort_by_over_inconsistently_ordered_values_answers() {
    let emu = start().await;
    for (i, descr) in INCONSISTENT.iter().enumerate() {
        let r = emu
            .json(
                "POST",
                "/api/v2/firewall/alias",
                json!({"name": format!("s{i:02}"), "type": "host", "address": ["10.0.0.1"], "descr": descr}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for flags in [
        "SORT_REGULAR",
        "SORT_NATURAL",
        "SORT_NUMERIC",
        "SORT_STRING",
    ] {
        let r = emu
            .query(
                "GET",
                "/api/v2/firewall/aliases",
                &[("sort_by", "descr"), ("sort_flags", flags)],
            )
            .await;
        assert_eq!(r.status, 200, "{flags}: {}", r.text);
        let mut got: Vec<String> = r
            .data()
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| o["descr"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        got.sort();
        let mut want: Vec<String> = INCONSISTENT.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{flags}: every alias once");
    }
}

/// The same values as the hosts of an always-sorted model (pfrest's `Model::sort()` after a
/// replacement and after each create): the PUT and a create after it answer, the list whole.
#[tokio::test]
async fn always_sorted_models_take_inconsistently_ordered_values() {
    let emu = start().await;
    let host = |h: &str| json!({"host": h, "domain": "example.org", "ip": ["10.0.0.1"]});
    let all: Vec<Value> = INCONSISTENT.iter().map(|h| host(h)).collect();
    let r = emu
        .json(
            "PUT",
            "/api/v2/services/dns_resolver/host_overrides",
            Value::Array(all),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .json(
            "POST",
            "/api/v2/services/dns_resolver/host_override",
            host("1b"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .get("/api/v2/services/dns_resolver/host_overrides")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.data().as_array().map(Vec::len),
        Some(INCONSISTENT.len() + 1)
    );
}
