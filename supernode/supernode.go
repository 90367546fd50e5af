// Package supernode is the server side of the services a supernode runs on
// any libp2p host: rendezvous (ticket holders publish their signed peer
// records, one per device, with their account's signed device list, and
// look up their contacts'), mailboxes for offline recipients,
// contact-list storage, the prekey directory and the circuit relay, started
// together by StartServices.
//
// Their client side — what a node uses to talk to supernodes, and what a
// supernode uses to heartbeat to the auth server and follow its revocation
// log — is package eserver/supernode/client, as go-libp2p splits
// circuitv2/relay from circuitv2/client. This package imports the client for
// what both sides compute alike (mailbox IDs, visibility hashes, limits) and
// for its Revocations; the client never imports this package. Both write
// and read node/wire's response codes.
//
// Every service handles a stream in the seed's layers through package
// pipeline: listen (the libp2p stream handler), authentication (the ticket
// check against the remote peer), process (the request's handler), output
// (encode and send the answer).
package supernode

import "eserver/node/ticket"

// MaxPeerRecord bounds the signed peer record a publisher may store, so that
// one looked-up entry always fits in a rendezvous frame (and a user's
// devices' entries too: wire.MaxRendezvousRecords).
const MaxPeerRecord = ticket.MaxPeerRecord

// ErrBadRecord is a peer record that does not open or names another peer.
var ErrBadRecord = ticket.ErrBadRecord

// MaxAllowed bounds the visibility-token hashes one user may publish: its
// contact list.
const MaxAllowed = 5000
