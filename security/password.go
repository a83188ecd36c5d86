package security

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// PasswordCost is the bcrypt cost for stored password hashes. At cost 10 a
// check takes tens of milliseconds, which is why the authenticator caches
// verified credentials instead of running bcrypt on every request.
const PasswordCost = bcrypt.DefaultCost

// MinPasswordLength is the shortest password accepted for a new account.
const MinPasswordLength = 8

// ErrBadPassword is returned by [CheckPassword] when the password does not
// match the hash.
var ErrBadPassword = errors.New("wrong password")

// HashPassword returns the bcrypt hash of a new password, or an error that
// says what is wrong with it.
func HashPassword(password string) (string, error) {
	switch {
	case len(password) < MinPasswordLength:
		return "", fmt.Errorf("password too short: use at least %d characters", MinPasswordLength)
	case len(password) > 72:
		// bcrypt ignores everything past 72 bytes; refuse instead of
		// silently accepting a password that is not what it looks like.
		return "", errors.New("password too long: bcrypt uses at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword compares a password with a hash from [HashPassword]. It
// returns nil on a match and ErrBadPassword otherwise.
func CheckPassword(hash, password string) error {
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
		return ErrBadPassword
	}
	return nil
}
