// Package queue is hookguard's durable delivery: a Store keeps verified
// webhook events until the app takes them, and a Dispatcher per route
// delivers them, retrying with backoff, and keeps those that fail for good
// as dead letters.
//
// The proxy fills an Event (route, dedupe key, raw body, normalized
// headers, query) and calls Enqueue; once it returns without error the
// sender may be acknowledged. A Dispatcher takes due events under a lease,
// calls a DeliverFunc supplied by the caller (which does the HTTP) and
// records the outcome: Ack, Retry or Dead. Admin lists, replays and drops
// dead letters for the queue API; Stats gives the per-route figures.
//
// # Life of an event
//
//	Enqueue ──> available ──Take──> running ──2xx──> delivered (removed; dedupe mark kept for DedupeTTL)
//	                ^                  │ └──408/429/5xx/error──> retrying ──due──> (Take again)
//	                │                  └──other status, or retries exhausted──> dead
//	                └──────────────────Replay─────────────────────────────────────┘
//
// A running event whose lease ends (its dispatcher died or hung) is due
// again. Dead letters are kept for DeadMaxAge (Sweep deletes older ones) or
// until dropped.
//
// # Guarantees
//
// Stored means durable. The disk store (Disk) commits the event and its
// dedupe mark in one bbolt transaction and Enqueue returns only after the
// commit's fsync (fdatasync of the pages, then of the meta page).
// Concurrent Enqueues share one commit (group commit), so durability costs
// one fsync per batch rather than per event. Ack, Retry, Dead, Take,
// Replay and Drop are committed the same way. The Redis store (Redis) is as
// durable as the server's persistence: see its doc for appendfsync always,
// everysec and RDB-only.
//
// Never acknowledged unless stored. Any failure to write, including a full
// disk (ENOSPC, EFBIG on growing the file) or an fsync error, fails the
// Enqueue with ErrUnavailable, and the transaction is rolled back: nothing
// half-written is left, and the proxy answers 503 so that the sender
// retries. (When only the last fsync, of the meta page, fails, the event
// may be on disk after all: the sender's retry is then reported as a
// duplicate. The error goes that way only, never a success followed by
// loss.) Beyond MaxEvents events not yet delivered nor dead, Enqueue fails
// with ErrFull (also 503). A duplicate is reported, not an error: the dedupe
// mark is in the same store and transaction as the event, so a provider's
// retry of an event already queued, dead or delivered (within DedupeTTL) is
// recognized, also after a restart, whatever dedupe store the proxy uses
// for sync routes.
//
// At-least-once delivery. An event is removed only after the app answered
// 2xx and the Ack was committed. A crash (or a lost lease) between the
// app's answer and the Ack sends the event again, with the same body and
// headers, so the same webhook-id: apps deduplicate on it. On open, the
// disk store makes every event that was running due again at once; with
// Redis, a consumer restarted under the same name does the same, and
// otherwise another consumer takes the entries over after the lease.
//
// Order. With Concurrency 1 (the default) first attempts are made in
// arrival order, one at a time; an event that failed waits on its own retry
// schedule and does not block the events behind it (see Dispatcher).
//
// Shutdown. A dispatcher whose context is done takes nothing more, waits
// up to ShutdownTimeout for deliveries in flight, then cancels them without
// recording anything; the queue is left as it is and the next start resumes
// it.
//
// # Clocks and randomness
//
// Every time decision takes an injected clock (Now fields) and the jitter
// an injected random source (Backoff.Rand); the Redis server's own clock
// runs leases (XAUTOCLAIM idle time) and the expiry of delivered marks.
package queue
