// Package api is vaspd's HTTP surface: the public UMA endpoints other VASPs
// call, the authenticated platform API (modelled on Lightspark's UMAaaS API),
// and the operations endpoints (/healthz, /readyz, and /metrics, which needs a
// VIEW token unless Options.PublicMetrics). Requests to the UMA endpoints
// are limited per client address (umalimit.go), as failed authentications
// are, by one limiter type (ratelimit.go).
//
// The platform-API conventions live here, once, so endpoints cannot drift:
//
//   - Handlers have the signature func(w, r) error and are registered with the
//     permission they need (Server.Handle), and, when their method could
//     change something, whether they are audited (Audited, NotAudited:
//     audit.go): an audited request's event (package audit) is committed
//     before its handler runs, or the request is refused with 503. They return errors; a returned
//     *vaspd.Error is rendered as the UMAaaS error JSON
//     {status, code, message, details?}, anything else as a 500 whose cause is
//     logged with the request id and never sent.
//   - JSON request bodies go through DecodeJSON: size limit, content type,
//     unknown fields rejected, one value only.
//   - Lists use ListParams and NewPage: ?limit (1–100, default 20) and
//     ?cursor, answered as {data, hasMore, nextCursor}.
//   - A UMAaaS operation vaspd does not serve is still routed, to a 501
//     NOT_IMPLEMENTED saying what to use instead (unimplemented.go), so
//     that a client built on UMAaaS is not left with an unknown path's 404.
//   - Authentication is HTTP Basic with clientId:clientSecret (package auth).
//     A browser's cross-origin request that could change something is
//     refused first (crossorigin.go): browsers send cached Basic
//     credentials with other sites' form posts. Failed authentications
//     are limited per client address (authlimit.go): the connection's
//     peer, or, from a trusted reverse proxy (Options.TrustedProxies),
//     the client its X-Forwarded-For names (clientaddr.go).
//
// Every request gets an id (X-Request-Id, accepted from the client when sane),
// a structured log line naming its client address (and its token, once
// authenticated), a latency observation
// labelled by route pattern and status, and, with Options.Tracer, a server
// span named by the route pattern (tracing.go); a panic in a handler is recovered, logged once and answered
// with a 500 (UMA's error JSON on the UMA routes), or, when the answer had
// already begun, the connection is cut.
package api
