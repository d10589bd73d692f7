package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
)

// SealSecret encrypts a token secret with a key derived from the CA key,
// so any manager (they all hold the CA key) can print the current tokens
// while workers, which replicate the same state, cannot.
func SealSecret(caKey *ecdsa.PrivateKey, secret string) (string, error) {
	aead, err := sealer(caKey)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("pki: seal: %w", err)
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(secret), nil)), nil
}

// OpenSecret decrypts what SealSecret made.
func OpenSecret(caKey *ecdsa.PrivateKey, sealed string) (string, error) {
	aead, err := sealer(caKey)
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize() {
		return "", errors.New("pki: sealed secret is malformed")
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("pki: open sealed secret: %w", err)
	}
	return string(plain), nil
}

func sealer(caKey *ecdsa.PrivateKey) (cipher.AEAD, error) {
	if caKey == nil {
		return nil, errors.New("pki: only managers (holders of the CA key) can read join tokens")
	}
	der, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	k := sha256.Sum256(append([]byte("xoverlay join token seal\x00"), der...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return cipher.NewGCM(block)
}
