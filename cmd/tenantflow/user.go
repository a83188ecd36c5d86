package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

const userUsage = `Usage: tenantflow user <subcommand> [flags] [args]

  create LOGIN [--name N] [--email E] [--tenant-manager]
  list [--tenant T]
  passwd LOGIN
  delete LOGIN
  grant LOGIN TENANT ROLE          (roles: admin, user, reader)
  revoke LOGIN TENANT
  token create LOGIN --name N [--expires 720h]
  token list LOGIN
  token revoke LOGIN TOKEN_ID

Passwords are read from the environment variable named by --password-env, or
as one line from standard input when it is not a terminal:
  echo "$PW" | tenantflow user create ann
A new token is printed once, alone on standard output.`

func (c *cli) user(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(c.stdout, userUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: user needs a subcommand", errUsage)
		}
		return errHelpShown
	}
	sub, args := args[0], args[1:]
	if sub == "token" {
		if len(args) == 0 {
			return fmt.Errorf("%w: user token needs create, list or revoke", errUsage)
		}
		sub, args = "token "+args[0], args[1:]
	}
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	o, env := c.commonFlags(fs)
	name := fs.String("name", "", "display name (create), token name (token create)")
	email := fs.String("email", "", "e-mail address")
	manager := fs.Bool("tenant-manager", false, "make the account the tenant manager")
	pwEnv := fs.String("password-env", "", "name of the environment variable holding the password")
	tenant := fs.String("tenant", "", "list: only members of this tenant")
	expires := fs.Duration("expires", 0, "token lifetime (0: never expires)")
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := c.parse(fs, args, userUsage, env); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	need := map[string]int{"create": 1, "list": 0, "passwd": 1, "delete": 1, "grant": 3, "revoke": 2,
		"token create": 1, "token list": 1, "token revoke": 2}
	n, known := need[sub]
	if !known {
		return fmt.Errorf("%w: unknown user subcommand %q", errUsage, sub)
	}
	if len(pos) != n {
		return fmt.Errorf("%w: user %s takes %d argument(s), got %d (see --help)", errUsage, sub, n, len(pos))
	}
	src, _, err := c.open(ctx, o)
	if err != nil {
		return err
	}
	defer src.Close()
	p := src.Primary
	byLogin := func(login string) (*datasource.User, error) { return p.UserByLogin(ctx, login) }
	switch sub {
	case "create":
		pw, err := c.password(*pwEnv)
		if err != nil {
			return err
		}
		u, err := p.CreateUser(ctx, &datasource.CreateUserParams{Login: pos[0], Password: pw, DisplayName: *name, Email: *email, TenantManager: *manager})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "user %s created (id %s)\n", u.Login, u.ID)
	case "list":
		us, err := p.ListUsers(ctx, &datasource.ListUsersParams{Tenant: *tenant})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOGIN\tNAME\tTENANT MANAGER\tID")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", u.Login, u.DisplayName, u.TenantManager, u.ID)
		}
		return tw.Flush()
	case "passwd":
		u, err := byLogin(pos[0])
		if err != nil {
			return err
		}
		pw, err := c.password(*pwEnv)
		if err != nil {
			return err
		}
		if err := p.UpdateUser(ctx, u.ID, &datasource.UpdateUserParams{Password: &pw}); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "password of %s changed\n", u.Login)
	case "delete":
		u, err := byLogin(pos[0])
		if err != nil {
			return err
		}
		if err := p.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "user %s deleted\n", u.Login)
	case "grant":
		u, err := byLogin(pos[0])
		if err != nil {
			return err
		}
		role, err := security.ParseRole(pos[2])
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if err := p.Grant(ctx, u.ID, pos[1], role); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s is %s of tenant %s\n", u.Login, role, pos[1])
	case "revoke":
		u, err := byLogin(pos[0])
		if err != nil {
			return err
		}
		if err := p.Revoke(ctx, u.ID, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s is no longer a member of tenant %s\n", u.Login, pos[1])
	case "token create":
		u, err := byLogin(pos[0])
		if err != nil {
			return err
		}
		var exp time.Time
		if *expires > 0 {
			exp = time.Now().Add(*expires)
		}
		tok, _, err := p.CreateToken(ctx, u.ID, *name, exp)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, tok)
	case "token list":
		u, err := byLogin(pos[0])
		if err != nil {
			return err
		}
		ts, err := p.ListTokens(ctx, u.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tEXPIRES\tLAST USED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format(time.RFC3339), fmtTime(t.ExpiresAt, "never"), fmtTime(t.LastUsedAt, "-"))
		}
		return tw.Flush()
	case "token revoke":
		u, err := byLogin(pos[0])
		if err != nil {
			return err
		}
		if err := p.RevokeToken(ctx, u.ID, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "token %s revoked\n", pos[1])
	}
	return nil
}

func fmtTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

// password reads a password from the named environment variable, or one
// line of standard input when it is not a terminal.
func (c *cli) password(envName string) (string, error) {
	if envName != "" {
		v := c.getenv(envName)
		if v == "" {
			return "", fmt.Errorf("%w: --password-env %s: the variable is empty or unset", errUsage, envName)
		}
		return v, nil
	}
	if f, ok := c.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "", fmt.Errorf("%w: give the password with --password-env VAR or pipe it on standard input (not typed, so it stays out of the terminal's history)", errUsage)
		}
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: no password on standard input", errUsage)
	}
	if err != nil && line == "" {
		return "", err
	}
	return line, nil
}
