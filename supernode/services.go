package supernode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/rooms"
)

// ServicesConfig configures every service a supernode runs.
type ServicesConfig struct {
	// AuthServer is the auth server whose tickets are honoured. Required.
	AuthServer peer.ID
	// MailboxDB is the mailbox SQLite file. Required.
	MailboxDB string
	// ContactsDB is the SQLite file of the stored contact lists; if empty,
	// "contacts.db" in MailboxDB's directory.
	ContactsDB string
	// PrekeysDB is the SQLite file of the prekey directory; if empty,
	// "prekeys.db" in MailboxDB's directory.
	PrekeysDB string
	// RoomsDB is the SQLite file of the chat rooms this supernode is a
	// home of; if empty, "rooms.db" in MailboxDB's directory.
	RoomsDB string
	// NoRooms leaves the room service out (a supernode that does not
	// host rooms).
	NoRooms bool
	// Revocations, if set, is checked after every ticket verifies (and its
	// revocations drop peers from the relay); nil revokes none.
	Revocations *client.Revocations
	// UploadRate caps the relay's upload in bytes per second (see
	// RelayConfig.UploadRate); zero means no cap.
	UploadRate int64
	// MaxNodes is the number of nodes the supernode is sized for, as given
	// to SupernodeResources; every global cap scales from it (CapsFor).
	// Zero means DefaultMaxNodes.
	MaxNodes int
	// Supernodes lists the live supernodes (the registry's list), so the
	// mailboxes take mail only for mailboxes homed here (see
	// MailboxConfig.Supernodes); nil takes mail for any mailbox.
	Supernodes func(context.Context) ([]peer.ID, error)
	// RoomPeers lists the live supernodes with their addresses (the
	// registry's list), among which each room's three homes are chosen
	// (docs/ROOMS.md); nil makes this supernode the only home of every
	// room it is asked about.
	RoomPeers func(context.Context) ([]peer.AddrInfo, error)
	// SupernodeTicket returns this supernode's role-supernode ticket (the
	// heartbeat's), which it presents to a room's other homes; nil, or
	// nil returned, and it cannot reach them.
	SupernodeTicket func() *wire.SignedTicket
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is every service's clock (tickets, expiry, rate limits); nil
	// means time.Now. Tests move it to see days pass.
	Now func() time.Time
}

// Services are the supernode services on one host: rendezvous, mailboxes,
// contact-list storage and the relay. Ticket holders that prove themselves
// to the rendezvous are admitted to the relay.
type Services struct {
	Rendezvous *Rendezvous
	Mailbox    *Mailbox
	Contacts   *Contacts
	Prekeys    *Prekeys
	Relay      *Relay
	Admissions *Admissions
	// Rooms is the chat rooms' home service; nil with NoRooms.
	Rooms *rooms.Service
}

// StartServices attaches every supernode service to h. The eserver-auth
// process, the bundled local server and eserver-supernode all run this, so
// a supernode is the same thing wherever it runs.
func StartServices(h host.Host, cfg ServicesConfig) (*Services, error) {
	if cfg.AuthServer == "" || cfg.MailboxDB == "" {
		return nil, errors.New("supernode: ServicesConfig needs AuthServer and MailboxDB")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	caps := CapsFor(cfg.MaxNodes)
	adm := NewAdmissions(caps.Admissions, cfg.Now)
	mb, err := NewMailbox(MailboxConfig{DBPath: cfg.MailboxDB, AuthServer: cfg.AuthServer, Revocations: cfg.Revocations, Logger: cfg.Logger,
		Supernodes: cfg.Supernodes, MaxBytes: caps.MailBytes, SenderBytes: caps.MailSenderBytes, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("starting mailboxes: %w", err)
	}
	if cfg.ContactsDB == "" {
		cfg.ContactsDB = filepath.Join(filepath.Dir(cfg.MailboxDB), "contacts.db")
	}
	ct, err := NewContacts(ContactsConfig{DBPath: cfg.ContactsDB, AuthServer: cfg.AuthServer, Revocations: cfg.Revocations, Logger: cfg.Logger,
		MaxBytes: caps.ContactsBytes, Now: cfg.Now})
	if err != nil {
		mb.Close()
		return nil, fmt.Errorf("starting contact-list storage: %w", err)
	}
	if cfg.PrekeysDB == "" {
		cfg.PrekeysDB = filepath.Join(filepath.Dir(cfg.MailboxDB), "prekeys.db")
	}
	pk, err := NewPrekeys(PrekeysConfig{DBPath: cfg.PrekeysDB, AuthServer: cfg.AuthServer, Revocations: cfg.Revocations, Logger: cfg.Logger,
		MaxBytes: caps.PrekeyBytes, Now: cfg.Now})
	if err != nil {
		ct.Close()
		mb.Close()
		return nil, fmt.Errorf("starting the prekey directory: %w", err)
	}
	rl, err := StartRelay(h, RelayConfig{Admissions: adm, UploadRate: cfg.UploadRate, Logger: cfg.Logger})
	if err != nil {
		pk.Close()
		ct.Close()
		mb.Close()
		return nil, fmt.Errorf("starting relay: %w", err)
	}
	var rm *rooms.Service
	if !cfg.NoRooms {
		if cfg.RoomsDB == "" {
			cfg.RoomsDB = filepath.Join(filepath.Dir(cfg.MailboxDB), "rooms.db")
		}
		rcfg := rooms.ServiceConfig{DBPath: cfg.RoomsDB, AuthServer: cfg.AuthServer, Now: cfg.Now, Logger: cfg.Logger,
			Limits: rooms.Limits{Rooms: caps.Rooms, Bytes: caps.RoomBytes}, Subscriptions: caps.RoomJoins,
			Supernodes: cfg.RoomPeers, Ticket: cfg.SupernodeTicket}
		if cfg.Revocations != nil {
			rcfg.Revoked = cfg.Revocations
		}
		if rm, err = rooms.OpenService(rcfg); err != nil {
			_ = rl.Close()
			pk.Close()
			ct.Close()
			mb.Close()
			return nil, fmt.Errorf("starting the room service: %w", err)
		}
		rm.Attach(h)
	}
	rv := NewRendezvous(RendezvousConfig{AuthServer: cfg.AuthServer, Revocations: cfg.Revocations, Logger: cfg.Logger, OnTicket: adm.AdmitTicket,
		MaxBytes: caps.RendezvousBytes, Now: cfg.Now})
	rv.Attach(h)
	mb.Attach(h)
	ct.Attach(h)
	pk.Attach(h)
	return &Services{Rendezvous: rv, Mailbox: mb, Contacts: ct, Prekeys: pk, Relay: rl, Admissions: adm, Rooms: rm}, nil
}

// Close stops every service and waits for their handlers.
func (s *Services) Close() error {
	rvErr := s.Rendezvous.Close()
	rlErr := s.Relay.Close()
	mbErr := s.Mailbox.Close()
	ctErr := s.Contacts.Close()
	pkErr := s.Prekeys.Close()
	var rmErr error
	if s.Rooms != nil {
		rmErr = s.Rooms.Close()
	}
	return errors.Join(rvErr, rlErr, mbErr, ctErr, pkErr, rmErr)
}
