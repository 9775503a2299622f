//! The wrong-password delay: three free attempts, then 1, 2, 4 … 30 s
//! between attempts (typos are free, guessing is slow). One limiter per
//! daemon, shared by every request that takes the Account Password.

use std::time::{Duration, Instant};

use coffer_vault::account::AccountError;

use super::credentials::DeviceOpenError;

use crate::error::Error;

/// Consecutive wrong attempts and the time before which no new one is taken.
#[derive(Debug, Default)]
pub struct Limiter {
    failures: u32,
    not_before: Option<Instant>,
}

impl Limiter {
    /// Refuses an attempt made before the delay has passed.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(t) = self.not_before {
            let now = Instant::now();
            if t > now {
                return Err(Error::RateLimited {
                    secs: (t - now).as_secs() + 1,
                });
            }
        }
        Ok(())
    }

    /// A right password: the count starts again.
    pub fn success(&mut self) {
        self.failures = 0;
        self.not_before = None;
    }

    /// The error for a failed derivation; a wrong password or Account Key
    /// counts towards the delay.
    pub fn failure(&mut self, e: AccountError) -> Error {
        match e {
            AccountError::WrongCredentials => {
                self.failures += 1;
                if self.failures >= 3 {
                    let secs = (1u64 << (self.failures - 3).min(5)).min(30);
                    self.not_before = Some(Instant::now() + Duration::from_secs(secs));
                }
                tracing::info!(
                    failures = self.failures,
                    "wrong Account Password or Account Key"
                );
                Error::WrongCredentials("Account Password or Account Key is wrong".into())
            }
            AccountError::Kdf(k) => Error::BadInput(format!(
                "the account header asks for key derivation parameters coffer refuses: {k}"
            )),
            other => Error::BadInput(format!("the account header is damaged: {other}")),
        }
    }

    /// A failed unlock on a signed-in device: a superseded (old) password
    /// and a missing Account Key count as wrong attempts too.
    pub fn device_failure(&mut self, e: DeviceOpenError) -> Error {
        match e {
            DeviceOpenError::Failed(e) => self.failure(e),
            DeviceOpenError::Superseded { by } => {
                let _ = self.failure(AccountError::WrongCredentials);
                Error::WrongCredentials(format!(
                    "the Account Password was changed on {by}; use the new password"
                ))
            }
            DeviceOpenError::WrongSinceChange { by } => {
                let _ = self.failure(AccountError::WrongCredentials);
                Error::WrongCredentials(format!(
                    "Account Password or Account Key is wrong; note that the Account Password \
                     was changed on {by}: use the new password"
                ))
            }
            DeviceOpenError::AccountKeyNeeded => {
                let _ = self.failure(AccountError::WrongCredentials);
                Error::AccountKeyNeeded(
                    "the Account Password was changed on another device that did not know this \
                     one yet, so this device cannot check the new password alone: unlock with \
                     the new Account Password and the Account Key (COFFER_ACCOUNT_KEY), once; \
                     or the password typed is wrong"
                        .into(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_free_attempts_then_a_growing_delay() {
        let mut l = Limiter::default();
        for _ in 0..2 {
            let _ = l.failure(AccountError::WrongCredentials);
            assert!(l.check().is_ok());
        }
        let _ = l.failure(AccountError::WrongCredentials);
        assert!(matches!(l.check(), Err(Error::RateLimited { secs: 1 | 2 })));
        l.success();
        assert!(l.check().is_ok());
        let e = l.failure(AccountError::Tampered);
        assert!(matches!(e, Error::BadInput(_)), "{e}");
    }
}
