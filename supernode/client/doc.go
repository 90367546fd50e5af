// Package client is what a node uses to talk to supernodes, and to the auth
// server's registry, which speaks the same codes: publish and look up at a
// rendezvous (Rendezvous, Publish, Lookup for a user's latest device,
// LookupDevices for all of them and the account's device list), leave and
// fetch mail (PutMail, FetchMail, AckMail, Pad; a MailConn for many calls
// on one stream, and its PutDevice for a device's own mailbox), store the
// contact list (PutContacts, GetContacts), publish and fetch prekeys
// (PublishPrekeys, FetchPrekeys),
// list the live supernodes and pick one's homes among them (ListSupernodes,
// ParseSupernodes, UserHomes), heartbeat to stay listed (Heartbeater), and
// follow the revocation log (Revocations).
//
// Package eserver/supernode is the server side of the same protocols, as
// go-libp2p splits circuitv2/relay from circuitv2/client. Every call here is
// one request on a fresh stream and one answer (call), whose error code —
// one of node/wire's Code* strings, which the servers write — becomes one of
// this package's sentinel errors through one table (responseCodes).
//
// The dependency runs one way: this package never imports the server, so
// the server's tests can drive it without an import cycle. The server
// imports this package for what both sides must compute alike — mailbox IDs
// (MailboxID, DeviceMailboxID), visibility hashes (VisibilityHash), the limits a client checks
// before sending and the server enforces (CheckPrekeys, MaxContactsVersion,
// MaxMailAck) — and for Revocations, which every service consults and which
// is itself a client of the auth server. Keeping those here rather than in
// the server means a node never links the supernode services to use them.
package client
