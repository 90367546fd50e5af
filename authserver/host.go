package authserver

// DefaultListen is where the auth server listens when told nothing: port
// 1864 on every IPv4 address, TCP and QUIC. Build its host with
// pipeline.NewHost.
var DefaultListen = []string{
	"/ip4/0.0.0.0/tcp/1864",
	"/ip4/0.0.0.0/udp/1864/quic-v1",
}
