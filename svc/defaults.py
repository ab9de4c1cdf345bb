"""Every default in one declarative place.

Daemons, the CLI and the tests read these names; nothing else hard-codes a port,
a period or a path. Values follow Docker Swarm where users expect them to, and say
so where we deliberately differ.
"""

from __future__ import annotations

VERSION = "0.1.0"

# --- ports (clear of Docker's 2377/7946/4789/9323, so both can run on one host) ---
MANAGER_GRPC_PORT = 4242
MANAGER_RAFT_PORT = 4243
JOIN_PORT_OFFSET = 2  # the join port (TLS, no client certificate: token joins only) is the API port + 2 (4244)
MANAGER_METRICS_PORT = 9424
NODE_METRICS_PORT = 9425
NODE_PEER_PORT = 4245  # a node serves the image blobs it holds to other nodes here (mutual TLS; 0 = off)
PEER_MAX = 3  # peers named in an assignment for a task's image (holders first)
PEER_CONNECT_TIMEOUT_SECONDS = 2.0  # a peer that does not answer this fast is skipped for the next source
PEER_READ_TIMEOUT_SECONDS = 30.0
PEER_WAIT_SECONDS = 20.0  # a peer asked for a blob it is downloading itself waits this long for it, then 404

# --- files ---
CONFIG_FILE = "/etc/svc/config.toml"
DATA_DIR = "/var/lib/svc"
RUN_DIR = "/run/svc"
ENGINE_SOCKET_NAME = "engine.sock"  # under RUN_DIR, mode 0600
DOCKER_SOCKET_NAME = "docker.sock"  # under RUN_DIR, mode 0600: a manager's Docker Engine API
NODE_DOCKER_SOCKET_NAME = "node-docker.sock"  # under RUN_DIR, mode 0600: a node engine's Docker Engine API
DOCKER_API_MAX_BODY_BYTES = 4 << 20  # a request body past this is a 413 (a secret's 500 KiB is 680 KiB in base64)
MANAGER_ADDR_FILE = "manager.addr"  # under RUN_DIR: where the local manager listens
UNLOCK_SOCKET_NAME = "manager-unlock.sock"  # under RUN_DIR, 0600: a locked manager's only listener
MANAGER_CREDS_FILE = "manager.admin"  # under RUN_DIR: which root-only admin credential the local CLI uses

# --- daemons (svcd) ---
DAEMON_STOP_GRACE_SECONDS = 15.0  # SIGTERM to exit, at most; systemd's TimeoutStopSec is longer (units)
FIRST_LEADER_TIMEOUT_SECONDS = 30.0  # `--init`: the new one-member Raft elects us, or start-up fails
MANAGER_EXECUTOR_THREADS = 32  # a manager's blocking work (Raft membership, CA) runs in this many threads
NODE_EXECUTOR_THREADS = 64  # a node's engine calls (runc, conmon, mounts) run in this many threads
MANAGER_UPKEEP_SECONDS = 1.0  # a manager checks its own record, peers, renewal and seal this often
LEADER_HANDOVER_SECONDS = 0.2  # a stopping leader waits this long after handing leadership over

# --- node engine ---
DEFAULT_RUNTIME = "runc"
KNOWN_RUNTIMES = ("runc", "crun")
CGROUP_PARENT = "svc"
BRIDGE_NAME = "svc0"
BRIDGE_SUBNET = "10.77.0.0/16"
CNI_PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
STOP_SIGNAL = "SIGTERM"
STOP_GRACE_SECONDS = 10.0  # Docker's and Swarm's
HEALTH_INTERVAL_SECONDS = 30.0  # Docker's
HEALTH_TIMEOUT_SECONDS = 30.0
HEALTH_RETRIES = 3
HEALTH_START_PERIOD_SECONDS = 0.0
HEALTH_LOG_ENTRIES = 5  # Docker keeps the last 5 probe results
HEALTH_OUTPUT_BYTES = 4096
IMAGE_CHUNK_BYTES = 1 << 20
CONTAINER_CREATE_TIMEOUT_SECONDS = 60.0  # conmon + the runtime's `create`; a pull is not part of it
IMAGE_RESOLVE_TIMEOUT_SECONDS = 10.0  # the leader's one manifest request pinning a service's tag to a digest
RUNTIME_PROBE_TIMEOUT_SECONDS = 30.0  # the start-up check that a runtime can create a container here
# Image garbage collection (the kubelet's imageGCHighThresholdPercent / LowThresholdPercent / MinimumGCAge):
# past HIGH percent of the image store's file system in use, unused images go, least recently used first,
# until LOW percent; an image used (or added) less than MIN_AGE ago is kept.
IMAGE_GC_HIGH_THRESHOLD_PERCENT = 85.0
IMAGE_GC_LOW_THRESHOLD_PERCENT = 80.0
IMAGE_GC_MIN_AGE_SECONDS = 120.0
IMAGE_GC_PERIOD_SECONDS = 60.0  # the disk is checked this often, and after every import or pull
EXIT_RESCAN_SECONDS = 2.0  # rescan conmon's exit files this often, in case inotify missed one
LOG_FOLLOW_POLL_SECONDS = 0.1  # `logs --follow` polls the log file this often

# --- cluster (Swarm's values unless noted) ---
OVERLAY_VNI_BASE = 4096  # Swarm's first VXLAN id
OVERLAY_ADDR_POOL = "10.0.0.0/8"  # Swarm's --default-addr-pool
OVERLAY_SUBNET_PREFIX = 24  # Swarm's --default-addr-pool-mask-length
OVERLAY_MTU = 1450  # 1500 less VXLAN's 50 bytes
HEARTBEAT_PERIOD_SECONDS = 1.0  # Swarm: 5 s; the issue asks for 1 s
HEARTBEAT_MISSES_DOWN = 3  # node DOWN after 3 missed periods (Swarm's grace multiplier)
STALL_TICK_SECONDS = 0.1  # the leader's ticker measuring its own event-loop stalls (manager/stallclock.py)
STALL_SLACK_SECONDS = 0.05  # a tick later than this is stall, not counted against nodes' heartbeats
# After an election every node gets this many times the grace to find the new leader (Swarm's
# gracePeriodMultiplierUnknown is the same 2x).
ELECTION_GRACE_FACTOR = 2
# The leader answers every 3rd heartbeat on a node's stream, and a node waits 3 periods (plus a margin)
# for an answer. Swarm answers every beat of a unary call; at 1 s beats that cost the leader ~30 % of a
# core for 200 nodes, ~10 % this way (docs/benchmarks.md).
HEARTBEAT_ANSWER_EVERY = 3
# Beats as UDP datagrams (svc/heartbeatwire.py), a fraction of a gRPC message's cost to the leader.
# The port: 0 = the number of the manager's gRPC port, on UDP; -1 = off (every beat on the stream).
HEARTBEAT_UDP_PORT = 0
# A node that has no UDP answer this many periods into a session (UDP filtered, an older manager)
# beats on the gRPC stream for the rest of the session.
HEARTBEAT_UDP_PROBE_PERIODS = 3
HEARTBEAT_DATAGRAM_MAX_BYTES = 1400  # below any path's MTU: a beat or an answer is never fragmented
HEARTBEAT_UDP_DRAIN_MAX = 10_000  # datagrams taken per tick at most: a flood cannot hold the loop
HEARTBEAT_UDP_DRAIN_SECONDS = 0.02  # and at most this long per tick
HEARTBEAT_UDP_RCVBUF_BYTES = 4 << 20  # the leader's socket buffer: beats that wait out a loop stall
TASK_HISTORY_PER_SLOT = 5
# Swarm's restart-policy delay: a task that failed or completed is replaced this long after it ended,
# unless its service sets its own delay. Tasks of a node that went down are replaced at once.
RESTART_DELAY_SECONDS = 5.0
# Swarm's UpdateConfig/RollbackConfig defaults, for a service that leaves a field unset
# (manager/rollout.py): one task at a time, no delay, pause on a failure, watch a new task for 5 s,
# no failure tolerated, the old task stopped before the new one starts.
UPDATE_PARALLELISM = 1
UPDATE_DELAY_SECONDS = 0.0
UPDATE_FAILURE_ACTION = "pause"
UPDATE_MONITOR_SECONDS = 5.0
UPDATE_MAX_FAILURE_RATIO = 0.0
UPDATE_ORDER = "stop-first"
ASSIGNMENT_BATCH_SECONDS = 0.05  # Swarm: 100 ms
STATUS_BATCH_SECONDS = 0.05  # Swarm: 100 ms
STATUS_BATCH_MAX = 10_000
SCHEDULER_BATCH = 1000  # tasks per Raft write from one leader round
MAX_MANAGERS = 7  # Docker recommends at most 7 but does not enforce it; more only slow every commit
MAX_REPLICAS = 100_000  # per service: a typo's 1e9 replicas would wedge the leader, not fail

# --- the leader's loop (manager/leader.py) ---
LEADER_TICK_SECONDS = 0.5  # a round at least this often, so heartbeat expiry is noticed within it
LEADER_SETTLE_SECONDS = 0.01  # let a burst of store changes land before reading the snapshot
LEADER_STATUS_SETTLE_SECONDS = 0.2  # rounds woken only by task status reports wait this long (waves)
LEADER_RETRY_SECONDS = 0.2  # a round whose write failed (no quorum, conflict) decides again this soon
LEADER_ERROR_RETRY_SECONDS = 1.0  # a round that raised: back off rather than spin on the same bug
LEADER_POLL_SECONDS = 0.1  # how soon a follower notices it became the leader

# --- managers talking to managers ---
FORWARD_TIMEOUT_SECONDS = 60.0  # a follower's call forwarded to the leader (control API, Raft joins)
LEADER_WAIT_SECONDS = 5.0  # how long a follower waits through an election for a leader to forward to
DEMOTE_SETTLE_SECONDS = 0.5  # between a demotion's role write and its Raft removal: the manager sees it
LOG_NODE_ANSWER_SECONDS = 10.0  # `svc logs`: a node that does not open its log stream by then is skipped

# --- Raft (pysyncobj) ---
RAFT_LEADER_FALLBACK_SECONDS = 3.0  # pysyncobj's default is 30 s: far too long for a stale leader
RAFT_ELECTION_MIN_SECONDS = 0.4  # pysyncobj's default
RAFT_ELECTION_MAX_SECONDS = 1.4  # pysyncobj's default
RAFT_CONNECTION_TIMEOUT_SECONDS = 3.5  # pysyncobj's default; it must be at least the election maximum
RAFT_CONNECTION_RETRY_SECONDS = 1.0  # pysyncobj: 5 s; a restarted manager rejoins sooner
RAFT_TICK_SECONDS = 0.05  # the tick thread's poll timeout: paces timers only (commands wake it at once)
RAFT_COMPACTION_MIN_ENTRIES = 20_000  # pysyncobj: 5000; fewer snapshots (each writes the whole store)
RAFT_COMPACTION_MIN_SECONDS = 600  # pysyncobj: 300
RAFT_QUEUE_SIZE = 100_000  # pysyncobj's default: commands waiting for the tick thread
RAFT_COMMIT_TIMEOUT_SECONDS = 10.0
RAFT_WRITE_RETRIES = 3  # a write that timed out or met an election is retried (same key: applies once)
RAFT_RETRY_FIRST_SECONDS = 0.1  # doubled each retry
IDEMPOTENCY_TTL_SECONDS = 600.0

# --- certificates (Swarm's values unless noted) ---
CA_LIFETIME_SECONDS = 20 * 365 * 24 * 3600.0  # the root CA: 20 years
CERT_LIFETIME_SECONDS = 90 * 24 * 3600.0  # node and manager certificates
CERT_RENEW_FRACTION = (0.5, 0.8)  # renewed at a random point in this fraction of their lifetime
CERT_BACKDATE_SECONDS = 300.0  # Swarm: 1 h; ours is only for clock skew between hosts
# Admin credentials (`svc cluster client-bundle`, and the local CLI's under RUN_DIR): not renewed by
# anyone, so longer than a node's; a year bounds how long a copied bundle stays useful. Swarm has none.
ADMIN_CERT_LIFETIME_SECONDS = 365 * 24 * 3600.0
ADMIN_CERT_CHECK_SECONDS = 3600.0  # a manager reissues the local admin credential past 80 % of its life
MANAGER_TLS_NAME = "svc-manager"  # every manager certificate carries this name

# --- gRPC channels (every client of a manager: nodes, managers, the CLI) ---
# A keepalive ping every 10 s, unanswered for 5 s, drops the connection: a manager that vanished without
# closing it is noticed in ~15 s even on a stream that sends nothing (gRPC's default: no keepalive).
GRPC_KEEPALIVE_SECONDS = 10.0
GRPC_KEEPALIVE_TIMEOUT_SECONDS = 5.0
GRPC_RECONNECT_MIN_SECONDS = 0.2  # gRPC's: 1 s; a restarted manager is reached again sooner
GRPC_RECONNECT_MAX_SECONDS = 2.0  # gRPC's: 120 s
GRPC_MAX_MESSAGE_BYTES = 64 << 20  # gRPC's: 4 MiB; room for a large node's full assignment set or task list
CA_FETCH_TIMEOUT_SECONDS = 10.0  # `--join`: fetching the CA certificate from the join port
CA_FETCH_RETRY_SECONDS = 0.2  # `--join` during a rotation's first moment: asking again for a leaf under the pinned root

# --- node agent ---
SESSION_RPC_TIMEOUT_SECONDS = 10.0  # Register and UpdateTaskStatus calls to the leader
SESSION_CONNECT_TIMEOUT_SECONDS = 2.0  # a manager that does not complete TLS by then is skipped (a cut host
# never answers: waiting out the RPC timeout there used up a node's 6 s grace after an election)
SESSION_REGISTER_TIMEOUT_SECONDS = 5.0  # Register writes the node's record: a leader without quorum cannot
SESSION_RETRY_MIN_SECONDS = 0.1  # Swarm's first session backoff; doubled per failure, with jitter
SESSION_RETRY_MAX_SECONDS = 2.0  # Swarm: 8 s; at 1 s heartbeats a node finds a new leader sooner
WORKER_SAFETY_NET_SECONDS = 2.0  # the worker reconciles at least this often, whatever events say
WORKER_SETTLE_SECONDS = 0.005  # let a burst of engine events land before reconciling
WORKER_ERROR_RETRY_SECONDS = 0.5  # after a reconcile that raised
STOP_RETRY_SECONDS = 60.0  # a stop not confirmed by then is tried again: longer than any sane grace
RENEW_RPC_TIMEOUT_SECONDS = 30.0  # a node's RenewCertificate call
RENEW_RETRY_MAX_SECONDS = 30.0  # a failed renewal is retried after 2 % of the lifetime, at most this
CA_RENEW_SPACING_SECONDS = 5.0  # a node told of a CA rotation renews at once, then at most this often until it took
CA_ROTATE_WAIT_SECONDS = 300.0  # `svc cluster ca --rotate` waits this long for every node to renew (unless -d)
SHARED_IDENTITY_POLL_SECONDS = 5.0  # a manager host's node picks up the manager's renewed certificate this often

# --- CLI ---
CLI_RPC_TIMEOUT_SECONDS = 60.0  # a control API call (a follower may wait out an election and forward)
CLI_WAIT_SECONDS = 300.0  # `svc create/scale/update/rollback` wait at most this long for convergence
CLI_STALL_SECONDS = 10.0  # tasks that wait this long for a node are reported with why, not waited for
CLI_MONITOR_SECONDS = 1.0  # a wait ends only after its tasks ran this long (docker: 5 s), so an instant exit is caught
PUBLISHED_PORT_RANGE = (30000, 32767)  # `-p 80`: the managers pick the published port here, as Swarm (ingress range)
JOIN_TIMEOUT_SECONDS = 30.0  # `--join`: the certificate request (the manager may wait out an election)

# --- failover (CLI and forwarding) ---
# A follower retries a forward the leader never received (or a read whose connection broke) on the next
# leader for this long after the first failure, within the caller's deadline: an election takes 1-3 s.
FORWARD_RETRY_SECONDS = 10.0
FORWARD_RETRY_PAUSE_SECONDS = 1.0  # a leader Raft still names after a failed forward is tried again this often
FORWARD_ANSWER_MARGIN_SECONDS = 0.5  # a forward ends this long before the caller's deadline: it gets our reason
CLI_WAIT_RETRY_SECONDS = 0.5  # a wait's read that found no leader (an election) is tried again this soon
# A wait keeps trying the manager it talks to this long after losing it (a restart), then says so. Its
# other failed reads (a follower found no leader) are retried until the wait's own deadline.
CLI_TARGET_LOST_SECONDS = 15.0

# --- seccomp ---
# A custom profile (--security-opt seccomp=FILE) travels in the spec of every task: Docker's default
# profile is 13 KiB, so this is room for any real one without letting a spec grow without bound.
SECCOMP_PROFILE_MAX_BYTES = 256 << 10

# --- spec size limits (refused at `svc create`/`update` and by the managers, naming the limit) ---
# Linux refuses one environment string over 128 KiB (MAX_ARG_STRLEN) at exec, so a bigger value can never
# run; half of that per KEY=VALUE entry leaves the runtime's own entries room.
ENV_ENTRY_MAX_BYTES = 64 << 10
# All of a container's KEY=VALUE entries together: Docker sets none, but each task's spec carries them
# through Raft and every node's state, so a 1 MB value once doubled the managers' data dir.
ENV_TOTAL_MAX_BYTES = 256 << 10
# A whole service spec, serialised: room for a full seccomp profile (above) and the environment.
SERVICE_SPEC_MAX_BYTES = 1 << 20
