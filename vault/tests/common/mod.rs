//! What the vector tests share: reading and writing vector files
//! (`name: value` header lines, `---`, then the exact bytes) and hex.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

pub struct Vector {
    pub name: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Vector {
    pub fn read(path: &Path) -> Vector {
        let bytes = std::fs::read(path).expect("vector readable");
        let sep = b"\n---\n";
        let at = bytes
            .windows(sep.len())
            .position(|w| w == sep)
            .expect("vector has a --- line");
        let head = std::str::from_utf8(&bytes[..at]).expect("vector header is UTF-8");
        let headers = head
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").expect("header line is `name: value`");
                (k.to_owned(), v.to_owned())
            })
            .collect();
        Vector {
            name: path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned(),
            headers,
            body: bytes[at + sep.len()..].to_vec(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn need(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("{}: no `{key}:` line", self.name))
    }

    pub fn write(dir: &Path, name: &str, headers: &[(&str, String)], body: &[u8]) {
        let mut out = Vec::new();
        for (k, v) in headers {
            out.extend_from_slice(format!("{k}: {v}\n").as_bytes());
        }
        out.extend_from_slice(b"---\n");
        out.extend_from_slice(body);
        std::fs::write(dir.join(name), out).expect("write vector");
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
