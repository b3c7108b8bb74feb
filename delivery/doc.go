// Package delivery is vaspd's durable webhook sender.
//
// An event and one delivery per matching endpoint are written with
// [Service.Enqueue] inside the caller's own database transaction, so a
// payment's state change and the webhook announcing it commit or roll back
// together. (An event for more endpoints than a chunk is written with the
// list of its endpoints instead, and the worker writes their deliveries
// after the commit, a chunk per transaction: fanout.go.) The delivery row is the queue entry: [Service.Run] claims due
// rows under a lease (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's write
// transactions are exclusive), POSTs the stored body, signed, and records
// the attempt. A delivery enqueued while this Service's Run is running is
// usually written already leased to it and handed over after the commit,
// without a claim (handoff.go); in the database it is a claimed row. A
// process that dies mid-attempt leaves a lease that expires; any process
// then retries the delivery with the same webhookId. So delivery
// is at-least-once, duplicates happen only after a crash mid-attempt, and no
// two processes attempt one delivery at once.
//
// The rules an attempt's answer is judged by:
//
//   - 2xx, and 409 (the receiver already has this webhookId): delivered.
//   - 410 Gone: the endpoint is disabled; its deliveries wait, visible, and
//     resume when it is re-enabled.
//   - 429 and 503 with Retry-After: the next attempt, and the whole
//     endpoint, wait at least that long (bounded by RetryPolicy.MaxRetryAfter).
//   - anything else, including 3xx (redirects are never followed), timeouts
//     and refused connections: retried after 10 s, 20 s, 40 s … doubling,
//     each delay capped at 1 h, ±10 % jitter, until 3 days after the first
//     attempt (no attempt starts after that, whatever held it up); then the
//     delivery is dead-lettered (status "dead"), visible and replayable
//     ([Service.Redeliver], [Service.StartReplay]).
//
// Isolation: attempts to one endpoint are limited per process
// (Options.PerEndpoint); an endpoint that fails is backed off as a whole
// (1 s doubling, ±10 % jitter, capped at 5 min after the jitter) and probed
// one attempt at a time, and its due
// deliveries are not even claimed meanwhile, so a dead, slow or throttling
// endpoint holds no worker that another endpoint could use.
//
// Every connection is checked after DNS, at dial time, against private,
// loopback, link-local, CGNAT, unique-local and metadata ranges, unless
// Options.AllowNets opens them.
//
// [Service.Send] is the synchronous mode for webhooks whose answer decides
// something (the INCOMING_PAYMENT approval): one attempt now, the receiver's
// status and body returned within a deadline, logged like any other. Its
// answer feeds the endpoint's back-off as a queued attempt's does (a 403 or
// 422, the approval's decisions, excepted); it is made even while the
// endpoint is backed off, since an approval cannot wait.
//
// The engine's own writes (recording attempts, claims, fan-out chunks,
// replay jobs, pruning) are background transactions
// ([store.DB.InBackgroundTx]): on SQLite, whose one writer every
// transaction of the process waits for, the application's transactions go
// first.
package delivery
