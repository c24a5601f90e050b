package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/internal/keyfile"
	"github.com/keypost/keypost/protocol"
)

const keygenLong = `Generate a new Ed25519 key pair. Its public key is a keypost address.

With --out FILE, the private key is written to FILE (mode 0600) and the
public key is printed on stdout, so ADDR=$(keypost keygen --out me.key)
works. An existing FILE is refused unless --force is given.

Without --out, the key file text is printed on stdout and the public key on
stderr, so keypost keygen > me.key works too (the shell creates me.key with
your umask: check that only you can read it).

The key file is text:

  # keypost private key — keep secret
  public: <public key, 43 characters of base64url>
  private: <32-byte Ed25519 seed, 43 characters of base64url>

Anyone with the file can read your messages and send as you: keep it secret.`

func newKeygenCmd() *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen [--out FILE [--force]]",
		Short: "Generate a key pair (a new address)",
		Long:  keygenLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if force && out == "" {
				return usagef("--force needs --out")
			}
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			pub := publicKey(priv)
			if out == "" {
				if _, err := cmd.OutOrStdout().Write(keyfile.Encode(priv)); err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.ErrOrStderr(), pub)
				return err
			}
			if err := keyfile.Write(out, priv, force); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%w (pass --force to replace it)", err)
				}
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), pub)
			return err
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the private key to `FILE` (mode 0600) instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

// runKeygen runs the keygen command with args.
func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, newKeygenCmd(), args, stdout, stderr)
}

// publicKey returns the address of priv: its public key in wire form.
func publicKey(priv ed25519.PrivateKey) string {
	key, err := protocol.KeyFromPublic(priv.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err) // an ed25519.PrivateKey always has a 32-byte public key
	}
	return key.String()
}
