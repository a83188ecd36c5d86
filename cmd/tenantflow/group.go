package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/tenantflow/tenantflow/datasource"
)

const groupUsage = `Usage: tenantflow group <subcommand> [flags] [args]

  create TENANT ID [--name N] [--type T]
  list TENANT [--member LOGIN]
  delete TENANT ID
  add TENANT ID LOGIN
  remove TENANT ID LOGIN

Groups belong to a tenant; candidate groups of user tasks resolve against them.`

func (c *cli) group(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(c.stdout, groupUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: group needs a subcommand", errUsage)
		}
		return errHelpShown
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("group "+sub, flag.ContinueOnError)
	o, env := c.commonFlags(fs)
	name := fs.String("name", "", "display name")
	typ := fs.String("type", "", "group type")
	member := fs.String("member", "", "list: only groups of this login")
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := c.parse(fs, args, groupUsage, env); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	need := map[string]int{"create": 2, "list": 1, "delete": 2, "add": 3, "remove": 3}
	n, known := need[sub]
	if !known {
		return fmt.Errorf("%w: unknown group subcommand %q", errUsage, sub)
	}
	if len(pos) != n {
		return fmt.Errorf("%w: group %s takes %d argument(s), got %d (see --help)", errUsage, sub, n, len(pos))
	}
	src, _, err := c.open(ctx, o)
	if err != nil {
		return err
	}
	defer src.Close()
	p := src.Primary
	userID := func(login string) (string, error) {
		u, err := p.UserByLogin(ctx, login)
		if err != nil {
			return "", err
		}
		return u.ID, nil
	}
	switch sub {
	case "create":
		if err := p.CreateGroup(ctx, &datasource.Group{Tenant: pos[0], ID: pos[1], Name: *name, Type: *typ}); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "group %s created in tenant %s\n", pos[1], pos[0])
	case "list":
		m := ""
		if *member != "" {
			id, err := userID(*member)
			if err != nil {
				return err
			}
			m = id
		}
		gs, err := p.ListGroups(ctx, pos[0], m)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTYPE")
		for _, g := range gs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.ID, g.Name, g.Type)
		}
		return tw.Flush()
	case "delete":
		if err := p.DeleteGroup(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "group %s deleted\n", pos[1])
	case "add", "remove":
		id, err := userID(pos[2])
		if err != nil {
			return err
		}
		if sub == "add" {
			err = p.AddGroupMember(ctx, pos[0], pos[1], id)
		} else {
			err = p.RemoveGroupMember(ctx, pos[0], pos[1], id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s %s group %s\n", pos[2], map[string]string{"add": "added to", "remove": "removed from"}[sub], pos[1])
	}
	return nil
}
