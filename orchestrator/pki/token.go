package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Token format: XOTKN-1-<CA digest, 64 hex>-<secret, 26 base32>. The digest
// lets a joiner check the CA before it trusts anything; the secret says
// which role it may join as. Only the secret's hash is stored.
const tokenPrefix = "XOTKN-1-"

// ErrBadToken means a token is not of the right form.
var ErrBadToken = errors.New("malformed join token")

// NewSecret makes a fresh token secret.
func NewSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashSecret is what the cluster state keeps of a secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches compares a secret with a stored hash in constant time.
func SecretMatches(secret, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(hash)) == 1
}

// FormatToken builds a join token.
func FormatToken(caDigest, secret string) string {
	return tokenPrefix + caDigest + "-" + secret
}

// ParseToken splits a token into CA digest and secret.
func ParseToken(tok string) (caDigest, secret string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(tok), tokenPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w: it should start with %s", ErrBadToken, tokenPrefix)
	}
	caDigest, secret, ok = strings.Cut(rest, "-")
	if !ok || len(caDigest) != 64 || len(secret) != 26 {
		return "", "", fmt.Errorf("%w: expected %s<64 hex>-<26 characters>", ErrBadToken, tokenPrefix)
	}
	if _, err := hex.DecodeString(caDigest); err != nil {
		return "", "", fmt.Errorf("%w: the CA digest is not hex", ErrBadToken)
	}
	return caDigest, secret, nil
}
