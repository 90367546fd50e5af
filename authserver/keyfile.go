package authserver

// The key file: the server's host key, which signs every ticket, in a file
// of its own rather than in the database's secrets, so that several
// replicas sharing one database sign with one identity: the operator makes
// it once (eserver-auth init --key-file) and copies it to each replica.
// Its format is libp2p's (crypto.MarshalPrivateKey), as supernodes keep
// theirs.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

var (
	// ErrKeyFileExists is CreateKeyFile's refusal to replace a file: a
	// new key would invalidate every ticket signed with the old one.
	ErrKeyFileExists = errors.New("key file exists")
	// ErrBadKeyFile is LoadKeyFile's error for a file that is missing,
	// unreadable, readable by other users, or holds no Ed25519 key.
	ErrBadKeyFile = errors.New("bad key file")
)

// maxKeyFile bounds what LoadKeyFile reads: an encoded Ed25519 key is 68
// bytes.
const maxKeyFile = 4 << 10

// keyFileMode is the key file's permissions: its owner's only.
const keyFileMode = 0o600

// CreateKeyFile makes a new Ed25519 host key and writes it to path, mode
// 0600. It refuses (ErrKeyFileExists) when path exists, and leaves no
// partial file behind when it fails.
func CreateKeyFile(path string) (crypto.PrivKey, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w: %s (a new key would invalidate every ticket signed with it)", ErrKeyFileExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("generating host key: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding host key: %w", err)
	}
	// Written whole to a temporary file beside it, then linked into place:
	// a crash leaves either no key file or a whole one, and the link fails
	// if another process made the file meanwhile.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".eserver-auth-key-*")
	if err != nil {
		return nil, fmt.Errorf("writing key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeKey(tmp, raw); err != nil {
		return nil, fmt.Errorf("writing key file %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrKeyFileExists, path)
		}
		return nil, fmt.Errorf("writing key file: %w", err)
	}
	return k, nil
}

func writeKey(f *os.File, raw []byte) error {
	err := f.Chmod(keyFileMode)
	if err == nil {
		_, err = f.Write(raw)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadKeyFile reads the host key CreateKeyFile wrote to path. Every error
// wraps ErrBadKeyFile: a missing or unreadable file (also fs.ErrNotExist
// for a missing one), one readable or writable by other users than its
// owner (the key signs every ticket: chmod 600 it), and one that holds no
// Ed25519 key in libp2p's encoding.
func LoadKeyFile(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadKeyFile, path)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("%w: %s has mode %04o, open to other users than its owner: chmod 600 it", ErrBadKeyFile, path, fi.Mode().Perm())
	case fi.Size() > maxKeyFile:
		return nil, fmt.Errorf("%w: %s has %d bytes, a key file at most %d", ErrBadKeyFile, path, fi.Size(), maxKeyFile)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrBadKeyFile, path, err)
	}
	if len(raw) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s grew past %d bytes", ErrBadKeyFile, path, maxKeyFile)
	}
	k, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s holds no key: %v", ErrBadKeyFile, path, err)
	}
	if k.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: %s holds a %s key, not Ed25519", ErrBadKeyFile, path, k.Type())
	}
	return k, nil
}
