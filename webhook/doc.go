// Package webhook is both ends of vaspd's webhooks: the payload types and
// signatures vaspd sends, and the toolkit a platform imports to receive them.
// docs/webhooks.md is the wire contract, with published test vectors.
//
// # The wire format
//
// A webhook is a POST whose JSON body is one of the UMAaaS webhook
// payloads ([IncomingPaymentWebhook], [OutgoingPaymentWebhook],
// [TestWebhook], [BulkUploadWebhook], [InvitationClaimedWebhook]) or
// vaspd's own [UmaRequestWebhook] (UMA_REQUEST: an UMA request another VASP
// sent one of the platform's users), each with the envelope [BaseWebhook]:
// the event timestamp, a webhookId ("Webhook:<uuidv7>", the same on every
// retry) and the type. [Marshal]
// produces the body; [Parse] decodes one into its typed [Event]. Money is an
// integer in the currency's smallest unit; rates are exact decimal text.
//
// Every request carries two signature schemes over the exact body bytes,
// both keyed by the endpoint secret ("whsec_" + base64, from [NewSecret]):
//
//   - X-UMAaas-Signature (UMAaaS v1): lowercase hex HMAC-SHA256 of the body,
//     keyed with the secret string exactly as issued;
//   - Standard Webhooks: webhook-id, webhook-timestamp (attempt time) and
//     webhook-signature, a list of "v1,<base64 HMAC-SHA256>" keyed with the
//     base64-decoded part after "whsec_", over id "." timestamp "." body,
//     plus "v1a,<base64 ed25519>" when the endpoint has a signing key
//     ([NewSigningKey]; receivers trust its [PublicKey]).
//
// During a secret rotation every active secret signs, newest first. The
// sender side is [Sign] / [Signer]; package delivery keeps a [Signer] per
// endpoint reading and calls [Signer.SignTo] once per attempt.
//
// # Receiving
//
// A platform builds a [Verifier] from its secret or keys and hands it to
// [NewHandler] with its own [EventHandler]. The [Handler] reads the raw body
// (size-limited, 413; time-limited, 408), verifies it (401), decodes the typed event (400),
// de-duplicates on webhookId through a [Store] (409 for an id already
// processed, 429 while a duplicate is in flight), runs the platform's code
// and writes its [Reply]: [Approve] (200 with receiverUserInfo), [Async]
// (202), [Reject] (403 with a reason), [NeedMoreInfo] (422 with
// requiredFields) or [OK]. Only a reply saying the event was handled (2xx,
// 403, 409, 422) marks the id processed; a handler error, a panic or any
// other status (5xx, 429, 410, 400…) releases it, so the sender's retry runs
// the handler again instead of being answered 409.
//
// Verifiers, all comparing in constant time:
//
//   - [StandardVerifier]: Standard Webhooks v1 and v1a, any matching
//     signature of any trusted key, the timestamp within 5 minutes both
//     ways (also read from Svix's svix-* headers). The one to use for vaspd.
//   - [BodyHMACVerifier]: hex HMAC of the body in one header, for
//     X-UMAaas-Signature ([NewUMAaaSVerifier]), Lightspark's
//     lightspark-signature ([NewLightsparkVerifier]) and Coinbase Commerce /
//     LlamaPay's X-CC-Webhook-Signature ([NewCoinbaseCommerceVerifier]).
//     These sign no timestamp, so a captured request verifies for as long
//     as the secret is trusted, and replay protection is the Store's: it
//     refuses the id for Retention (default 7 days) after processing it
//     (a MemoryStore also forgets on restart), and a replay after that is
//     processed again. For UMAaaS bodies set HandlerConfig.MaxEventAge
//     (at most Retention - DefaultTolerance) to refuse events whose signed
//     body timestamp is older than the Store remembers.
//     The Handler decodes only vaspd and UMAaaS bodies (type, webhookId,
//     timestamp), so a Lightspark or Coinbase Commerce webhook given to it
//     is answered 400: call those verifiers' Verify from your own handler,
//     on the raw body, and de-duplicate on the sender's event id.
//   - [P256Verifier]: the ECDSA P-256 scheme of UMAaaS after 2025-05-30 and
//     of Grid. It signs no timestamp either: the same holds.
//
// Stores: [MemoryStore] (in process, entries expire), [SQLStore] on any
// database/sql pool ([NewSQLStore], table from [CreateTableSQL]) or on
// vaspd's own database ([NewDBStore], table from migration 0240).
package webhook
