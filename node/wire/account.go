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
