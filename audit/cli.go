package audit

import (
	"os"
	"os/user"
	"strconv"
)

// CLIEvent is the event of a change command makes to the database with no
// platform-API credential (`vaspd token create`, the admin token a first
// `vaspd serve` mints): its route the command, its method CLI, and who
// made it where: the token CLITokenID named after the operating-system
// user, from the machine's host name, the process id as its request id.
func CLIEvent(command string, params map[string]string) Event {
	e := Event{TokenID: CLITokenID, TokenName: "cli:" + osUser(), Method: "CLI", Route: command,
		PathParams: params, ClientAddress: "local:" + hostname(), RequestID: "pid " + strconv.Itoa(os.Getpid())}
	for _, v := range params {
		e.ResourceID = v // commands name one resource at most
	}
	return e
}

// osUser names the operating-system user running the CLI: the login
// name, else the uid.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown host"
}
