package fleet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// Encoding is the metadata encoding of a payload the codec sealed.
const Encoding = "binary/rbflow-aes256gcm"

// Key environment variables: a file holding the key, or the key itself
// (64 hex digits, or 32 bytes in standard base64).
const (
	KeyFileEnv = "RBFLOW_TEMPORAL_KEY_FILE"
	KeyEnv     = "RBFLOW_TEMPORAL_KEY"
)

// Codec encrypts every payload with AES-256-GCM: workflow inputs, activity
// arguments and results, queries, updates. Temporal's history and its
// server then hold no param, output or answer in clear. Worker and starter
// need the same key.
type Codec struct {
	aead  cipher.AEAD
	keyID string // the first bytes of the key's hash, to name a wrong key
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns the codec for a 32-byte key.
func NewCodec(key []byte) (*Codec, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("payload key: want 32 bytes (AES-256), got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &Codec{aead: aead, keyID: hex.EncodeToString(sum[:4])}, nil
}

// KeyID names the key without giving it away: the first bytes of its
// SHA-256, as sealed payloads carry it.
func (c *Codec) KeyID() string { return c.keyID }

// ErrNoKey is returned by LoadKey when no key is given anywhere.
var ErrNoKey = errors.New("fleet: no payload key: give --key-file FILE, or set " + KeyFileEnv + " or " + KeyEnv + " (32 random bytes: head -c32 /dev/urandom > fleet.key)")

// KeyError is a payload key that was given but cannot be used: a key file
// that cannot be read, or text that is not 32 bytes in hex or base64.
type KeyError struct{ Err error }

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// LoadKey reads the payload key: from file when given, else from the file
// named by $RBFLOW_TEMPORAL_KEY_FILE, else from $RBFLOW_TEMPORAL_KEY. A
// key file holds the 32 bytes raw, or as hex or base64 text.
func LoadKey(file string, getenv func(string) string) ([]byte, error) {
	if file == "" {
		file = getenv(KeyFileEnv)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, &KeyError{fmt.Errorf("read payload key: %w", err)}
		}
		if len(b) == 32 {
			return b, nil
		}
		k, err := parseKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, &KeyError{fmt.Errorf("payload key file %s: %w", file, err)}
		}
		return k, nil
	}
	if v := getenv(KeyEnv); v != "" {
		k, err := parseKey(strings.TrimSpace(v))
		if err != nil {
			return nil, &KeyError{fmt.Errorf("$%s: %w", KeyEnv, err)}
		}
		return k, nil
	}
	return nil, ErrNoKey
}

func parseKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("want 32 bytes: raw, 64 hex digits or base64")
}

// Encode seals each payload whole (its metadata and data) into a new one.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		sealed := c.aead.Seal(nonce, nonce, plain, []byte(c.keyID))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), "rbflow-key": []byte(c.keyID)},
			Data:     sealed,
		}
	}
	return out, nil
}

// Decode opens the payloads Encode sealed and leaves others as they are.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		if id := string(p.GetMetadata()["rbflow-key"]); id != c.keyID {
			return nil, fmt.Errorf("payload sealed with key %s, this process has key %s: worker and starter need the same key", id, c.keyID)
		}
		n := c.aead.NonceSize()
		if len(p.Data) < n {
			return nil, errors.New("payload too short to be sealed")
		}
		plain, err := c.aead.Open(nil, p.Data[:n], p.Data[n:], []byte(c.keyID))
		if err != nil {
			return nil, fmt.Errorf("open payload: %w", err)
		}
		var dp commonpb.Payload
		if err := dp.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("open payload: %w", err)
		}
		out[i] = &dp
	}
	return out, nil
}

// DataConverter is Temporal's default converter with every payload sealed
// by c.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter carries error messages and stack traces as payloads
// sealed by c: a step's error (masked already) or a param error stays out
// of the history in clear too.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: c.DataConverter(), EncodeCommonAttributes: true})
}
