//! Where `serve` takes its bearer tokens from: flags (visible in `ps`), environment variables or
//! files (not visible), resolved into one operator token and the tenant admin tokens.

use std::path::{Path, PathBuf};

/// The token inputs as parsed by clap (flags and environment share a field).
pub struct TokenSources {
    pub operator: Option<String>,
    pub operator_file: Option<PathBuf>,
    /// `tenant=token` entries.
    pub admins: Vec<String>,
    /// One `tenant=token` per line; blank lines and `#` comments skipped.
    pub admins_file: Option<PathBuf>,
}

/// The resolved tokens.
#[derive(Debug, PartialEq)]
pub struct Tokens {
    pub operator: String,
    /// `(tenant, token)` pairs.
    pub admins: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("an operator token is required: set LOCAL_OPERATOR_TOKEN, --operator-token-file or --operator-token")]
    NoOperator,
    #[error("{0} is empty")]
    Empty(String),
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// The entry is not shown: it may be a token.
    #[error("{source_name} entry {index} is not tenant=token")]
    NotAPair { source_name: String, index: usize },
}

fn read(path: &Path) -> Result<String, TokenError> {
    std::fs::read_to_string(path).map_err(|e| TokenError::Unreadable {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    })
}

fn pair(entry: &str, source_name: &str, index: usize) -> Result<(String, String), TokenError> {
    match entry.trim().split_once('=') {
        Some((t, k)) if !t.trim().is_empty() && !k.trim().is_empty() => {
            Ok((t.trim().to_string(), k.trim().to_string()))
        }
        _ => Err(TokenError::NotAPair {
            source_name: source_name.to_string(),
            index,
        }),
    }
}

impl TokenSources {
    pub fn resolve(self) -> Result<Tokens, TokenError> {
        let operator = match (self.operator, &self.operator_file) {
            (_, Some(path)) => {
                let text = read(path)?;
                let first = text.lines().next().unwrap_or("").trim().to_string();
                if first.is_empty() {
                    return Err(TokenError::Empty(path.display().to_string()));
                }
                first
            }
            (Some(t), None) if !t.trim().is_empty() => t.trim().to_string(),
            (Some(_), None) => return Err(TokenError::Empty("the operator token".into())),
            (None, None) => return Err(TokenError::NoOperator),
        };
        let mut admins = Vec::new();
        // An empty LOCAL_ADMIN_TOKENS means none, not one empty entry.
        for (i, entry) in self.admins.iter().enumerate() {
            if entry.trim().is_empty() {
                continue;
            }
            admins.push(pair(entry, "--admin-token / LOCAL_ADMIN_TOKENS", i + 1)?);
        }
        if let Some(path) = &self.admins_file {
            let name = path.display().to_string();
            for (i, line) in read(path)?.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                admins.push(pair(line, &name, i + 1)?);
            }
        }
        Ok(Tokens { operator, admins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> TokenSources {
        TokenSources {
            operator: None,
            operator_file: None,
            admins: vec![],
            admins_file: None,
        }
    }

    #[test]
    fn files_and_environment_give_the_same_tokens_as_flags() {
        let dir = tempfile::tempdir().unwrap();
        let op = dir.path().join("op");
        std::fs::write(&op, "  op-secret \n").unwrap();
        let admins = dir.path().join("admins");
        std::fs::write(
            &admins,
            "# tenant=token\nacme=a-secret\n\n beta = b-secret \n",
        )
        .unwrap();
        let t = TokenSources {
            operator_file: Some(op),
            admins: vec!["gamma=g-secret".into()],
            admins_file: Some(admins),
            ..sources()
        }
        .resolve()
        .unwrap();
        assert_eq!(t.operator, "op-secret");
        assert_eq!(
            t.admins,
            vec![
                ("gamma".into(), "g-secret".into()),
                ("acme".into(), "a-secret".into()),
                ("beta".into(), "b-secret".into())
            ]
        );
    }

    #[test]
    fn errors_name_the_source_never_the_token() {
        assert_eq!(sources().resolve().unwrap_err(), TokenError::NoOperator);
        let e = TokenSources {
            operator: Some("op".into()),
            admins: vec!["acme=ok".into(), "leaked-secret".into()],
            ..sources()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--admin-token / LOCAL_ADMIN_TOKENS entry 2 is not tenant=token"
        );
        let missing = TokenSources {
            operator_file: Some("/nonexistent/op".into()),
            ..sources()
        }
        .resolve()
        .unwrap_err();
        assert!(
            matches!(missing, TokenError::Unreadable { .. }),
            "{missing}"
        );
    }
}
