//! The error every parser returns: where in the file, and what is wrong.
//!
//! Messages never quote item values (passwords, notes, field values); at
//! most an item's title and a column or field name.

/// Why an export could not be read. Parsing is all or nothing: any error
/// means no item is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is not in the expected format at all (wrong root element,
    /// not JSON, missing header columns ...).
    #[error("{location}: not a {format} export: {reason}")]
    WrongFormat {
        /// The format that was expected (canonical name).
        format: &'static str,
        /// Where the mismatch was seen (`line 1`, `document` ...).
        location: String,
        /// What was found instead.
        reason: String,
    },
    /// The export is encrypted or protected; only plaintext exports are read.
    #[error("{location}: {reason}")]
    Encrypted {
        /// Where (`document`, `entry 3 ("Mail")` ...).
        location: String,
        /// What to export instead.
        reason: String,
    },
    /// The file has the right shape but something in it is broken.
    #[error("{location}: {reason}")]
    Malformed {
        /// `line N`, `line N, column "X"`, `item N ("title")`, `entry N ("title")` ...
        location: String,
        /// What is wrong.
        reason: String,
    },
}

impl ImportError {
    /// Where in the file the problem is.
    pub fn location(&self) -> &str {
        match self {
            ImportError::WrongFormat { location, .. }
            | ImportError::Encrypted { location, .. }
            | ImportError::Malformed { location, .. } => location,
        }
    }

    /// What is wrong.
    pub fn reason(&self) -> &str {
        match self {
            ImportError::WrongFormat { reason, .. }
            | ImportError::Encrypted { reason, .. }
            | ImportError::Malformed { reason, .. } => reason,
        }
    }

    pub(crate) fn malformed(location: impl Into<String>, reason: impl Into<String>) -> Self {
        ImportError::Malformed {
            location: location.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn wrong_format(
        format: &'static str,
        location: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ImportError::WrongFormat {
            format,
            location: location.into(),
            reason: reason.into(),
        }
    }
}

/// `entry 3 ("Mail")`: a 1-based index and the title, for XML and JSON locations.
pub(crate) fn entry_location(noun: &str, index: usize, title: &str) -> String {
    if title.is_empty() {
        format!("{noun} {index} (untitled)")
    } else {
        format!("{noun} {index} ({title:?})")
    }
}
