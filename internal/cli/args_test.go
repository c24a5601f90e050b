package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"testing"

	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// dashKey is a key's text that begins with '-', as one key in 64 does.
const dashKey = "-KkN3CWueSns1CiZh7NcvV_kNCTqffPNO7U-KJ5s7qM"

func TestKeyArgs(t *testing.T) {
	const other = "GKuUnmCNetvavnrkg-ZjyLaicC8lCgs2hMaqDOp3glQ"
	for _, tc := range []struct {
		name string
		cmd  string // "" for the root, else the subcommand given to keyArgs
		in   string
		want string
	}{
		{"chat, key after flags", "", "chat --server U -k F " + dashKey, "chat --server U -k F -- " + dashKey},
		{"chat, key before flags", "", "chat " + dashKey + " --hmac", "chat --hmac -- " + dashKey},
		{"the subcommand alone", "chat", "-s U " + dashKey + " -k F", "-s U -k F -- " + dashKey},
		{"a flag's value stays", "", "send --to " + dashKey + " hi", "send --to " + dashKey + " hi"},
		{"a shorthand's value stays", "", "send -t " + dashKey + " hi", "send -t " + dashKey + " hi"},
		{"text after a value, key as text", "", "send -t " + dashKey + " --json " + dashKey, "send -t " + dashKey + " --json -- " + dashKey},
		{"flag=value, then key", "", "send --to=" + other + " " + dashKey, "send --to=" + other + " -- " + dashKey},
		{"a shorthand with its value in the word", "", "send -fP " + dashKey, "send -fP -- " + dashKey},
		{"a shorthand's value in the word, not the next", "", "send -ft " + dashKey, "send -ft -- " + dashKey},
		{"positionals keep their order", "", "send -t " + other + " a " + dashKey + " b", "send -t " + other + " -- a " + dashKey + " b"},
		{"after --, nothing changes", "", "chat -s U -- " + dashKey, "chat -s U -- " + dashKey},
		{"no dash key, nothing changes", "", "chat -s U " + other, "chat -s U " + other},
		{"a dash word of another length", "", "chat -" + other[:20], "chat -" + other[:20]},
		{"not base64url", "", "chat -" + strings.Repeat("!", 42), "chat -" + strings.Repeat("!", 42)},
		{"stdin dash is positional", "", "send -t " + other + " - " + dashKey, "send -t " + other + " -- - " + dashKey},
		{"unknown command", "", "nosuch " + dashKey, "nosuch " + dashKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot()
			cmd := root
			if tc.cmd != "" {
				c, _, err := root.Find([]string{tc.cmd})
				if err != nil {
					t.Fatal(err)
				}
				cmd = c
			}
			got, err := keyArgs(cmd, strings.Fields(tc.in))
			if err != nil || !slices.Equal(got, strings.Fields(tc.want)) {
				t.Errorf("keyArgs(%q)\n got %q, %v\nwant %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// A flag that wants a value but ends the line, after a key that begins
// with '-', is reported as such, not as the key's "unknown shorthand flag".
func TestKeyArgsFlagWithoutValue(t *testing.T) {
	var stdout, stderr strings.Builder
	code := Main(t.Context(), []string{"chat", dashKey, "-s"}, &stdout, &stderr)
	if want := "flag needs an argument: -s"; code != exitUsage || !strings.Contains(stderr.String(), want) ||
		!strings.Contains(stderr.String(), "keypost chat --help") {
		t.Fatalf("exit %d, stderr %q, want exit %d and %q", code, stderr.String(), exitUsage, want)
	}
}

// dashParty is a party whose key begins with '-'.
func dashParty(t *testing.T, name string) party {
	t.Helper()
	for {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(publicKey(priv), "-") {
			return partyOf(t, name, priv)
		}
	}
}

// TestChatDashKey: chat with a peer whose key begins with '-' works as
// with any other key (it once failed "unknown shorthand flag").
func TestChatDashKey(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob := newParty(t, "alice"), dashParty(t, "bob")
	b := startChat(t, srv.URL, bob, alice.key)
	a := startChat(t, srv.URL, alice, bob.key)
	a.say(t, "hello dash")
	waitOutput(t, "bob's chat", b.stdout, "< hello dash\n")
	b.say(t, "hi")
	waitOutput(t, "alice's chat", a.stdout, "< hi\n")
}
