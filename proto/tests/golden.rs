//! Golden files pin the wire format in both directions: each file under
//! `tests/golden/` must decode to the value built here, and that value must
//! encode to exactly the file's JSON (compared as JSON values).

mod common;

use std::path::PathBuf;

use coffer_proto::envelope::{HelloEnvelope, RawRequest};
use coffer_proto::reply::{
    Event, FileProblem, HeaderInfo, KeyCacheInfo, State, StatusInfo, SyncFolderInfo, SyncReport,
};
use coffer_proto::request::{
    AddParams, FieldInput, ImportContainerParams, ListParams, LoginParams, NoParams, PasswdParams,
    QueryParams, SetHintParams, UnlockParams,
};
use coffer_proto::{
    ErrorBody, ErrorCode, EventEnvelope, Hello, Request, RequestEnvelope, ResponseEnvelope, Secret,
};
use common::{check, golden};

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
fn header_change_requests() {
    check(
        "request-passwd.json",
        RequestEnvelope {
            id: 3,
            request: Request::Passwd(PasswdParams {
                old_password: Secret::new("old"),
                new_password: Secret::new("new"),
                hint: Some("the blue one".into()),
                same: false,
            }),
        },
    );
    check(
        "request-passwd-same.json",
        RequestEnvelope {
            id: 4,
            request: Request::Passwd(PasswdParams {
                old_password: Secret::new("pw"),
                new_password: Secret::new("pw"),
                hint: None,
                same: true,
            }),
        },
    );
    check(
        "request-set-hint.json",
        RequestEnvelope {
            id: 5,
            request: Request::SetHint(SetHintParams {
                hint: "the blue one".into(),
            }),
        },
    );
    check(
        "request-unlock-with-key.json",
        RequestEnvelope {
            id: 6,
            request: Request::Unlock(UnlockParams {
                password: Secret::new("pw"),
                account_key: Some(Secret::new("C1-…")),
            }),
        },
    );
    check(
        "request-import-container.json",
        RequestEnvelope {
            id: 8,
            request: Request::ImportContainer(ImportContainerParams {
                file_name: "/home/a/.local/share/Trash/files/x.coffer".into(),
                content_base64: Secret::new("Q09GRkVS"),
                password: Secret::new("old pw"),
                account_key: Secret::new("C1-…"),
                dry_run: false,
            }),
        },
    );
    check(
        "response-error-account-key-needed.json",
        ResponseEnvelope::err(
            Some(6),
            ErrorBody::new(
                ErrorCode::AccountKeyNeeded,
                "the Account Password was changed on another device that did not know this one yet",
            ),
        ),
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
                generate: None,
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
                stale_files: 0,
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
            header: Some(HeaderInfo {
                generation: 2,
                changed_at_ms: Some(7),
                changed_by_device_id: Some("d2".into()),
                changed_by_device_name: Some("desktop".into()),
                lost_change: None,
                forged: vec![],
                replayed: vec![PathBuf::from("/sync/0b8e…/header-d3.json")],
            }),
            version: "0.1.0".into(),
            secret_service: None,
            ssh_agent: None,
        },
    );
    check(
        "sync-report.json",
        SyncReport {
            merged_files: 1,
            conflict_copies_removed: 2,
            stale_files_retired: 1,
            new_versions: 3,
            folders: vec![SyncFolderInfo {
                path: PathBuf::from("/sync"),
                health: "problems".into(),
                last_merge_ms: Some(5),
                device_files: 2,
                stale_files: 1,
                own_files: 2,
                written_bytes: 0,
                problems: vec![FileProblem {
                    path: PathBuf::from("/sync/0b8e…/device-d1.cofsync"),
                    reason: "this device's file was removed by something else 3 times".into(),
                    since_ms: 4,
                }],
                watch: "notify".into(),
            }],
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
        (2, Request::List(ListParams::default()))
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

#[test]
fn secret_service() {
    use coffer_proto::reply::ItemSummary;
    use coffer_proto::secret_service::{
        CollectionCount, SecretServiceParams, SecretServiceReport, SecretServiceState,
    };
    check(
        "request-secret-service-enable.json",
        RequestEnvelope {
            id: 11,
            request: Request::SecretServiceEnable(SecretServiceParams {
                bus_address: Some("unix:path=/run/user/1000/bus".into()),
            }),
        },
    );
    check(
        "request-list-collection.json",
        RequestEnvelope {
            id: 12,
            request: Request::List(ListParams {
                collection: Some("login".into()),
                all_collections: false,
            }),
        },
    );
    check(
        "item-summary-secret-service.json",
        vec![ItemSummary {
            id: "6f0c…".into(),
            title: "GitHub token".into(),
            username: String::new(),
            url: String::new(),
            modified_ms: 1700000000000,
            kind: Some("secret".into()),
            collection: Some("login".into()),
            attributes: [("service", "github"), ("user", "alice")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }],
    );
    check(
        "secret-service-report.json",
        SecretServiceReport {
            message: "cofferd provides org.freedesktop.secrets".into(),
            state: SecretServiceState {
                enabled: true,
                providing: true,
                bus_address: Some("unix:path=/run/user/1000/bus".into()),
                problem: None,
                waiting: vec!["secret-tool (pid 42)".into()],
            },
            bus_reachable: Some(true),
            owner: Some("cofferd (pid 7)".into()),
            activation_file: Some(PathBuf::from(
                "/home/a/.local/share/dbus-1/services/org.freedesktop.secrets.service",
            )),
            collections: Some(vec![CollectionCount {
                id: "login".into(),
                items: 3,
            }]),
        },
    );
    // A daemon that never heard of collections gets an empty `list`, and a
    // plain list still encodes as one.
    assert_eq!(
        RawRequest::decode(r#"{"id":2,"method":"list","params":{}}"#).unwrap(),
        (2, Request::List(ListParams::default()))
    );
    assert_eq!(
        serde_json::to_value(Request::List(ListParams::default())).unwrap(),
        serde_json::json!({"method": "list", "params": {}})
    );
}
