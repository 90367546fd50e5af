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
//     logs in, builds the feature components (assemble), runs them, and
//     closes them; host.go is the narrow host every component sees.
//   - The process stage of the message protocol (msg.go): Process hands
//     each inbound payload, under the contact list's lock, to the component
//     that registered its kind in the payload.Registry. The other stages
//     (listen, authenticate, security, output), the couriers that send the
//     durable outbox and the mail drain live in node/delivery.
//
// Capabilities live in their own packages under node/ — node/streams
// (live streams) is the shape: its own state, lock and lifecycle, a Host
// interface it declares itself, and the payload kinds it registers. The
// rest are being moved out of this package into that shape; see
// docs/ARCHITECTURE.md for where each one stands.
package node
