//! Routing under real parallel load over gRPC: many tasks, each on its own
//! connection, Route, Complete and SetPresence at once; afterwards the desk's state
//! must add up — no agent over capacity, every ticket open with one agent, waiting
//! once, or completed once, and nobody waiting while an online agent has room.

use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::{
    Agent, CompleteRequest, GetAgentRequest, GetQueueRequest, Presence, RouteRequest, SetPresenceRequest,
    Tier, UpsertAgentRequest,
};
use std::collections::{BTreeSet, HashMap};
use tonic::Code;
use tonic::transport::Channel;

mod common;

const AGENTS: usize = 6;
const CAPACITY: u32 = 2;
const TASKS: usize = 8;
const TICKETS_PER_TASK: usize = 30;

fn agent_id(i: usize) -> String {
    format!("agent-{}", i % AGENTS)
}

async fn connect(addr: std::net::SocketAddr) -> RoutingClient<Channel> {
    RoutingClient::connect(format!("http://{addr}")).await.unwrap()
}

/// What one task did: tickets it routed and the ones it completed.
#[derive(Default)]
struct Done {
    routed: Vec<String>,
    completed: Vec<String>,
}

async fn worker(addr: std::net::SocketAddr, w: usize) -> Done {
    let mut c = connect(addr).await;
    let mut done = Done::default();
    let mut mine_open = Vec::new();
    for j in 0..TICKETS_PER_TASK {
        let id = format!("t-{w}-{j}");
        let r = c
            .route(RouteRequest {
                ticket_id: id.clone(),
                customer_id: format!("c-{w}-{j}"),
                tier: Tier::Standard as i32,
                language: "en".into(),
                channel: "chat".into(),
                ..Default::default()
            })
            .await
            .expect("Route")
            .into_inner();
        assert_eq!(r.ticket_id, id);
        assert_eq!(r.assigned, !r.agent_id.is_empty(), "{r:?}");
        done.routed.push(id.clone());
        if r.assigned {
            mine_open.push(id);
        }
        if j % 3 == 2 && !mine_open.is_empty() {
            let t = mine_open.remove(0);
            c.complete(CompleteRequest { ticket_id: t.clone() })
                .await
                .expect("an assigned ticket nobody else touches completes");
            done.completed.push(t);
        }
        if j % 10 == 4 {
            // Away stops new work for this agent; Online pulls waiting tickets to it.
            for presence in [Presence::Away, Presence::Online] {
                c.set_presence(SetPresenceRequest {
                    agent_id: agent_id(w),
                    presence: presence as i32,
                })
                .await
                .expect("SetPresence");
            }
        }
    }
    done
}

/// Open tickets per agent and the waiting queue, as the server reports them.
async fn desk(c: &mut RoutingClient<Channel>) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let mut open = Vec::new();
    for a in 0..AGENTS {
        let s = c
            .get_agent(GetAgentRequest {
                agent_id: agent_id(a),
            })
            .await
            .unwrap()
            .into_inner();
        let load = s.load.get("chat").copied().unwrap_or(0);
        assert!(
            load <= CAPACITY,
            "{} carries {load} chats over capacity {CAPACITY}",
            agent_id(a)
        );
        assert_eq!(
            load as usize,
            s.open_tickets.len(),
            "{}: load and open tickets disagree",
            agent_id(a)
        );
        assert_eq!(
            s.presence,
            Presence::Online as i32,
            "every agent's last presence was Online"
        );
        open.push((agent_id(a), s.open_tickets));
    }
    let queue: Vec<String> = c
        .get_queue(GetQueueRequest {})
        .await
        .unwrap()
        .into_inner()
        .tickets
        .into_iter()
        .map(|t| t.ticket_id)
        .collect();
    (open, queue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_route_complete_and_presence_keep_the_desk_consistent() {
    let (_dir, config) = common::setup();
    let srv = kefu_server::start(config).await.expect("server starts");
    let addr = srv.grpc_addr;
    let mut c = connect(addr).await;
    for a in 0..AGENTS {
        c.upsert_agent(UpsertAgentRequest {
            agent: Some(Agent {
                id: agent_id(a),
                name: agent_id(a),
                languages: vec!["en".into()],
                tiers: vec![Tier::Standard as i32],
                capacity: HashMap::from([("chat".to_string(), CAPACITY)]),
                ..Default::default()
            }),
            presence: Presence::Online as i32,
        })
        .await
        .unwrap();
    }

    let tasks: Vec<_> = (0..TASKS).map(|w| tokio::spawn(worker(addr, w))).collect();
    let mut routed = BTreeSet::new();
    let mut completed = BTreeSet::new();
    for t in tasks {
        let d = t.await.unwrap();
        routed.extend(d.routed);
        for id in d.completed {
            assert!(completed.insert(id.clone()), "{id} completed twice");
        }
    }
    assert_eq!(routed.len(), TASKS * TICKETS_PER_TASK);

    let (open, queue) = desk(&mut c).await;
    let queued: BTreeSet<String> = queue.iter().cloned().collect();
    assert_eq!(queued.len(), queue.len(), "a ticket waits twice: {queue:?}");
    let mut placed = BTreeSet::new();
    for (agent, tickets) in &open {
        for t in tickets {
            assert!(
                placed.insert(t.clone()),
                "{t} is open with two agents (second: {agent})"
            );
        }
    }
    assert!(placed.is_disjoint(&queued), "a ticket is both open and waiting");
    assert!(completed.is_disjoint(&placed) && completed.is_disjoint(&queued));
    let all: BTreeSet<String> = placed.iter().chain(&queued).chain(&completed).cloned().collect();
    assert_eq!(
        all, routed,
        "open + waiting + completed must be exactly the routed tickets"
    );
    assert_eq!(placed.len() + queued.len() + completed.len(), routed.len());
    let full = open.iter().all(|(_, t)| t.len() == CAPACITY as usize);
    assert!(
        queue.is_empty() || full,
        "tickets wait while an online agent has room"
    );

    // Drain: completing every open ticket pulls the waiting ones; each completes exactly once.
    for _ in 0..routed.len() {
        let (open, queue) = desk(&mut c).await;
        let open: Vec<String> = open.into_iter().flat_map(|(_, t)| t).collect();
        if open.is_empty() {
            assert!(queue.is_empty(), "{queue:?} wait with every agent free");
            break;
        }
        for t in open {
            c.complete(CompleteRequest { ticket_id: t.clone() })
                .await
                .unwrap();
            assert!(completed.insert(t.clone()), "{t} completed twice");
            let again = c.complete(CompleteRequest { ticket_id: t }).await.unwrap_err();
            assert_eq!(again.code(), Code::NotFound);
        }
    }
    assert_eq!(
        completed, routed,
        "every routed ticket was assigned and completed exactly once"
    );
    srv.shutdown().await;
}
