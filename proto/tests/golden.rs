//! Golden files pin the wire format in both directions: each file under
//! `tests/golden/` must decode to the value built here, and that value must
//! encode to exactly the file's JSON (compared as JSON values).

use std::path::PathBuf;

use coffer_proto::envelope::{HelloEnvelope, RawRequest};
use coffer_proto::reply::{Event, KeyCacheInfo, State, StatusInfo, SyncFolderInfo};
use coffer_proto::request::{AddParams, FieldInput, LoginParams, NoParams, QueryParams};
use coffer_proto::{
    ErrorBody, ErrorCode, EventEnvelope, Hello, Request, RequestEnvelope, ResponseEnvelope, Secret,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn golden(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: T) {
    let text = golden(name);
    let decoded: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded, value, "{name} decodes differently");
    let encoded = serde_json::to_value(&value).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(encoded, expected, "{name} encodes differently");
}

#[test]
fn hello() {
    check(
        "hello.json",
        HelloEnvelope {
            hello: Hello {
                protocol: 1,
                software: "coffer 0.1.0".into(),
                pid: 42,
            },
        },
    );
}

#[test]
fn requests() {
    check(
        "request-status.json",
        RequestEnvelope {
            id: 1,
            request: Request::Status(NoParams {}),
        },
    );
    check(
        "request-add.json",
        RequestEnvelope {
            id: 7,
            request: Request::Add(AddParams {
                fields: vec![
                    FieldInput {
                        name: "title".into(),
                        value: Some(Secret::new("Mail")),
                    },
                    FieldInput {
                        name: "password".into(),
                        value: Some(Secret::new("s3cret")),
                    },
                ],
            }),
        },
    );
    check(
        "request-rm.json",
        RequestEnvelope {
            id: 9,
            request: Request::Remove(QueryParams {
                query: "Mail".into(),
            }),
        },
    );
    check(
        "request-login.json",
        RequestEnvelope {
            id: 3,
            request: Request::Login(LoginParams {
                email: "a@example.org".into(),
                password: Secret::new("pw"),
                account_key: Secret::new("C1-AAAAA"),
                sync_folder: Some(PathBuf::from("/sync")),
            }),
        },
    );
}

#[test]
fn responses() {
    check(
        "response-ok.json",
        ResponseEnvelope::ok(7, serde_json::json!({"id": "abc"})),
    );
    check(
        "response-error.json",
        ResponseEnvelope::err(
            Some(4),
            ErrorBody::new(
                ErrorCode::Locked,
                "the vault is locked; run `coffer unlock`",
            ),
        ),
    );
    check(
        "status.json",
        StatusInfo {
            state: State::Locked,
            account_id: Some("0b8e…".into()),
            email: Some("a@example.org".into()),
            epoch: Some(1),
            device_id: Some("d1".into()),
            device_name: Some("laptop".into()),
            items: None,
            pid: 100,
            container: Some(PathBuf::from("/home/a/.local/share/coffer/x.coffer")),
            sync_folders: vec![SyncFolderInfo {
                path: PathBuf::from("/sync"),
                health: "ok".into(),
                last_merge_ms: Some(5),
                device_files: 2,
                own_files: 3,
                written_bytes: 4096,
                problems: vec![],
                watch: "notify".into(),
            }],
            key_cache: KeyCacheInfo {
                backend: "keyutils".into(),
                persistent: true,
                warning: None,
            },
            lock_timeout_secs: 900,
            reset: None,
            kdf_warning: None,
            conflicts: vec![],
            version: "0.1.0".into(),
        },
    );
    check(
        "event-state.json",
        EventEnvelope {
            event: Event::State {
                state: State::Reset,
            },
            at_ms: 12,
        },
    );
}

#[test]
fn decoding_tells_errors_apart() {
    let (id, req) = RawRequest::decode(&golden("request-status.json")).unwrap();
    assert_eq!((id, req), (1, Request::Status(NoParams {})));
    // Missing params is the same as empty params.
    assert_eq!(
        RawRequest::decode(r#"{"id":2,"method":"list"}"#).unwrap(),
        (2, Request::List(NoParams {}))
    );
    let (id, e) = RawRequest::decode(r#"{"id":5,"method":"fly"}"#).unwrap_err();
    assert_eq!((id, e.code), (Some(5), ErrorCode::UnknownMethod));
    let (id, e) = RawRequest::decode(r#"{"id":6,"method":"get","params":{}}"#).unwrap_err();
    assert_eq!((id, e.code), (Some(6), ErrorCode::InvalidParams));
    let (id, e) = RawRequest::decode("not json").unwrap_err();
    assert_eq!((id, e.code), (None, ErrorCode::BadRequest));
    let (id, e) = RawRequest::decode(r#"{"method":"status"}"#).unwrap_err();
    assert_eq!((id, e.code), (None, ErrorCode::BadRequest));
}

#[test]
fn invalid_params_never_echo_secret_values() {
    let line = r#"{"id":1,"method":"unlock","params":{"password":12345678}}"#;
    let (_, e) = RawRequest::decode(line).unwrap_err();
    assert!(!e.message.contains("12345678"), "{}", e.message);
    let line = r#"{"id":1,"method":"unlock","params":{"password":["hunter2"]}}"#;
    let (_, e) = RawRequest::decode(line).unwrap_err();
    assert!(!e.message.contains("hunter2"), "{}", e.message);
}

#[test]
fn secrets_are_redacted_in_debug() {
    let r = Request::Login(LoginParams {
        email: "a@b".into(),
        password: Secret::new("hunter2"),
        account_key: Secret::new("C1-XYZ"),
        sync_folder: None,
    });
    let dbg = format!("{r:?}");
    assert!(!dbg.contains("hunter2") && !dbg.contains("C1-XYZ"), "{dbg}");
}
