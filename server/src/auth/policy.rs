//! Which key may make which call. The table in [`access`] is the one statement of the
//! rules; gRPC (by path) and REST (by the RPC a route calls) both ask it, and the Routing
//! handlers check a desk key's agents against the request ([`Caller::may_act_for`]).

use super::keys::{KeyRing, Role};
use axum::http::HeaderValue;
use std::collections::BTreeSet;
use std::sync::Arc;
use tonic::Status;

/// Who is calling, as the handlers see it (in the request's extensions).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's name, for logs; "(no keys)" when key checks are off.
    pub name: String,
    pub role: Role,
    /// The agents a desk key acts for.
    pub agents: Arc<BTreeSet<String>>,
}

impl Caller {
    /// Everyone, when no keys are configured (allowed on loopback only).
    pub fn unchecked() -> Self {
        Self {
            name: "(no keys)".into(),
            role: Role::Admin,
            agents: Arc::default(),
        }
    }

    /// Whether this caller may act for `agent`: admin always, desk for its own agents.
    pub fn may_act_for(&self, agent: &str) -> Result<(), Status> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Desk if self.agents.contains(agent) => Ok(()),
            _ => Err(Status::permission_denied(format!(
                "key {:?} may not act for agent {:?}",
                self.name,
                super::shorten(agent)
            ))),
        }
    }

    /// Whether this caller may complete or transfer a ticket held by `holder` (None: the
    /// ticket is queued or unknown, which only admin keys may touch).
    pub fn may_handle_ticket(&self, ticket: &str, holder: Option<&str>) -> Result<(), Status> {
        match (self.role, holder) {
            (Role::Admin, _) => Ok(()),
            (Role::Desk, Some(a)) if self.agents.contains(a) => Ok(()),
            _ => Err(Status::permission_denied(format!(
                "key {:?} may not handle ticket {:?}: it is not open with one of the key's agents",
                self.name,
                super::shorten(ticket)
            ))),
        }
    }
}

/// The caller of a request that went through the gate. A request without one did not
/// (a wiring fault), so it is refused rather than served unchecked.
pub fn caller<T>(r: &tonic::Request<T>) -> Result<&Caller, Status> {
    r.extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::internal("no caller identity on this request; refusing it"))
}

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: health checks, for load balancers and probes.
    Open,
    /// Any valid key: server reflection (it reveals only the public .proto schema).
    AnyKey,
    /// A key of one of these roles (admin always qualifies).
    Roles(&'static [Role]),
}

/// The rule for one RPC, named `package.Service/Method` as reflection names it.
/// Desk keys get the calls an agent desktop makes for its own agents; for each, the handler
/// checks the agent: SetPresence, GetAgent and WatchAssignments by `agent_id`, Complete and
/// Transfer by the agent the ticket is open with (a transfer may go to any agent). Roster
/// changes (UpsertAgent, RemoveAgent), Route and GetQueue (every customer's waiting
/// ticket) are admin only; so is anything not listed.
pub fn access(rpc: &str) -> Access {
    const ANSWERS: &[Role] = &[Role::Answers];
    const DESK: &[Role] = &[Role::Desk];
    const ADMIN: &[Role] = &[];
    let (service, method) = rpc.split_once('/').unwrap_or((rpc, ""));
    match service {
        "grpc.health.v1.Health" => Access::Open,
        "grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection" => Access::AnyKey,
        "kefu.v1.Answers" => Access::Roles(ANSWERS),
        "kefu.v1.Routing" => match method {
            "SetPresence" | "GetAgent" | "WatchAssignments" | "Complete" | "Transfer" => Access::Roles(DESK),
            _ => Access::Roles(ADMIN),
        },
        _ => Access::Roles(ADMIN),
    }
}

/// Decides, from the `authorization` header alone, whether a call may reach its handler.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    keys: Option<KeyRing>,
}

impl Gate {
    /// A gate over these keys; `None` lets every call through (loopback only).
    pub fn new(keys: Option<KeyRing>) -> Self {
        Self { keys }
    }

    /// Whether keys are checked at all.
    pub fn checks_keys(&self) -> bool {
        self.keys.is_some()
    }

    /// The caller of `rpc` given its `authorization` header, or the status refusing it:
    /// UNAUTHENTICATED without a known key, PERMISSION_DENIED for the wrong role. Messages
    /// never repeat what was presented.
    pub fn admit(&self, rpc: &str, header: Option<&HeaderValue>) -> Result<Caller, Status> {
        let rule = access(rpc);
        let Some(keys) = &self.keys else {
            return Ok(Caller::unchecked());
        };
        if rule == Access::Open {
            return Ok(Caller {
                name: "(health)".into(),
                role: Role::Answers,
                agents: Arc::default(),
            });
        }
        let header = header.ok_or_else(|| {
            Status::unauthenticated("no API key: send the header `authorization: Bearer <key>`")
        })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, s)| s.trim())
            .ok_or_else(|| Status::unauthenticated("the authorization header must be `Bearer <key>`"))?;
        let key = keys
            .find(secret)
            .ok_or_else(|| Status::unauthenticated("unknown API key"))?;
        let allowed = match rule {
            Access::Open | Access::AnyKey => true,
            Access::Roles(roles) => key.role == Role::Admin || roles.contains(&key.role),
        };
        if !allowed {
            return Err(Status::permission_denied(format!(
                "key {:?} (role {}) may not call {rpc}",
                key.name,
                key.role.name()
            )));
        }
        Ok(Caller {
            name: key.name.clone(),
            role: key.role,
            agents: key.agents.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::hash_secret;
    use super::*;

    fn gate() -> Gate {
        let inline = vec![
            format!("web:answers:{}", hash_secret("w")),
            format!("floor:desk:{}:ana", hash_secret("d")),
            format!("ops:admin:{}", hash_secret("o")),
        ];
        Gate::new(KeyRing::load(None, &inline).unwrap())
    }

    fn bearer(s: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {s}")).unwrap()
    }

    #[test]
    fn roles_reach_only_their_rpcs() {
        let g = gate();
        let code = |rpc: &str, key: &str| g.admit(rpc, Some(&bearer(key))).err().map(|s| s.code());
        assert_eq!(code("kefu.v1.Answers/Ask", "w"), None);
        assert_eq!(
            code("kefu.v1.Routing/Route", "w"),
            Some(tonic::Code::PermissionDenied)
        );
        assert_eq!(code("kefu.v1.Routing/SetPresence", "d"), None);
        assert_eq!(
            code("kefu.v1.Routing/UpsertAgent", "d"),
            Some(tonic::Code::PermissionDenied)
        );
        assert_eq!(
            code("kefu.v1.Answers/Ask", "d"),
            Some(tonic::Code::PermissionDenied)
        );
        assert_eq!(code("kefu.v1.Admin/Reload", "o"), None);
        assert_eq!(
            code("kefu.v1.Admin/Reload", "nope"),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            code("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "w"),
            None
        );
        assert!(g.admit("grpc.health.v1.Health/Check", None).is_ok());
        let s = g.admit("kefu.v1.Answers/Ask", None).unwrap_err();
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        let s = g
            .admit("kefu.v1.Answers/Ask", Some(&HeaderValue::from_static("Basic d3")))
            .unwrap_err();
        assert!(!s.message().contains("d3"), "{}", s.message());
    }

    #[test]
    fn desk_keys_act_only_for_their_agents() {
        let c = gate()
            .admit("kefu.v1.Routing/Complete", Some(&bearer("d")))
            .unwrap();
        assert!(c.may_act_for("ana").is_ok());
        assert_eq!(
            c.may_act_for("bo").unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert!(c.may_handle_ticket("t1", Some("ana")).is_ok());
        assert!(c.may_handle_ticket("t1", Some("bo")).is_err());
        assert!(
            c.may_handle_ticket("t1", None).is_err(),
            "queued tickets are not a desk's"
        );
        assert!(Caller::unchecked().may_handle_ticket("t1", None).is_ok());
    }
}
