package users_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/webhook"
)

// announcements records the jobs an Importer announced, and checks each
// was announced inside a live transaction.
type announcements struct {
	mu   sync.Mutex
	jobs []users.ImportJob
}

func (a *announcements) AnnounceImport(ctx context.Context, tx *store.Tx, j users.ImportJob) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_imports WHERE id = $1 AND status = $2`, j.ID, j.Status).Scan(&n); err != nil || n != 1 {
		return fmt.Errorf("announced outside the finishing transaction: %v %d", err, n)
	}
	// Counted once committed, as the webhook engine's enqueue is.
	tx.AfterCommit(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.jobs = append(a.jobs, j)
	})
	return nil
}

func (a *announcements) list() []users.ImportJob {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]users.ImportJob(nil), a.jobs...)
}

func TestImportJob(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		ann := &announcements{}
		im := users.NewImporter(s, users.ImporterOptions{Announcer: ann})
		j, err := im.Submit(ctx, []byte(importCSV), "vasp.example")
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != users.ImportPending || j.Total != 6 || !strings.HasPrefix(j.ID, "Job:") {
			t.Fatalf("submitted %+v", j)
		}
		if found, err := im.Step(ctx); !found || err != nil {
			t.Fatalf("step: %v %v", found, err)
		}
		if found, err := im.Step(ctx); found || err != nil {
			t.Fatalf("a finished job was claimed again: %v %v", found, err)
		}
		j, err = im.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != users.ImportCompleted || j.Processed != 6 || j.Successful != 2 || j.Failed != 4 ||
			len(j.Errors) != 4 || j.CompletedAt.IsZero() {
			t.Fatalf("finished %+v", j)
		}
		if j.Errors[0].CorrelationID != "dup" || j.Errors[0].Error.Code != vaspd.CodeUMAAddressExists ||
			j.Errors[1].CorrelationID != "row_4" || j.Errors[1].Error.Code != vaspd.CodeInvalidUMAAddress {
			t.Fatalf("errors %+v", j.Errors)
		}
		if a := ann.list(); len(a) != 1 || a[0].Status != users.ImportCompleted || a[0].Successful != 2 {
			t.Fatalf("announced %+v", a)
		}
		w := j.Webhook()
		if w.JobID != j.ID || w.Progress.Total != 6 || w.Progress.Failed != 4 || len(w.Errors) != 4 ||
			w.Errors[0].Error.Status != 409 {
			t.Fatalf("webhook shape %+v", w)
		}
		if _, err := s.GetByUMALocal(ctx, db, "john.doe"); err != nil {
			t.Fatal(err)
		}
		_, err = im.Get(ctx, vaspd.NewID(vaspd.IDJob))
		wantCode(t, err, 404, vaspd.CodeBulkUploadJobNotFound)
	})
}

// TestImportJobHostileCorrelationIDs: a failed row's platformUserId becomes
// its correlation id, stored as text. A NUL, invalid UTF-8 or a long
// multi-byte id cut mid-character must not stop the job (PostgreSQL
// refuses such text): the rows are reported and the job completes.
func TestImportJobHostileCorrelationIDs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		im := users.NewImporter(s, users.ImporterOptions{})
		long := "a" + strings.Repeat("é", 50)
		file := "umaAddress,platformUserId,userType\n" +
			"$r1,p\x00x,ROBOT\n" +
			"$r2,p\xffx,INDIVIDUAL\n" +
			"$r3," + long + ",ROBOT\n" +
			"$r4,p\x1b[2Jx,ROBOT\n"
		j := importFile(t, im, file)
		if j.Status != users.ImportCompleted || j.Failed != 4 || len(j.Errors) != 4 {
			t.Fatalf("job %+v", j)
		}
		for _, e := range j.Errors {
			if !utf8.ValidString(e.CorrelationID) || strings.ContainsFunc(e.CorrelationID, func(r rune) bool { return r < 0x20 }) {
				t.Errorf("correlation id %q", e.CorrelationID)
			}
		}
		if !strings.HasPrefix(long, strings.TrimSuffix(j.Errors[2].CorrelationID, "…")) {
			t.Errorf("long id reported as %q", j.Errors[2].CorrelationID)
		}
	})
}

func TestImportJobRejectsBadFiles(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	im := users.NewImporter(s, users.ImporterOptions{})
	for name, in := range map[string]string{
		"empty":          "",
		"unknown column": "umaAddress,platformUserId,userType,fulName\n",
		"missing column": "umaAddress,userType\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := im.Submit(ctx, []byte(in), "vasp.example")
			wantCode(t, err, 400, vaspd.CodeInvalidInput)
		})
	}
	big := make([]byte, users.MaxImportBytes+1)
	_, err := im.Submit(ctx, big, "vasp.example")
	wantCode(t, err, 413, vaspd.CodeRequestTooLarge)
	if found, err := im.Step(ctx); found || err != nil {
		t.Fatalf("a rejected file left a job: %v %v", found, err)
	}
}

// bigCSV is n valid individual rows, user0 … user(n-1).
func bigCSV(n int) []byte {
	var b strings.Builder
	b.WriteString("umaAddress,platformUserId,userType,fullName\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "$user%d,p%d,INDIVIDUAL,User %d\n", i, i, i)
	}
	return []byte(b.String())
}

func countUsers(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportJobResumesAfterCrash: a process that dies mid-job (its context
// cut at a random row, handing nothing back: users.Crash) leaves the job at a row boundary; once its lease
// runs out another process finishes the job, importing every row exactly
// once, and the job is announced once.
func TestImportJobResumesAfterCrash(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db)
		ann := &announcements{}
		opt := users.ImporterOptions{Announcer: ann, Lease: 10 * time.Second}
		// The first process "crashes" (its context ends) in the middle of
		// row 40.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		crashing := cancellingAt(t, db, clock, 40, cancel)
		first := users.NewImporter(crashing, opt)
		users.Crash(first)
		const rows = 300
		j, err := first.Submit(ctx, bigCSV(rows), "vasp.example")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := first.Step(cctx); err == nil {
			t.Fatal("the interrupted step finished the job")
		}
		mid, err := first.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if mid.Status != users.ImportProcessing || mid.Processed != 39 || int(mid.Successful) != countUsers(t, db) {
			t.Fatalf("after the crash %+v, %d users", mid, countUsers(t, db))
		}

		second := users.NewImporter(s, opt)
		if found, err := second.Step(ctx); found || err != nil {
			t.Fatalf("claimed a job still leased to a process that may be alive: %v %v", found, err)
		}
		clock.Advance(11 * time.Second)
		if found, err := second.Step(ctx); !found || err != nil {
			t.Fatalf("resume: %v %v", found, err)
		}
		wantImportedOnce(t, db, second, ann, j.ID, rows)
	})
}

// TestImportJobsTwoProcesses: importers sharing one database work through
// several jobs at once; every row is imported once and every job
// announced once.
func TestImportJobsTwoProcesses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		ann := &announcements{}
		// A short lease, so that a step failing for a passing reason is
		// retried within the test's time; the log says what it was.
		opt := users.ImporterOptions{Announcer: ann, PollInterval: 5 * time.Millisecond, Lease: 2 * time.Second,
			Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
		a, b := users.NewImporter(s, opt), users.NewImporter(s, opt)
		var ids []string
		for k := 0; k < 4; k++ {
			var sb strings.Builder
			sb.WriteString("umaAddress,platformUserId,userType,fullName\n")
			for i := 0; i < 50; i++ {
				fmt.Fprintf(&sb, "$j%du%d,p,INDIVIDUAL,U\n", k, i)
			}
			// The same address in every job: exactly one job creates it.
			sb.WriteString("$shared,p,INDIVIDUAL,S\n")
			j, err := a.Submit(ctx, []byte(sb.String()), "vasp.example")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		rctx, cancel := context.WithTimeout(ctx, 120*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, im := range []*users.Importer{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = im.Run(rctx)
			}()
		}
		done := func() bool {
			for _, id := range ids {
				if j, err := a.Get(ctx, id); err != nil || j.Status != users.ImportCompleted {
					return false
				}
			}
			return true
		}
		for !done() && rctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		var ok, failed int64
		for _, id := range ids {
			j, err := a.Get(ctx, id)
			if err != nil || j.Status != users.ImportCompleted {
				t.Fatalf("job %s: %+v %v", id, j, err)
			}
			ok, failed = ok+j.Successful, failed+j.Failed
		}
		if ok != 201 || failed != 3 || countUsers(t, db) != 201 || len(ann.list()) != 4 {
			t.Fatalf("successful %d failed %d users %d announced %d", ok, failed, countUsers(t, db), len(ann.list()))
		}
	})
}

// importFile submits file and works on it to its end, in one Step; it
// returns the job as read after.
func importFile(t *testing.T, im *users.Importer, file string) users.ImportJob {
	t.Helper()
	j, err := im.Submit(ctx, []byte(file), "vasp.example")
	if err != nil {
		t.Fatal(err)
	}
	if found, err := im.Step(ctx); !found || err != nil {
		t.Fatalf("step: %v %v", found, err)
	}
	j, err = im.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// cancelAt is a rates provider that calls cancel on its at-th Currencies
// call (users.Service asks once per created user).
type cancelAt struct {
	rates.Provider
	n      atomic.Int32
	at     int32
	cancel func()
}

func (c *cancelAt) Currencies(ctx context.Context) ([]rates.Currency, error) {
	if c.n.Add(1) == c.at {
		c.cancel()
	}
	return c.Provider.Currencies(ctx)
}

// cancellingAt is a users service whose context-bound work ends in the
// middle of row at of an import: its rates provider, asked once per row,
// calls cancel there.
func cancellingAt(t *testing.T, db *store.DB, clock vaspd.Clock, at int32, cancel func()) *users.Service {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return users.New(db, clock, users.WithRates(&cancelAt{Provider: p, at: at, cancel: cancel}))
}

// wantImportedOnce checks that job id, resumed by im, completed with each
// of its rows imported once, and was announced once.
func wantImportedOnce(t *testing.T, db *store.DB, im *users.Importer, ann *announcements, id string, rows int) {
	t.Helper()
	end, err := im.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if end.Status != users.ImportCompleted || end.Successful != int64(rows) || end.Failed != 0 || countUsers(t, db) != rows {
		t.Fatalf("after resuming %+v, %d users", end, countUsers(t, db))
	}
	if a := ann.list(); len(a) != 1 {
		t.Fatalf("announced %d times", len(a))
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// TestImportJobWebhookFitsReceivers: a file of failed rows whose ids and
// addresses are characters JSON escapes six-fold ("<" is \u003c) must
// still give a BULK_UPLOAD body that vaspd's own webhook receiver accepts
// (webhook.DefaultMaxBodyBytes): a larger one is refused with a 413 on
// every attempt, until the sender gives up, so the platform never learns
// the job ended. The counters stay exact; only the listed errors shrink.
func TestImportJobWebhookFitsReceivers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		im := users.NewImporter(s, users.ImporterOptions{})
		var b strings.Builder
		b.WriteString("umaAddress,platformUserId,userType\n")
		lt := func(n int) string { return strings.Repeat("<", n) }
		for i := 0; i < users.MaxReportedImportErrors; i++ {
			fmt.Fprintf(&b, "%s%d%s@other.example,%s%d%s,INDIVIDUAL\n", lt(70), i, lt(20), lt(75), i, lt(10))
		}
		j := importFile(t, im, b.String())
		if j.Status != users.ImportCompleted || j.Failed != int64(users.MaxReportedImportErrors) || len(j.Errors) == 0 {
			t.Fatalf("job %+v", j)
		}
		for i, e := range j.Errors { // the first ones, in order
			if !strings.Contains(e.CorrelationID, fmt.Sprintf("<%d<", i)) {
				t.Fatalf("error %d is %q", i, e.CorrelationID)
			}
		}
		w := webhook.BulkUploadWebhook{BulkUserImportJob: j.Webhook()}
		w.Type, w.WebhookID, w.Timestamp = "BULK_UPLOAD", vaspd.NewID(vaspd.IDWebhook), time.Now()
		body, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > webhook.DefaultMaxBodyBytes {
			t.Fatalf("BULK_UPLOAD body of %d bytes (%d errors listed); vaspd's receiver takes at most %d",
				len(body), len(j.Errors), webhook.DefaultMaxBodyBytes)
		}
	})
}

// TestSubmitOnceRacesCommit: a submission whose key another submission,
// still uncommitted, has just taken answers that one's job once it
// commits. (On PostgreSQL its INSERT waits on the other's, then fails on
// the key's unique index, and it must try again, not fail; on SQLite the
// writes are serial.) The goroutine is given time to get that far; were it
// slower, it would find the job committed, and still answer it.
func TestSubmitOnceRacesCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		im := users.NewImporter(s, users.ImporterOptions{})
		sum := sha256.Sum256([]byte(importCSV))
		id := vaspd.NewID(vaspd.IDJob)
		type result struct {
			j   users.ImportJob
			err error
		}
		done := make(chan result, 1)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_imports (id, status, csv, domain, total, next_row, successful,
				failed, lease_until, created_at, updated_at, idempotency_key, csv_sha256)
				VALUES ($1, 'PENDING', $2, 'vasp.example', 6, 0, 0, 0, 0, 1, 1, 'k', $3)`,
				id, []byte(importCSV), hex.EncodeToString(sum[:])); err != nil {
				return err
			}
			go func() {
				j, err := im.SubmitOnce(ctx, []byte(importCSV), "vasp.example", "k")
				done <- result{j, err}
			}()
			time.Sleep(300 * time.Millisecond)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || !r.j.Replayed || r.j.ID != id {
			t.Fatalf("submit: %+v %v, want job %s replayed", r.j, r.err, id)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_imports`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d jobs (%v)", n, err)
		}
	})
}

// TestImportJobErrorsNameTheirRow: a failed row's correlation id is its
// platformUserId when it has one, and a file may repeat one (a copied
// line, a platform id for two addresses). Each error carries its row
// (data rows counted from 1, as in row_N) in error.details.row, so the
// platform can tell which line of its file failed.
func TestImportJobErrorsNameTheirRow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		im := users.NewImporter(s, users.ImporterOptions{})
		file := "umaAddress,platformUserId,userType\n" +
			"$ok1,same,INDIVIDUAL\n" +
			"$ok1,same,INDIVIDUAL\n" + // row 2: address taken by row 1
			"$ok2,other,INDIVIDUAL\n" +
			"$bad,same,ROBOT\n" + // row 4
			"$ok3,,INDIVIDUAL\n" // row 5: no platformUserId
		j := importFile(t, im, file)
		if j.Status != users.ImportCompleted || j.Failed != 3 || len(j.Errors) != 3 {
			t.Fatalf("job %+v", j)
		}
		w := j.Webhook()
		for i, want := range []struct {
			corr string
			row  int64
		}{{"same", 2}, {"same", 4}, {"row_5", 5}} {
			e := w.Errors[i]
			if e.CorrelationID != want.corr || e.Error.Details["row"] != want.row {
				t.Errorf("error %d: %+v, want correlationId %s and details.row %d", i, e, want.corr, want.row)
			}
		}
		// The synchronous import reports the rows too.
		res, err := s.ImportCSV(ctx, strings.NewReader(file), "vasp.example")
		if err != nil || res.Failed != 5 {
			t.Fatalf("%+v %v", res, err)
		}
		for i, e := range res.Errors {
			if e.Row != int64(i+1) {
				t.Errorf("ImportCSV error %d: %+v, want row %d", i, e, i+1)
			}
		}
	})
}

// TestImportJobForgetsItsFile: the uploaded file (names, birth dates, bank
// accounts) is kept only while the job needs it. Once the job has ended
// it is emptied, as a PATCH leaves no copy of the personal data it
// replaced; the job's counters and errors stay, and a retry under the
// upload's Idempotency-Key is still answered (by the file's SHA-256).
func TestImportJobForgetsItsFile(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		im := users.NewImporter(s, users.ImporterOptions{})
		storedBytes := func(id string) int {
			t.Helper()
			var n int
			if err := db.QueryRowContext(ctx, `SELECT length(csv) FROM user_imports WHERE id = $1`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		j, err := im.SubmitOnce(ctx, []byte(importCSV), "vasp.example", "upload-1")
		if err != nil {
			t.Fatal(err)
		}
		if n := storedBytes(j.ID); n != len(importCSV) {
			t.Fatalf("a pending job keeps %d bytes of its %d-byte file", n, len(importCSV))
		}
		if found, err := im.Step(ctx); !found || err != nil {
			t.Fatalf("step: %v %v", found, err)
		}
		if n := storedBytes(j.ID); n != 0 {
			t.Fatalf("the finished job still keeps %d bytes of the uploaded file", n)
		}
		done, err := im.Get(ctx, j.ID)
		if err != nil || done.Status != users.ImportCompleted || done.Successful != 2 || len(done.Errors) != 4 {
			t.Fatalf("finished job %+v %v", done, err)
		}
		again, err := im.SubmitOnce(ctx, []byte(importCSV), "vasp.example", "upload-1")
		if err != nil || !again.Replayed || again.ID != j.ID || again.Status != users.ImportCompleted {
			t.Fatalf("retry %+v %v", again, err)
		}
		_, err = im.SubmitOnce(ctx, []byte(importCSV+"$x,x,INDIVIDUAL\n"), "vasp.example", "upload-1")
		wantCode(t, err, 422, vaspd.CodeIdempotencyKeyReused)
	})
}
