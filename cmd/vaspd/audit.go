package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/store"
)

// audited runs change, a CLI command's change to the database, recorded in
// the platform API's audit trail as an audited request is: the event is
// committed before change runs (which does not run if it cannot be), and
// its outcome after — 200, or the error's status and code — with, for a
// command that created something, the id change returns of it (its
// resourceId, as for the API: it did not exist when the event was
// written). The event is audit.CLIEvent's: it names the command as its
// route ("vaspd token create"), its method CLI, and who ran it where.
func audited(ctx context.Context, db *store.DB, stderr io.Writer, command string, params map[string]string,
	change func() (created string, err error)) error {
	log := audit.New(db, nil)
	e := audit.CLIEvent(command, params)
	if err := log.Begin(ctx, &e); err != nil {
		return fmt.Errorf("the audit trail could not be written, so nothing was changed: %w", err)
	}
	created, err := change()
	res := audit.Result{Status: http.StatusOK, ResourceID: created}
	if err != nil {
		ve := vaspd.AsError(err)
		res = audit.Result{Status: ve.Status, ErrorCode: ve.Code}
	}
	// The change is made: its outcome is recorded even if ctx ended.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := log.Finish(fctx, e.ID, res); ferr != nil {
		fmt.Fprintf(stderr, "%s: audit event %s's outcome not recorded (it reads as unknown): %v\n", command, e.ID, ferr)
	}
	return err
}
