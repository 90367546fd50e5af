// Package node is an EServer node: the seed's "Node", one libp2p host per
// signed-in account, and the api.API that both front ends (the Fyne app and
// the JSON-RPC daemon) drive.
//
// What lives here is the session's lifecycle and the API's front, nothing
// else:
//
//   - Node (node.go) holds the profile and at most one session; its API
//     methods find the session and hand the call to the component that owns
//     the capability. Watch (node.go) is the one event stream: a snapshot,
//     then deltas.
//   - session (session.go) is everything that exists while signed in: it
//     logs in, builds the feature components (assemble), runs them (run)
//     and closes them (close). host*.go implement the Host interface each
//     component declares, with one-line forwards.
//   - Process (msg.go) is the process stage of the message pipeline: under
//     the contact list's lock, the sender's row is read and the payload goes
//     to the component that registered its kind (node/payload).
//
// The capabilities are feature components, each its own package with its
// own state, lock and lifecycle: node/contacts, node/presence,
// node/conversation, node/delivery, node/discovery, node/keys, node/files,
// node/streams, node/role, node/handover (the history for a new device).
// None imports another or this package. The seed's
// layers for inbound messages — listen, authenticate, security, process,
// output — run through node/delivery (listen, output), the pipeline
// package's Authenticator (authenticate), node/keys (security) and process
// here. docs/ARCHITECTURE.md has the map.
package node
