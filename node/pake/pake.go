// Package pake is EServer's password-authenticated key exchange: OPAQUE
// (RFC 9807) from github.com/bytemare/opaque behind a small API of our own on
// byte slices, so the rest of EServer never names the library and it can be
// swapped. The server never sees a password or anything it could test a
// password against offline without the server's secret OPRF seed.
//
// One Client value runs one registration or one login; the Server is safe for
// concurrent use. No networking here: callers move the byte slices.
package pake

import (
	"crypto/hmac"
	"crypto/sha512"
	"errors"
	"fmt"
	"sync"

	"github.com/bytemare/opaque"
	"github.com/bytemare/opaque/message"
)

// Identities and context bound into every exchange. Changing any of them
// invalidates every registered account.
const (
	serverIdentity = "eserver-auth"
	opaqueContext  = "eserver-opaque-v1"
)

// Errors callers branch on.
var (
	// ErrAuth means the exchange failed authentication: a wrong password, an
	// unknown user, or a forged message. Callers must not tell these apart.
	ErrAuth = errors.New("pake: authentication failed")
	// ErrMalformed means a message could not be decoded.
	ErrMalformed = errors.New("pake: malformed message")
	// ErrState means a Client method was called out of order.
	ErrState = errors.New("pake: client used out of order")
)

func config() *opaque.Configuration {
	c := opaque.DefaultConfiguration()
	c.Context = []byte(opaqueContext)
	return c
}

// GenerateServerKeys returns fresh long-term server key material (the AKE key
// pair and the OPRF seed) in an opaque encoding for NewServer. Store it
// secretly and keep it: losing it invalidates every account.
func GenerateServerKeys() ([]byte, error) {
	conf := config()
	sk, pk := conf.KeyGen()
	skm := &opaque.ServerKeyMaterial{
		Identity:       []byte(serverIdentity),
		PrivateKey:     sk,
		PublicKeyBytes: pk.Encode(),
		OPRFGlobalSeed: conf.GenerateOPRFSeed(),
	}
	return skm.Encode(), nil
}

// Server is the server side. It is safe for concurrent use.
type Server struct {
	conf *opaque.Configuration
	srv  *opaque.Server
	seed []byte
	fake *opaque.ClientRecord // template for unknown users
}

// NewServer loads key material made by GenerateServerKeys.
func NewServer(keys []byte) (*Server, error) {
	conf := config()
	skm, err := conf.DecodeServerKeyMaterial(keys)
	if err != nil {
		return nil, fmt.Errorf("decoding server keys: %w", err)
	}
	srv, err := conf.Server()
	if err != nil {
		return nil, fmt.Errorf("creating OPAQUE server: %w", err)
	}
	if err := srv.SetKeyMaterial(skm); err != nil {
		return nil, fmt.Errorf("setting server keys: %w", err)
	}
	fake, err := conf.GetFakeRecord([]byte("fake"))
	if err != nil {
		return nil, fmt.Errorf("creating fake record: %w", err)
	}
	return &Server{conf: conf, srv: srv, seed: skm.OPRFGlobalSeed, fake: fake}, nil
}

// RegistrationResponse answers a client's registration request for username.
func (s *Server) RegistrationResponse(username string, request []byte) ([]byte, error) {
	req, err := s.srv.Deserialize.RegistrationRequest(request)
	if err != nil {
		return nil, fmt.Errorf("%w: registration request: %v", ErrMalformed, err)
	}
	resp, err := s.srv.RegistrationResponse(req, credentialID(username), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: registration request: %v", ErrMalformed, err)
	}
	return resp.Serialize(), nil
}

// CheckRecord reports whether record is a well-formed registration record,
// the thing the server stores per account.
func (s *Server) CheckRecord(record []byte) error {
	if _, err := s.srv.Deserialize.RegistrationRecord(record); err != nil {
		return fmt.Errorf("%w: registration record: %v", ErrMalformed, err)
	}
	return nil
}

// Pending is a login waiting for the client's KE3.
type Pending struct {
	srv *opaque.Server
	mac []byte

	mu   sync.Mutex
	used bool
}

// StartLogin answers KE1 with KE2. record is the stored registration record
// of username, or nil when there is no such account: then a fake record is
// used, so the answer has the same shape and the login fails the same way
// (at Finish, or at the client) as with a wrong password.
func (s *Server) StartLogin(username string, record, ke1 []byte) ([]byte, *Pending, error) {
	k1, err := s.srv.Deserialize.KE1(ke1)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: KE1: %v", ErrMalformed, err)
	}
	var cr *opaque.ClientRecord
	if record == nil {
		cr = s.fakeRecord(username)
	} else {
		rr, err := s.srv.Deserialize.RegistrationRecord(record)
		if err != nil {
			return nil, nil, fmt.Errorf("stored record of %q: %w", username, err)
		}
		cr = &opaque.ClientRecord{
			RegistrationRecord:   rr,
			CredentialIdentifier: credentialID(username),
			ClientIdentity:       []byte(username),
		}
	}
	ke2, out, err := s.srv.GenerateKE2(k1, cr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: KE1: %v", ErrMalformed, err)
	}
	return ke2.Serialize(), &Pending{srv: s.srv, mac: out.ClientMAC}, nil
}

// fakeRecord returns the stand-in record of an unknown user. Its masking key
// is derived from the secret seed and the name, so repeated logins for one
// unknown name look like repeated logins for one real account.
func (s *Server) fakeRecord(username string) *opaque.ClientRecord {
	m := hmac.New(sha512.New, s.seed)
	m.Write([]byte("eserver-fake-masking-key\x00"))
	m.Write([]byte(username))
	return &opaque.ClientRecord{
		RegistrationRecord: &message.RegistrationRecord{
			ClientPublicKey: s.fake.ClientPublicKey,
			MaskingKey:      m.Sum(nil),
			Envelope:        s.fake.Envelope,
		},
		CredentialIdentifier: credentialID(username),
		ClientIdentity:       []byte(username),
	}
}

// Finish verifies the client's KE3. It returns ErrAuth (possibly wrapped) on
// any failure. A Pending verifies at most once.
func (p *Pending) Finish(ke3 []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used {
		return fmt.Errorf("%w: login already finished", ErrAuth)
	}
	p.used = true
	k3, err := p.srv.Deserialize.KE3(ke3)
	if err != nil {
		return fmt.Errorf("%w: malformed KE3", ErrAuth)
	}
	if err := p.srv.LoginFinish(k3, p.mac); err != nil {
		return ErrAuth
	}
	return nil
}

// credentialID is the stable per-account OPRF key identifier. Usernames are
// never reused for another account, so the name itself serves.
func credentialID(username string) []byte {
	return []byte("eserver-user\x00" + username)
}

// Client is the client side of one registration or one login.
type Client struct {
	c         *opaque.Client
	username  []byte
	step      int
	exportKey []byte // set by a successful RegistrationFinish or LoginFinish
	// opts are the library's client options: nil (the defaults) but for a
	// NewServerShareClient.
	opts []*opaque.ClientOptions
}

// Client steps, so misuse is an error rather than a library panic.
const (
	stepNew = iota
	stepRegistering
	stepLoggingIn
	stepDone
)

// NewClient starts a client for username.
func NewClient(username string) (*Client, error) {
	c, err := config().Client()
	if err != nil {
		return nil, fmt.Errorf("creating OPAQUE client: %w", err)
	}
	return &Client{c: c, username: []byte(username)}, nil
}

// RegistrationStart blinds password and returns the registration request.
func (c *Client) RegistrationStart(password []byte) ([]byte, error) {
	if c.step != stepNew {
		return nil, ErrState
	}
	req, err := c.c.RegistrationInit(password)
	if err != nil {
		return nil, fmt.Errorf("registration init: %w", err)
	}
	c.step = stepRegistering
	return req.Serialize(), nil
}

// RegistrationFinish turns the server's response into the registration
// record to send back.
func (c *Client) RegistrationFinish(response []byte) ([]byte, error) {
	if c.step != stepRegistering {
		return nil, ErrState
	}
	c.step = stepDone
	defer c.c.ClearState()
	resp, err := c.c.Deserialize.RegistrationResponse(response)
	if err != nil {
		return nil, fmt.Errorf("%w: registration response: %v", ErrMalformed, err)
	}
	rec, export, err := c.c.RegistrationFinalize(resp, c.username, []byte(serverIdentity), c.opts...)
	if err != nil {
		return nil, fmt.Errorf("registration finalize: %w", err)
	}
	c.exportKey = export
	return rec.Serialize(), nil
}

// LoginStart blinds password and returns KE1.
func (c *Client) LoginStart(password []byte) ([]byte, error) {
	if c.step != stepNew {
		return nil, ErrState
	}
	ke1, err := c.c.GenerateKE1(password)
	if err != nil {
		return nil, fmt.Errorf("generating KE1: %w", err)
	}
	c.step = stepLoggingIn
	return ke1.Serialize(), nil
}

// LoginFinish checks the server's KE2 and returns KE3 and the session key.
// It returns ErrAuth when the password is wrong, the account does not exist,
// or the server is not the one the account registered with.
func (c *Client) LoginFinish(ke2 []byte) (ke3, sessionKey []byte, err error) {
	if c.step != stepLoggingIn {
		return nil, nil, ErrState
	}
	c.step = stepDone
	defer c.c.ClearState()
	k2, err := c.c.Deserialize.KE2(ke2)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: KE2: %v", ErrMalformed, err)
	}
	k3, key, export, err := c.c.GenerateKE3(k2, c.username, []byte(serverIdentity), c.opts...)
	if err != nil {
		return nil, nil, ErrAuth
	}
	c.exportKey = export
	return k3.Serialize(), key, nil
}

// ExportKey returns OPAQUE's export key (RFC 9807 §3) once RegistrationFinish
// or LoginFinish has succeeded, and nil before. It is a secret the client
// alone knows: the same for the registration and every login with the same
// password on any device, never sent to or derivable by the server, and new
// after a re-registration (a password change). Derive keys from it for data
// the server must store but not read (node/backup); never use it directly.
//
// It is an accessor rather than a further result of the Finish methods so
// that their callers (the auth server's tests among them) keep compiling.
func (c *Client) ExportKey() []byte {
	if c.exportKey == nil {
		return nil
	}
	return append([]byte(nil), c.exportKey...)
}
