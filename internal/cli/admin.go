package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/gotenancy/tenancy/controlplane"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newAdminCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage the people who sign in to the admin dashboard",
		Args:  cobra.NoArgs,
	}
	var email string
	var passwordStdin bool
	create := &cobra.Command{
		Use:   "create --email EMAIL --password-stdin",
		Short: "Add an admin user; the password is read from stdin and stored only as a bcrypt hash",
		Example: `  printf '%s\n' "$ADMIN_PASSWORD" | tenancy admin create --email ops@example.com --password-stdin
  tenancy admin create --email ops@example.com --password-stdin   # asks on a terminal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !passwordStdin {
				return errors.New("pass the password on stdin with --password-stdin")
			}
			password, err := readPassword(o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
				u, err := e.cp.CreateAdminUser(ctx, email, password)
				if err != nil {
					return err
				}
				if o.outputJSON() {
					return printJSON(cmd.OutOrStdout(), u)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Created admin user %s; they sign in to the dashboard at /admin\n", u.Email)
				return nil
			})(cmd, args)
		},
	}
	create.Flags().StringVar(&email, "email", "", "the user's email address (required)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (its first line)")
	create.MarkFlagRequired("email")

	list := &cobra.Command{
		Use:   "list",
		Short: "List admin users",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			users, err := e.cp.AdminUsers(ctx)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), users)
			}
			tb := newTable(cmd.OutOrStdout(), "ID", "EMAIL", "CREATED", "LAST SIGN-IN")
			for _, u := range users {
				tb.row(u.ID, u.Email, formatTime(&u.CreatedAt), formatTime(u.LastSignInAt))
			}
			return tb.flush()
		}),
	}

	var deleteEmail string
	del := &cobra.Command{
		Use:   "delete --email EMAIL",
		Short: "Delete an admin user and sign out their sessions",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if err := e.cp.DeleteAdminUser(ctx, deleteEmail); err != nil {
				return err
			}
			email := strings.ToLower(strings.TrimSpace(deleteEmail))
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"deleted": true, "email": email})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted admin user %s\n", email)
			return nil
		}),
	}
	del.Flags().StringVar(&deleteEmail, "email", "", "the user's email address (required)")
	del.MarkFlagRequired("email")

	cmd.AddCommand(create, list, del)
	return cmd
}

// readPassword reads a password from stdin: without echo after a prompt on
// a terminal, else the first line of what is piped in (its line ending
// stripped). An empty password is an error; its length is the Manager's
// to check.
func readPassword(o *options, prompt io.Writer) (string, error) {
	if o.interactive() {
		fmt.Fprint(prompt, "Password: ")
		b, err := term.ReadPassword(int(o.in.(*os.File).Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("empty password: nothing created")
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(o.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New(`no password on stdin: pipe it in, e.g. printf '%s\n' "$PASSWORD" | tenancy admin create --email … --password-stdin`)
	}
	return line, nil
}

// ensureDemoAdmin makes sure the dashboard of a demo can be signed in to:
// without any admin user it creates admin@example.com with a random
// password and returns both; with one it returns empty strings. A node
// started at the same moment may create it first: its "already exists"
// means the work is done, not that this start failed.
func ensureDemoAdmin(ctx context.Context, e *env) (email, password string, err error) {
	users, err := e.cp.AdminUsers(ctx)
	if err != nil || len(users) > 0 {
		return "", "", err
	}
	b := make([]byte, 12) // 16 characters in base64url
	rand.Read(b)
	password = base64.RawURLEncoding.EncodeToString(b)
	u, err := e.cp.CreateAdminUser(ctx, "admin@example.com", password)
	if errors.Is(err, controlplane.ErrAdminExists) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	return u.Email, password, nil
}

// dashboardURL is the admin dashboard's address on a server listening on
// addr, for people to open: a wildcard or missing host reads as localhost.
func dashboardURL(addr string) string { return baseURL(addr) + "/admin/" }

// baseURL is the URL of the central host a listen address serves, for
// messages: a wildcard host is shown as localhost.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
