//! Golden files of the SSH-key methods (`ssh_import`, `ssh_generate`,
//! `ssh_list`), the agent's part of `status`, and an item's `kind` in
//! `list`: each file decodes to the value built here and that value encodes
//! to exactly the file's JSON (compared as JSON values).

mod common;

use std::path::PathBuf;

use coffer_proto::reply::{ItemSummary, KeyCacheInfo, State, StatusInfo};
use coffer_proto::request::{FieldInput, NoParams};
use coffer_proto::ssh::{
    SshAgentInfo, SshGenerateParams, SshImportParams, SshKeyInfo, SshKeysReply,
};
use coffer_proto::{Request, RequestEnvelope, Secret};
use common::check;

#[test]
fn ssh_requests() {
    check(
        "request-ssh-import.json",
        RequestEnvelope {
            id: 11,
            request: Request::SshImport(SshImportParams {
                fields: vec![
                    FieldInput {
                        name: "title".into(),
                        value: Some(Secret::new("Deploy key")),
                    },
                    FieldInput {
                        name: "notes".into(),
                        value: Some(Secret::new("CI")),
                    },
                ],
                private_key: Secret::new(
                    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
                ),
                passphrase: Some(Secret::new("pp")),
            }),
        },
    );
    check(
        "request-ssh-generate.json",
        RequestEnvelope {
            id: 12,
            request: Request::SshGenerate(SshGenerateParams {
                title: "Laptop".into(),
                key_type: "rsa".into(),
                bits: Some(4096),
                comment: None,
            }),
        },
    );
    check(
        "request-ssh-list.json",
        RequestEnvelope {
            id: 13,
            request: Request::SshList(NoParams {}),
        },
    );
}

#[test]
fn generate_defaults_to_ed25519_and_import_needs_no_passphrase() {
    let r = Request::from_parts("ssh_generate", Some(serde_json::json!({"title": "T"}))).unwrap();
    assert_eq!(
        r,
        Request::SshGenerate(SshGenerateParams {
            title: "T".into(),
            key_type: "ed25519".into(),
            bits: None,
            comment: None,
        })
    );
    let r = Request::from_parts(
        "ssh_import",
        Some(serde_json::json!({"fields": [], "private_key": "k"})),
    )
    .unwrap();
    let Request::SshImport(p) = r else {
        panic!("not ssh_import: {r:?}")
    };
    assert_eq!(p.passphrase, None);
    // The private key and passphrase never show in Debug.
    let shown = format!(
        "{:?}",
        SshImportParams {
            fields: vec![],
            private_key: Secret::new("PRIVATE-KEY-TEXT"),
            passphrase: Some(Secret::new("the passphrase")),
        }
    );
    assert!(
        !shown.contains("PRIVATE-KEY-TEXT") && !shown.contains("the passphrase"),
        "{shown}"
    );
}

#[test]
fn ssh_replies() {
    check(
        "ssh-keys.json",
        SshKeysReply {
            keys: vec![SshKeyInfo {
                id: "7d1c0c3e-5bb0-4ac4-9a0e-0d6f2b1a9e11".into(),
                title: "Laptop".into(),
                algorithm: "ssh-ed25519".into(),
                fingerprint: "SHA256:2nS1Eo9Jm0Zq8eTnBnnN0n1xQ2Yq3P6k1Wb0k2uVbLk".into(),
                public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1H7pHXrYw2bq3cQkS6cbW2r0k8Dq4b1lYJ8w3fZ1xG Laptop".into(),
            }],
            from_locked_index: true,
        },
    );
    check(
        "status-ssh-agent.json",
        StatusInfo {
            state: State::Unlocked,
            account_id: Some("0b8e…".into()),
            email: Some("a@example.org".into()),
            epoch: Some(1),
            device_id: Some("d1".into()),
            device_name: Some("laptop".into()),
            items: Some(3),
            pid: 100,
            container: Some(PathBuf::from("/home/a/.local/share/coffer/x.coffer")),
            sync_folders: vec![],
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
            header: None,
            secret_service: None,
            ssh_agent: Some(SshAgentInfo {
                socket: PathBuf::from("/run/user/1000/coffer/ssh-agent.sock"),
                serving: true,
                error: None,
                list_locked: false,
                add_policy: "refuse".into(),
            }),
        },
    );
    check(
        "list-with-kind.json",
        vec![
            ItemSummary {
                id: "a".into(),
                title: "Laptop".into(),
                username: String::new(),
                url: String::new(),
                modified_ms: 5,
                kind: Some("ssh-key".into()),
                collection: None,
                attributes: Default::default(),
            },
            ItemSummary {
                id: "b".into(),
                title: "Mail".into(),
                username: "me".into(),
                url: "https://mail.example.org".into(),
                modified_ms: 6,
                kind: None,
                collection: None,
                attributes: Default::default(),
            },
        ],
    );
}
