package supernode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"eserver/node/wire"
	"eserver/pipeline"
	"eserver/supernode/client"
)

// contactsDomain separates contact-list owner IDs from any other hash of a
// username.
const contactsDomain = "eserver-contacts-owner-v1"

// Defaults for the zero values of ContactsConfig. A node uploads its whole
// list on every contact change, so bursts cover adding a handful of
// contacts at once; steadier traffic should be coalesced by the node.
const (
	DefaultContactsRate  = rate.Limit(1)
	DefaultContactsBurst = 30
)

// ContactsOwnerID is the key under which the contact list of username on the
// network of the auth server server is stored: SHA-256 over a domain label,
// the server's peer ID bytes, a 0 byte and the username, so the database
// holds no username at all.
func ContactsOwnerID(server peer.ID, username string) []byte {
	h := sha256.New()
	h.Write([]byte(contactsDomain))
	h.Write([]byte(server))
	h.Write([]byte{0})
	h.Write([]byte(username))
	return h.Sum(nil)
}

// ContactsConfig configures a Contacts service. Zero values are documented
// defaults.
type ContactsConfig struct {
	// DBPath is the SQLite file holding the blobs; it is created if
	// missing. Required.
	DBPath string
	// Revocations, if set, refuses tickets of revoked devices even
	// before they expire; nil revokes none.
	Revocations *client.Revocations
	// AuthServer is the auth server whose tickets are accepted. Required.
	AuthServer peer.ID
	// Now is the clock for tickets and rate limits; nil means time.Now.
	Now func() time.Time
	// Logger receives per-stream diagnostics; nil discards them.
	Logger *slog.Logger
	// Rate and Burst bound the requests (puts and gets together) of one
	// owner (account); zero means 1 per second with bursts of 30.
	Rate  rate.Limit
	Burst int
	// MaxBytes bounds the bytes all stored lists together take (blobs
	// plus a per-list overhead); zero means CapsFor(0).ContactsBytes.
	MaxBytes int64
}

// Contacts serves wire.ProtoContacts: each user's contact list, as one blob
// the user's devices seal (node/backup), so a new device or a reinstall gets
// the list back. The owner is the ticket's holder, the stream's peer; only
// the owner can put or get its blob. A put is kept only when it
// replaces the stored one — the put names the SHA-256 of the blob it
// replaces, as its device last read it — so a device that missed a change
// cannot overwrite it unseen, and no client-chosen version can freeze the
// list (a version only ever going up could be pushed to its maximum once).
// The supernode stores a hash of the owner, a version, the blob's SHA-256
// and ciphertext; it cannot read the list.
type Contacts struct {
	cfg ContactsConfig
	log *slog.Logger
	db  *contactsDB

	lim  *buckets      // per owner (account)
	full atomic.Uint64 // puts refused for the global cap

	listen *pipeline.Listener
	rpc    *pipeline.Service[*wire.ContactsRequest, *wire.ContactsResponse]
}

// NewContacts opens the database at cfg.DBPath; Attach it to a host to
// serve, Close it to stop.
func NewContacts(cfg ContactsConfig) (*Contacts, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultContactsRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultContactsBurst
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = CapsFor(0).ContactsBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AuthServer == "" {
		return nil, errors.New("contacts: no auth server configured")
	}
	db, err := openContactsDB(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("contacts: opening %s: %w", cfg.DBPath, err)
	}
	c := &Contacts{
		cfg: cfg,
		log: log.With("service", "contacts"),
		db:  db,
		lim: newBuckets(cfg.Rate, cfg.Burst),
	}
	c.listen = pipeline.NewListener(c.log)
	c.rpc = &pipeline.Service[*wire.ContactsRequest, *wire.ContactsResponse]{
		Protocol:    wire.ProtoContacts,
		MaxRequest:  wire.MaxContactsFrame,
		Budget:      pipeline.NewServiceBudget(wire.ContactsBudget, wire.MaxContactsFrame),
		Timeout:     wire.ContactsTimeout,
		Auth:        authenticator(cfg.AuthServer, cfg.Now, cfg.Revocations),
		Credentials: contactsCredentials,
		Process:     c.process,
		Refuse:      refuseWith[*wire.ContactsRequest](contactsFailed),
		Log:         c.log,
	}
	return c, nil
}

// Attach serves the contacts protocol on h until Close. Attaching after
// Close does nothing.
func (c *Contacts) Attach(h host.Host) {
	serveOn(c.listen, h, c.rpc.Protocol, c.rpc.Timeout, c.serve)
}

// Close stops serving on every attached host, resets the streams in flight,
// waits for their handlers and closes the database. Puts already
// acknowledged are on disk.
func (c *Contacts) Close() error {
	if !c.listen.Close() {
		return nil
	}
	if err := c.db.close(); err != nil {
		return fmt.Errorf("contacts: closing database: %w", err)
	}
	return nil
}

// Count returns how many owners have a contact list stored.
func (c *Contacts) Count() (int, error) {
	n, err := c.db.count()
	if err != nil {
		return 0, fmt.Errorf("contacts: %w", err)
	}
	return n, nil
}

// serve runs one request from rw, sent by the authenticated remote peer,
// through the pipeline. An error means the stream should be reset: the
// request could not be read, the store failed, or the answer could not be
// written. Requests that decode but are refused get an error code instead.
func (c *Contacts) serve(rw io.ReadWriter, remote peer.ID) error {
	return c.rpc.Serve(c.listen.Context(), rw, remote, nil)
}

// contactsCredentials is what each request presents: its ticket.
func contactsCredentials(req *wire.ContactsRequest) (pipeline.Credential, error) {
	switch k := req.GetKind().(type) {
	case *wire.ContactsRequest_Put:
		return pipeline.Ticket(k.Put.GetTicket()), nil
	case *wire.ContactsRequest_Get:
		return pipeline.Ticket(k.Get.GetTicket()), nil
	}
	return pipeline.Credential{}, errUnknownKind
}

// process is the process stage for one authenticated request.
func (c *Contacts) process(_ context.Context, r *pipeline.Request[*wire.ContactsRequest]) (*wire.ContactsResponse, error) {
	now := c.cfg.Now()
	req, owner, remote := r.Msg, r.Ticket, r.Remote
	if put := req.GetPut(); put != nil {
		// A malformed put costs no token, so a buggy client learns what is
		// wrong at once rather than after its bucket empties.
		if put.GetVersion() == 0 || put.GetVersion() > client.MaxContactsVersion ||
			len(put.GetBlob()) == 0 || len(put.GetBlob()) > wire.MaxContactsBlob ||
			(len(put.GetReplaces()) != 0 && len(put.GetReplaces()) != sha256.Size) {
			c.log.Debug("put refused", "peer", remote, "version", put.GetVersion(), "blob_len", len(put.GetBlob()))
			return contactsFailed(wire.CodeBadRequest), nil
		}
	}
	if !c.lim.allow(owner.Username, now) {
		c.log.Debug("rate limited", "peer", remote)
		return contactsFailed(wire.CodeRateLimited), nil
	}
	id := ContactsOwnerID(c.cfg.AuthServer, owner.Username)
	if put := req.GetPut(); put != nil {
		return c.put(id, put.GetReplaces(), put.GetVersion(), put.GetBlob(), now)
	}
	return c.get(id, req.GetGet().GetKnown())
}

// put stores the owner's blob if it replaces the stored one (see
// contactsDB.put).
func (c *Contacts) put(owner, replaces []byte, version uint64, blob []byte, now time.Time) (*wire.ContactsResponse, error) {
	res, stored, err := c.db.put(owner, replaces, version, blob, now, c.cfg.MaxBytes)
	if errors.Is(err, errContactsFull) {
		c.full.Add(1)
		c.log.Debug("put refused: contact lists full", "blob_len", len(blob))
		return contactsFailed(wire.CodeFull), nil
	}
	if err != nil {
		return nil, fmt.Errorf("storing contact list: %w", err)
	}
	if res == putStale {
		return &wire.ContactsResponse{Error: wire.CodeStale, Version: stored}, nil
	}
	return &wire.ContactsResponse{Version: stored}, nil
}

// get answers the owner's latest blob, or found=false; when known names
// the stored blob (its SHA-256), only that it is unchanged: a device that
// polls for its other devices' changes is answered in a few bytes.
func (c *Contacts) get(owner, known []byte) (*wire.ContactsResponse, error) {
	v, hash, found, err := c.db.hash(owner)
	if err != nil {
		return nil, fmt.Errorf("reading contact list: %w", err)
	}
	if found && len(known) == sha256.Size && bytes.Equal(known, hash) {
		return &wire.ContactsResponse{Version: v, Found: true, Unchanged: true}, nil
	}
	v, blob, found, err := c.db.get(owner)
	if err != nil {
		return nil, fmt.Errorf("reading contact list: %w", err)
	}
	return &wire.ContactsResponse{Version: v, Blob: blob, Found: found}, nil
}

func contactsFailed(code string) *wire.ContactsResponse {
	return &wire.ContactsResponse{Error: code}
}

// Usage returns the bytes all stored lists take, as counted against the
// global cap (with a per-list overhead), and that cap; used is 0 if the
// database fails.
func (c *Contacts) Usage() (used, limit int64) {
	used, err := c.db.usage()
	if err != nil {
		c.log.Warn("reading contacts usage", "err", err)
		return 0, c.cfg.MaxBytes
	}
	return used, c.cfg.MaxBytes
}

// ContactsStats are the contact-list service's counters since it started.
type ContactsStats struct {
	PutsFull uint64 // puts refused: all lists together hold the global cap
}

// Stats returns the contact-list counters.
func (c *Contacts) Stats() ContactsStats {
	return ContactsStats{PutsFull: c.full.Load()}
}
