package wire

// Limits of an account's signed device list (AccountDevices).
const (
	// MaxAccountDevices is the most devices one list names: above the auth
	// server's cap of devices with a live ticket (its MaxDevices, 10 by
	// default), with room for an operator who raises it.
	MaxAccountDevices = 32
	// MaxAccountDevicesList is the most bytes of a serialized
	// AccountDevices: MaxAccountDevices entries of about 90 bytes, the
	// username and the key.
	MaxAccountDevicesList = 4 << 10
	// MaxAccountKeySealed is the most bytes of a sealed account identity
	// key (a 32-byte seed, a nonce, a tag and a version byte: under 100).
	MaxAccountKeySealed = 256
)

// Codes the auth server answers a PublishDevices with (AuthError.code),
// besides the shared ones (bad_request, unauthorized, rate_limited,
// internal, busy). A list that is not newer than the stored one, or of
// another identity, is no error: the answer is the stored
// AccountIdentity, which the client compares with what it sent.
const (
	CodeNotListed     = "not_listed"     // the list does not name the publishing device, or names it with another box key
	CodeListedRevoked = "listed_revoked" // the list names a device revoked at the server
)
