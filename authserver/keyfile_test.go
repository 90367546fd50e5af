package authserver

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// TestCreateKeyFile: init makes an Ed25519 key readable by its owner only,
// which loads back as the same key; a second init refuses to replace it and
// leaves it as it was.
func TestCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.key")
	k, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	before, _ := os.ReadFile(path)
	got, err := LoadKeyFile(path)
	if err != nil || !got.Equals(k) {
		t.Fatalf("loaded %v, %v; want the key made", got, err)
	}
	if _, err := CreateKeyFile(path); !errors.Is(err, ErrKeyFileExists) {
		t.Fatalf("second init: %v, want ErrKeyFileExists", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused init changed the key file")
	}
	// Nothing left beside it, and a path in no directory is refused.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("directory holds %d files, want the key alone", len(ents))
	}
	if _, err := CreateKeyFile(filepath.Join(t.TempDir(), "missing", "auth.key")); err == nil {
		t.Fatal("made a key file in a directory that does not exist")
	}
}

// TestLoadKeyFileRefuses: a missing, empty, malformed, truncated, foreign
// or exposed key file is a clear error at start (ErrBadKeyFile), never a
// server with another identity.
func TestLoadKeyFileRefuses(t *testing.T) {
	good, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	goodRaw, _ := crypto.MarshalPrivateKey(good)
	ecdsa, _, err := crypto.GenerateECDSAKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ecdsaRaw, _ := crypto.MarshalPrivateKey(ecdsa)
	for _, tt := range []struct {
		name     string
		content  []byte // nil: no file
		mode     os.FileMode
		notExist bool
	}{
		{name: "missing", notExist: true},
		{name: "empty", content: []byte{}, mode: 0o600},
		{name: "text", content: []byte("not a key\n"), mode: 0o600},
		{name: "truncated", content: goodRaw[:len(goodRaw)-1], mode: 0o600},
		{name: "not Ed25519", content: ecdsaRaw, mode: 0o600},
		{name: "too large", content: bytes.Repeat([]byte{1}, maxKeyFile+1), mode: 0o600},
		{name: "group readable", content: goodRaw, mode: 0o640},
		{name: "world readable", content: goodRaw, mode: 0o604},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "auth.key")
			if tt.content != nil {
				if err := os.WriteFile(path, tt.content, tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil { // past the umask
					t.Fatal(err)
				}
			}
			k, err := LoadKeyFile(path)
			if !errors.Is(err, ErrBadKeyFile) || k != nil {
				t.Fatalf("got %v, %v; want ErrBadKeyFile", k, err)
			}
			if tt.notExist != errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%v: fs.ErrNotExist %v, want %v", err, errors.Is(err, fs.ErrNotExist), tt.notExist)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, err := LoadKeyFile(t.TempDir()); !errors.Is(err, ErrBadKeyFile) {
			t.Fatalf("a directory: %v", err)
		}
	})
}
