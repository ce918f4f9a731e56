package commands

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"tug/pull"
)

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "log in to a registry (credentials go to docker's config.json)",
		ArgsUsage: "[REGISTRY]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name"},
			&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password (visible in ps; prefer --password-stdin)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
		}, registryFlags(false)...),
		Action: login,
	}
}

func login(c *cli.Context) error {
	if err := needArgs(c, 0, 1); err != nil {
		return err
	}
	_, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	user, password := c.String("username"), c.String("password")
	if c.Bool("password-stdin") {
		if password != "" {
			return fmt.Errorf("login: --password and --password-stdin are mutually exclusive")
		}
		if user == "" {
			return fmt.Errorf("login: --password-stdin needs --username")
		}
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("login: read password: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if user == "" || password == "" {
		if !isTerminal(os.Stdin) {
			return fmt.Errorf("login: no user name or password; use -u USER --password-stdin")
		}
		if user, password, err = prompt(user); err != nil {
			return err
		}
	}
	reg := c.Args().First()
	regs, err := registriesFor(c, cfg, reg)
	if err != nil {
		return err
	}
	if err := pull.Login(c.Context, reg, user, password, regs); err != nil {
		return err
	}
	fmt.Println("Login Succeeded")
	return nil
}

// prompt asks for what is missing on the terminal, without echoing the
// password.
func prompt(user string) (string, string, error) {
	if user == "" {
		fmt.Fprint(os.Stderr, "Username: ")
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil {
			return "", "", fmt.Errorf("login: read user name: %w", err)
		}
		user = strings.TrimSpace(line)
	}
	fmt.Fprint(os.Stderr, "Password: ")
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", "", fmt.Errorf("login: read password: %w", err)
	}
	return user, string(b), nil
}

func logoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "remove the stored credentials of a registry",
		ArgsUsage: "[REGISTRY]",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "authfile", Usage: "credentials file to remove them from"}},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 1); err != nil {
				return err
			}
			if err := pull.Logout(c.Args().First(), c.String("authfile")); err != nil {
				return err
			}
			fmt.Printf("Removed login credentials for %s\n", c.Args().First())
			return nil
		},
	}
}
