// Package pipeline is the seed's request layers as code, shared by every
// protocol handler of the node, the supernode and the auth server:
//
//   - Listen: a libp2p stream handler with a deadline, Reset on error and
//     Close on success, tracking the streams in flight so Close resets them
//     and waits for their handlers (Listener). NewHost builds the host the
//     listeners run on.
//   - Authenticate: ticket signature, expiry, binding to the authenticated
//     remote peer, role and revocation, written once (Authenticator). Paths
//     that do not arrive on a one-request stream (long-lived streams, mail,
//     relayed events) call Authenticator.Authenticate directly.
//   - Security: an optional open/verify step of a handler (Service.Security).
//   - Process: the handler (Service.Process).
//   - Output: encode and send the answer; a refusal is an answer carrying an
//     error code (Service.Refuse), not a reset.
//
// A one-request-per-stream protocol is declared as a Service value. Its
// Credentials function says what each request presents: a ticket, or an
// explicit Unauthenticated choice (login and registration, which have no
// ticket yet). There is no third way, so a service cannot forget to
// authenticate a request: a missing Credentials, a missing Authenticator or
// a zero Credential refuses the request as unauthorized.
//
// The package imports only node/wire, node/ticket, libp2p and the standard
// library, so the auth server may use it (deps_test.go).
package pipeline
