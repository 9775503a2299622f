//! Envelopes: what goes on each line.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorCode};
use crate::reply::Event;
use crate::request::Request;

/// The first line each side sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`crate::PROTOCOL_VERSION`] for this build.
    pub protocol: u32,
    /// `coffer 0.1.0` or `cofferd 0.1.0`.
    pub software: String,
    /// The sender's pid.
    pub pid: u32,
}

/// The hello line: `{"hello":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloEnvelope {
    /// The hello.
    pub hello: Hello,
}

/// A request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// Chosen by the client, echoed in the response.
    pub id: u64,
    /// The method and its parameters.
    #[serde(flatten)]
    pub request: Request,
}

/// A request line before the method is checked, so that an unknown method
/// or bad parameters can still be answered with the request's id.
#[derive(Debug, Clone, Deserialize)]
pub struct RawRequest {
    /// The request id, if the client sent one.
    pub id: Option<u64>,
    /// The method name.
    pub method: Option<String>,
    /// The parameters.
    pub params: Option<serde_json::Value>,
}

impl RawRequest {
    /// Decodes one request line. On failure, returns the id (when one could
    /// be read) and the error to answer with.
    pub fn decode(line: &str) -> Result<(u64, Request), (Option<u64>, ErrorBody)> {
        let raw: RawRequest = serde_json::from_str(line).map_err(|e| {
            (
                None,
                ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!(
                        "the request is not a JSON object with id, method and params (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                ),
            )
        })?;
        let id = raw.id.ok_or_else(|| {
            (
                None,
                ErrorBody::new(ErrorCode::BadRequest, "the request has no numeric \"id\""),
            )
        })?;
        let method = raw.method.ok_or_else(|| {
            (
                Some(id),
                ErrorBody::new(ErrorCode::BadRequest, "the request has no \"method\""),
            )
        })?;
        let request = Request::from_parts(&method, raw.params).map_err(|e| (Some(id), e))?;
        Ok((id, request))
    }
}

/// A response line: the request's id with a result or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// The request's id (`null` when the request's id could not be read).
    pub id: Option<u64>,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl ResponseEnvelope {
    /// A success.
    pub fn ok(id: u64, result: serde_json::Value) -> Self {
        ResponseEnvelope {
            id: Some(id),
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn err(id: Option<u64>, error: ErrorBody) -> Self {
        ResponseEnvelope {
            id,
            result: None,
            error: Some(error),
        }
    }
}

/// An event line: `{"event":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// The event.
    pub event: Event,
    /// When it happened (ms since the epoch).
    pub at_ms: u64,
}
