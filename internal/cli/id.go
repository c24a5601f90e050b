package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/internal/keyfile"
)

const idLong = `Print the public key (the keypost address) of a key file.

--key defaults to the environment variable KEYPOST_KEY.`

func newIDCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "id --key FILE",
		Short: "Print the address of a key file",
		Long:  idLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), "key"); err != nil {
				return err
			}
			if path == "" {
				return usagef("no key file: pass --key FILE or set %s", envName("key"))
			}
			priv, err := keyfile.Read(path)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), publicKey(priv))
			return err
		},
	}
	cmd.Flags().StringVarP(&path, "key", "k", "", "the key `FILE` (default $KEYPOST_KEY)")
	return cmd
}

// runID runs the id command with args.
func runID(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, newIDCmd(), args, stdout, stderr)
}
