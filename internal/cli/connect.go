package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/pflag"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/internal/keyfile"
	"github.com/keypost/keypost/protocol"
)

// defaultServer is the relay the client commands talk to without --server:
// where keypost serve listens by default.
const defaultServer = "http://127.0.0.1:8080"

// relayFlags are the flags of the commands that connect to a relay as a
// client (send, listen, chat).
type relayFlags struct {
	server string
	key    string
	hmac   bool
}

func (f *relayFlags) add(fs *pflag.FlagSet) {
	fs.StringVarP(&f.server, "server", "s", defaultServer, "the relay's `URL` (also $KEYPOST_SERVER)")
	fs.StringVarP(&f.key, "key", "k", "", "your key `FILE`, made by keypost keygen (also $KEYPOST_KEY; required)")
	fs.BoolVar(&f.hmac, "hmac", false, "sign requests after the handshake with a per-session hmac-sha256 secret instead of Ed25519, if the relay allows (protocol §4.6; also $KEYPOST_HMAC)")
}

// load applies KEYPOST_SERVER and KEYPOST_KEY, checks the flags and reads
// the key file. A missing --key or a malformed --server is a usage error;
// a key file that cannot be read is a runtime failure, as for keypost id.
func (f *relayFlags) load(fs *pflag.FlagSet) (ed25519.PrivateKey, error) {
	if err := applyEnv(fs, "server", "key", "hmac"); err != nil {
		return nil, err
	}
	if f.key == "" {
		return nil, usagef("no key file: pass --key FILE or set %s (keypost keygen --out FILE makes one)", envName("key"))
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("--server %q: want an http:// or https:// URL such as %s", f.server, defaultServer)
	}
	return keyfile.Read(f.key)
}

// parseKeyArg parses a recipient given on the command line.
func parseKeyArg(what, s string) (protocol.Key, error) {
	k, err := protocol.ParseKey(strings.TrimSpace(s))
	if err != nil {
		return k, usagef("%s %q is not a keypost address (%v): want the 43-character public key that keypost id prints", what, s, err)
	}
	return k, nil
}

// sdkError is an error of package client with its "keypost: " prefixes
// taken out, since Main prints one already. It still matches the client's
// sentinel errors.
type sdkError struct{ err error }

func (e *sdkError) Error() string { return strings.ReplaceAll(e.err.Error(), "keypost: ", "") }
func (e *sdkError) Unwrap() error { return e.err }

// tidy wraps an error of package client for printing; nil stays nil.
func tidy(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*sdkError](err); ok {
		return err
	}
	return &sdkError{err}
}

// stoppedError explains why a client stopped for good (Client.Err) to
// the person who ran the command.
func stoppedError(err error) error {
	if errors.Is(err, client.ErrKeyConflict) {
		return fmt.Errorf("%w: another session took this key (is a second keypost listen, chat or send running with the same key file?)", tidy(err))
	}
	return tidy(err)
}

// rejectionHint explains a relay's refusal code in a few words.
func rejectionHint(code protocol.ErrorCode, to protocol.Key) string {
	switch code {
	case protocol.CodeRecipientUnknown:
		return "no client holds " + to.String() + " now"
	case protocol.CodeRecipientOffline:
		return to.String() + " lost its connection and has not come back yet"
	case protocol.CodeTooLarge:
		return "larger than the relay's max_message_bytes: send it with --file"
	}
	return "to " + to.String()
}

// printable makes untrusted text safe to print on a terminal: control
// characters (which could move the cursor or change the terminal's
// settings) are shown escaped, as \x1b; line breaks are kept, each
// following line indented by indent.
func printable(s, indent string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\n':
			b.WriteString("\n" + indent)
		case r == '\r' && strings.HasPrefix(s[i+1:], "\n"):
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
