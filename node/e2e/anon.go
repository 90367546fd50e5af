package e2e

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"

	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// MaxAnonSize bounds an anonymous box: a mailbox item.
const MaxAnonSize = wire.MaxMailItem

// SealAnonymous seals plaintext to the holder of box key to, revealing
// nothing about the sender: the outer layer of a mailbox item, which a
// supernode stores and forwards. Authenticity comes from what is inside
// (a Seal'ed envelope signed by the sender's device).
func SealAnonymous(to []byte, plaintext []byte) ([]byte, error) {
	if len(to) != BoxKeySize {
		return nil, fmt.Errorf("%w: box key of %d bytes", ErrMalformed, len(to))
	}
	toPub, err := ecdh.X25519().NewPublicKey(to)
	if err != nil {
		return nil, fmt.Errorf("%w: box key: %v", ErrMalformed, err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := eph.ECDH(toPub)
	if err != nil {
		return nil, fmt.Errorf("key agreement: %w", err)
	}
	ephPub := eph.PublicKey().Bytes()
	aead, err := newAEAD(shared, ephPub, to, "", "")
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	box := &wire.SealedBox{
		Ephemeral:  ephPub,
		Nonce:      nonce,
		Ciphertext: aead.Seal(nil, nonce, plaintext, aeadAD("", "", ephPub, to)),
	}
	out, err := proto.Marshal(box)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxAnonSize {
		return nil, fmt.Errorf("%w: anonymous box of %d bytes exceeds %d", ErrMalformed, len(out), MaxAnonSize)
	}
	return out, nil
}

// OpenAnonymous opens a box sealed with SealAnonymous to this device.
func (v *V1) OpenAnonymous(sealed []byte) ([]byte, error) {
	if len(sealed) > MaxAnonSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(sealed), MaxAnonSize)
	}
	var box wire.SealedBox
	if err := proto.Unmarshal(sealed, &box); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case len(box.Ephemeral) != BoxKeySize:
		return nil, fmt.Errorf("%w: ephemeral key of %d bytes", ErrMalformed, len(box.Ephemeral))
	case len(box.Nonce) != nonceSize:
		return nil, fmt.Errorf("%w: nonce of %d bytes", ErrMalformed, len(box.Nonce))
	case len(box.Signature) != 0:
		return nil, fmt.Errorf("%w: an anonymous box carries no signature", ErrMalformed)
	case len(box.Ciphertext) < overhead:
		return nil, fmt.Errorf("%w: ciphertext of %d bytes", ErrMalformed, len(box.Ciphertext))
	}
	ephPub, err := ecdh.X25519().NewPublicKey(box.Ephemeral)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrOpen, err)
	}
	shared, err := v.box.ECDH(ephPub)
	if err != nil {
		return nil, fmt.Errorf("%w: key agreement: %v", ErrOpen, err)
	}
	aead, err := newAEAD(shared, box.Ephemeral, v.boxPub, "", "")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	pt, err := aead.Open(nil, box.Nonce, box.Ciphertext, aeadAD("", "", box.Ephemeral, v.boxPub))
	if err != nil {
		return nil, fmt.Errorf("%w: decrypt: %v", ErrOpen, err)
	}
	return pt, nil
}
