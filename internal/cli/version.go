package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of keypost",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "keypost %s %s\n", version(), runtime.Version())
			return err
		},
	}
}

// runVersion runs the version command with args.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, newVersionCmd(), args, stdout, stderr)
}

// version is the module version keypost was built at: set by go install
// module@version, and "dev" for a build from a checkout, which has none.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "dev"
	}
	return info.Main.Version
}
