//! Small pieces of the lab handle: the chaos principal and the `lab.env` text.

use std::path::{Path, PathBuf};

use super::{LabError, STATE_DIR_ENV, io_err};
use crate::state::State;
use crate::world::{Principal, World, roles};

/// The default state dir: `$ACR_CHAOS_LAB_STATE`, else `.lab/` under the current dir.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os(STATE_DIR_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".lab"))
}

/// Loads a world file, errors naming the file (and line/column when the parser has them).
pub fn load_world(path: &Path) -> Result<World, LabError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    World::from_yaml(&text)
        .map_err(|e| LabError::World { path: path.display().to_string(), message: e.to_string() })
}

/// Credentials of the principal the chaos engine runs as.
#[derive(Clone)]
pub struct ChaosPrincipal {
    pub client_id: String,
    pub object_id: String,
    pub secret: String,
}

impl std::fmt::Debug for ChaosPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosPrincipal")
            .field("client_id", &self.client_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The principal allowed to run chaos: one with a valid secret holding Owner or User
/// Access Administrator somewhere (the default world's `acr-chaos-runner`).
pub fn find_chaos_principal(st: &State) -> Option<ChaosPrincipal> {
    let now = st.clock.utc_now();
    let usable = |p: &&Principal| p.secret.is_some() && p.secret_expires.is_none_or(|e| e > now);
    let admin = |p: &&Principal| {
        st.live_role_assignments().any(|a| {
            a.principal_id.eq_ignore_ascii_case(&p.object_id)
                && [roles::OWNER, roles::USER_ACCESS_ADMINISTRATOR]
                    .iter()
                    .any(|r| a.role_guid().eq_ignore_ascii_case(r))
        })
    };
    st.principals.iter().filter(usable).find(admin).map(|p| ChaosPrincipal {
        client_id: p.client_id.clone(),
        object_id: p.object_id.clone(),
        secret: p.secret.clone().unwrap_or_default(),
    })
}

/// `export K='V'` lines (single-quoted, `'` escaped), shell-sourceable.
pub fn render_env(vars: &[(&str, String)]) -> String {
    let mut out = String::from("# Written by `acr-chaos lab up`; source it: . ./lab.env\n");
    for (k, v) in vars {
        out.push_str(&format!("export {k}='{}'\n", v.replace('\'', r"'\''")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateOptions;
    use crate::world::World;

    #[test]
    fn env_lines_are_quoted_for_the_shell() {
        let text = render_env(&[("A", "x y".into()), ("B", "it's".into())]);
        assert!(text.contains("export A='x y'\n"), "{text}");
        assert!(text.contains(r"export B='it'\''s'"), "{text}");
    }

    #[test]
    fn chaos_principal_is_the_owner_with_a_valid_secret() {
        let st = State::new(World::default_world(), StateOptions::default());
        let p = find_chaos_principal(&st).unwrap();
        assert_eq!(p.client_id, "3c1f0e2d-0000-4000-8000-00000000c4a0");
        assert!(!format!("{p:?}").contains(&p.secret), "secret leaked in Debug");
    }

    #[test]
    fn bad_world_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("acr-chaos-world-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("w.yaml");
        std::fs::write(&p, "tenantId: [oops\n").unwrap();
        let err = load_world(&p).unwrap_err().to_string();
        assert!(err.contains("w.yaml"), "{err}");
        let missing = load_world(&dir.join("nope.yaml")).unwrap_err().to_string();
        assert!(missing.contains("nope.yaml"), "{missing}");
    }
}
