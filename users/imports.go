package users

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/webhook"
)

// Statuses of a bulk import job (UMAaaS BulkUserImportJob.status).
const (
	ImportPending    = "PENDING"
	ImportProcessing = "PROCESSING"
	ImportCompleted  = "COMPLETED"
	ImportFailed     = "FAILED"
)

// MaxImportBytes bounds one uploaded CSV file.
const MaxImportBytes = 32 << 20

// MaxReportedImportErrors bounds the row errors an ImportJob carries (the
// counters stay exact): a 100 000-row file of bad rows must not turn every
// job read and its webhook into megabytes.
const MaxReportedImportErrors = 1000

// MaxReportedImportErrorBytes bounds the reported row errors as JSON, too:
// a row's correlation id and message echo up to 80 bytes of the file each,
// and characters JSON escapes six-fold ("<" is \u003c) would otherwise let
// 1 000 errors exceed the 1 MiB that receivers (webhook.DefaultMaxBodyBytes)
// accept, and the BULK_UPLOAD webhook would be refused on every attempt.
const MaxReportedImportErrorBytes = 512 << 10

// ImportJob is a bulk CSV import (UMAaaS BulkUserImportJob).
type ImportJob struct {
	ID         string
	Status     string
	Total      int64 // data rows in the file
	Processed  int64
	Successful int64
	Failed     int64
	// Errors are the failed rows, first ones first, at most
	// MaxReportedImportErrors of them and MaxReportedImportErrorBytes as
	// JSON.
	Errors []ImportRowError
	// Failure says why a FAILED job stopped.
	Failure     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt time.Time
	// Replayed is set by SubmitOnce when an earlier submission with the
	// same idempotency key created the job.
	Replayed bool
}

// Webhook is j in the UMAaaS shape, as GET /users/bulk/jobs/{jobId} and
// the BULK_UPLOAD webhook carry it.
func (j ImportJob) Webhook() webhook.BulkUserImportJob {
	w := webhook.BulkUserImportJob{JobID: j.ID, Status: j.Status, CompletedAt: j.CompletedAt,
		Errors: make([]webhook.BulkImportError, 0, len(j.Errors))}
	w.Progress.Total, w.Progress.Processed = j.Total, j.Processed
	w.Progress.Successful, w.Progress.Failed = j.Successful, j.Failed
	for _, e := range j.Errors {
		w.Errors = append(w.Errors, e.webhook())
	}
	if j.Status == ImportFailed && j.Failure != "" {
		w.Errors = append(w.Errors, webhook.BulkImportError{CorrelationID: "file",
			Error: webhook.APIError{Status: http.StatusBadRequest, Code: vaspd.CodeInvalidInput, Message: j.Failure}})
	}
	return w
}

// webhook is e in the UMAaaS shape, its row in error.details.row.
func (e ImportRowError) webhook() webhook.BulkImportError {
	return webhook.BulkImportError{CorrelationID: e.CorrelationID, Error: webhook.APIError{Status: e.Error.Status,
		Code: e.Error.Code, Message: e.Error.Message, Details: map[string]any{"row": e.Row}}}
}

// ImportAnnouncer tells the platform that a job has finished, inside the
// transaction that finishes it, so the job's end and its announcement
// commit together. The daemon passes the webhook engine (BULK_UPLOAD).
type ImportAnnouncer interface {
	AnnounceImport(ctx context.Context, tx *store.Tx, job ImportJob) error
}

// ImporterOptions configure an Importer. The zero value works.
type ImporterOptions struct {
	Log       *slog.Logger
	Announcer ImportAnnouncer // nil: nobody is told
	// PollInterval is how often Run looks for jobs other processes
	// submitted (jobs submitted here wake it at once). Default 1 s.
	PollInterval time.Duration
	// Lease is how long a job stays with the process working on it after
	// its last processed row; a process that dies mid-job hands it on
	// after that. Default 30 s.
	Lease time.Duration
	// ErrorRetention is how long after its job ended a row error is kept
	// (DefaultImportErrorRetention, 30 days); older ones are deleted every
	// hour by Run (PruneErrors).
	ErrorRetention time.Duration
}

// Importer runs bulk CSV imports (UMAaaS POST /users/bulk/csv) as durable
// jobs: Submit stores the file with a PENDING job, and Run, in any vaspd
// process sharing the database, works through it one row per transaction.
// Each of those transactions creates the row's user (or records its error)
// and advances the job, under the job's lease, so a crash at any point
// resumes at the next row and no row is imported twice, even with several
// processes.
type Importer struct {
	users *Service
	opt   ImporterOptions
	wake  chan struct{}
	crash bool // tests: stop as a process that died would, handing nothing back
}

// NewImporter returns an Importer creating users through s.
func NewImporter(s *Service, opt ImporterOptions) *Importer {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 30 * time.Second
	}
	if opt.ErrorRetention <= 0 {
		opt.ErrorRetention = DefaultImportErrorRetention
	}
	return &Importer{users: s, opt: opt, wake: make(chan struct{}, 1)}
}

// Submit checks file (the header must be valid and the rows at most
// MaxImportRows; row problems are reported by the job) and stores it as a
// PENDING job. domain is this VASP's UMA domain.
func (im *Importer) Submit(ctx context.Context, file []byte, domain string) (ImportJob, error) {
	return im.SubmitOnce(ctx, file, domain, "")
}

// SubmitOnce is Submit under an idempotency key (none if ""): a retry with
// the same key and the same file answers the job the first created, as it
// is now (Replayed set), and starts nothing; the key with another file is a
// 422 IDEMPOTENCY_KEY_REUSED. The key is stored on the job by the INSERT
// that creates it.
func (im *Importer) SubmitOnce(ctx context.Context, file []byte, domain, key string) (ImportJob, error) {
	if len(file) > MaxImportBytes {
		return ImportJob{}, vaspd.Errorf(http.StatusRequestEntityTooLarge, vaspd.CodeRequestTooLarge,
			"the CSV file is larger than %d bytes", MaxImportBytes)
	}
	f, err := openCSV(bytes.NewReader(file), domain)
	if err != nil {
		return ImportJob{}, err
	}
	var total int64
	for {
		_, _, _, _, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ImportJob{}, err
		}
		total++
	}
	var sum string
	if key != "" {
		h := sha256.Sum256(file)
		sum = hex.EncodeToString(h[:])
	}
	for try := 0; ; try++ {
		j, err := im.submit(ctx, file, domain, total, key, sum)
		if errors.Is(err, errImportKeyTaken) && try < 3 {
			continue // a concurrent submission with the key committed first: the next try answers its job
		}
		if err == nil && !j.Replayed {
			select {
			case im.wake <- struct{}{}:
			default:
			}
		}
		return j, err
	}
}

// errImportKeyTaken: the INSERT of a new job met the idempotency key's
// unique index. On PostgreSQL the transaction is then aborted, so
// SubmitOnce tries again in a new one.
var errImportKeyTaken = errors.New("users: import idempotency key taken")

// submit answers the job key names if there is one (sum is the file's
// SHA-256, which must be that job's), else stores file as a new job, in
// one transaction.
func (im *Importer) submit(ctx context.Context, file []byte, domain string, total int64, key, sum string) (ImportJob, error) {
	var j ImportJob
	err := im.users.db.InTx(ctx, func(tx *store.Tx) error {
		var idem, hash any
		if key != "" {
			id, err := findKey(ctx, tx, `SELECT id, csv_sha256 FROM user_imports WHERE idempotency_key = $1`, key, sum,
				"to upload another file")
			if err != nil {
				return err
			}
			if id != "" {
				if j, err = getImport(ctx, tx, id); err != nil {
					return err
				}
				j.Replayed = true
				return nil
			}
			idem, hash = key, sum
		}
		now := im.users.clock.Now().UTC().Truncate(time.Microsecond)
		j = ImportJob{ID: vaspd.NewID(vaspd.IDJob), Status: ImportPending, Total: total, Errors: []ImportRowError{},
			CreatedAt: now, UpdatedAt: now}
		_, err := tx.ExecContext(ctx, `INSERT INTO user_imports (id, status, csv, domain, total, next_row,
			successful, failed, lease_until, created_at, updated_at, idempotency_key, csv_sha256)
			VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 0, $6, $6, $7, $8)`,
			j.ID, j.Status, file, domain, total, store.Micros(now), idem, hash)
		if err != nil && key != "" && tx.Driver().IsUniqueViolation(err) {
			return fmt.Errorf("%w: %w", errImportKeyTaken, err)
		}
		if err != nil {
			return fmt.Errorf("users: store import job: %w", err)
		}
		return nil
	})
	if err != nil {
		return ImportJob{}, err
	}
	return j, nil
}

// Get returns job id; an unknown id is a 404 BULK_UPLOAD_JOB_NOT_FOUND.
func (im *Importer) Get(ctx context.Context, id string) (ImportJob, error) {
	return getImport(ctx, im.users.db, id)
}

func getImport(ctx context.Context, q store.Querier, id string) (ImportJob, error) {
	j := ImportJob{ID: id, Errors: []ImportRowError{}}
	var failure sql.NullString
	var created, updated int64
	var completed sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT status, total, next_row, successful, failed, failure, created_at,
		updated_at, completed_at FROM user_imports WHERE id = $1`, id).Scan(&j.Status, &j.Total, &j.Processed,
		&j.Successful, &j.Failed, &failure, &created, &updated, &completed)
	if errors.Is(err, sql.ErrNoRows) {
		return ImportJob{}, vaspd.NotFound(vaspd.CodeBulkUploadJobNotFound, "bulk upload job %s not found", truncate(id))
	}
	if err != nil {
		return ImportJob{}, fmt.Errorf("users: read import job: %w", err)
	}
	j.Failure = failure.String
	j.CreatedAt, j.UpdatedAt = store.Time(created), store.Time(updated)
	if completed.Valid {
		j.CompletedAt = store.Time(completed.Int64)
	}
	rows, err := q.QueryContext(ctx, `SELECT row_number, correlation_id, status, code, message FROM user_import_errors
		WHERE import_id = $1 ORDER BY row_number LIMIT $2`, id, MaxReportedImportErrors)
	if err != nil {
		return ImportJob{}, fmt.Errorf("users: read import errors: %w", err)
	}
	defer rows.Close()
	size := 0
	for rows.Next() {
		var e ImportRowError
		if err := rows.Scan(&e.Row, &e.CorrelationID, &e.Error.Status, &e.Error.Code, &e.Error.Message); err != nil {
			return ImportJob{}, fmt.Errorf("users: read import errors: %w", err)
		}
		b, err := json.Marshal(e.webhook()) // as the webhook carries it
		if err != nil {
			return ImportJob{}, fmt.Errorf("users: encode import error: %w", err)
		}
		if size += len(b) + 1; size > MaxReportedImportErrorBytes {
			break
		}
		j.Errors = append(j.Errors, e)
	}
	return j, rows.Err()
}

// Run works through submitted jobs until ctx ends. Run it in every process:
// each job is worked on by one process at a time.
func (im *Importer) Run(ctx context.Context) error {
	t := time.NewTicker(im.opt.PollInterval)
	defer t.Stop()
	prune := time.NewTimer(time.Minute) // not at start: starts should be quick
	defer prune.Stop()
	for {
		found, err := im.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			im.opt.Log.Error("bulk user import", "err", err)
		}
		if found && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-im.wake:
		case <-prune.C:
			if n, err := im.PruneErrors(ctx); err != nil && ctx.Err() == nil {
				im.opt.Log.Error("prune bulk import row errors", "err", err)
			} else if n > 0 {
				im.opt.Log.Info("pruned old bulk import row errors", "rows", n)
			}
			prune.Reset(time.Hour)
		}
	}
}

// errLeaseLost stops work on a job another process has taken over.
var errLeaseLost = errors.New("users: import job lease lost")

// errRowRace rolls a row's transaction back when a concurrent user took the
// row's address between the check and the insert; the row is tried again.
var errRowRace = errors.New("users: address taken concurrently")

// Step claims one job that is due (pending, or abandoned by a process whose
// lease ran out) and works on it to its end. It reports whether it found
// one. If ctx ends first, Step stops between rows (the row in flight is
// rolled back) and hands the job back, so that any process may resume it at
// once.
func (im *Importer) Step(ctx context.Context) (bool, error) {
	db, clock := im.users.db, im.users.clock
	var b [12]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	now := store.Micros(clock.Now())
	var (
		id, domain string
		file       []byte
		next       int64
	)
	// The outer lease check is evaluated again on the locked row, so of
	// two processes racing for one job only one gets it.
	err := db.QueryRowContext(ctx, `UPDATE user_imports SET status = $1, lease_token = $2, lease_until = $3, updated_at = $4
		WHERE id = (SELECT id FROM user_imports WHERE status IN ('PENDING', 'PROCESSING') AND lease_until <= $4
			ORDER BY created_at LIMIT 1) AND status IN ('PENDING', 'PROCESSING') AND lease_until <= $4
		RETURNING id, csv, domain, next_row`,
		ImportProcessing, token, store.Micros(clock.Now().Add(im.opt.Lease)), now).Scan(&id, &file, &domain, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("users: claim import job: %w", err)
	}
	log := im.opt.Log.With("job", id)
	if next == 0 {
		log.Info("bulk user import started")
	} else {
		log.Info("bulk user import resumed", "row", next+1)
	}
	err = im.work(ctx, id, token, file, domain, next)
	if errors.Is(err, errLeaseLost) {
		log.Warn("bulk user import taken over by another process")
		return true, nil
	}
	if err != nil && ctx.Err() != nil && !im.crash {
		// Stopping (a graceful shutdown): the row in flight was cut
		// short, and its transaction, which advances the job under the
		// lease check, committed whole or not at all. Nothing works on the
		// job here any more, so hand it back rather than make every
		// other process wait out the lease.
		im.release(ctx, id, token)
	}
	return true, err
}

// release hands job id, claimed under token, back: claimable by any
// process at once, from the row it reached. Only a job still held under
// token is touched, so one another process took over meanwhile keeps its
// lease. It runs on a short context of its own, ctx having ended; if it
// fails, the lease runs out as after a crash.
//
// On PostgreSQL a row transaction cut short by ctx may still be open on
// the server for a moment (COMMIT already sent): it holds the job's row
// from its UPDATE on, so this UPDATE waits for it to end either way.
func (im *Importer) release(ctx context.Context, id, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := im.users.db.ExecContext(ctx, `UPDATE user_imports SET lease_token = NULL, lease_until = 0, updated_at = $1
		WHERE id = $2 AND lease_token = $3 AND status = $4`,
		store.Micros(im.users.clock.Now()), id, token, ImportProcessing)
	if err != nil {
		im.opt.Log.Warn("bulk user import not handed back; its lease will end", "job", id, "err", err)
		return
	}
	im.opt.Log.Info("bulk user import handed back", "job", id)
}

// work imports the rows of job id after the first done ones, then
// finishes the job.
func (im *Importer) work(ctx context.Context, id, token string, file []byte, domain string, done int64) error {
	f, err := openCSV(bytes.NewReader(file), domain)
	if err != nil {
		return im.finish(ctx, id, token, ImportFailed, err.Error())
	}
	for {
		row, corr, u, rowErr, err := f.next()
		if errors.Is(err, io.EOF) {
			return im.finish(ctx, id, token, ImportCompleted, "")
		}
		if err != nil {
			var e *vaspd.Error
			if errors.As(err, &e) {
				return im.finish(ctx, id, token, ImportFailed, e.Message)
			}
			return im.finish(ctx, id, token, ImportFailed, err.Error())
		}
		if int64(row) <= done {
			continue
		}
		if err := im.importRow(ctx, id, token, int64(row), corr, u, rowErr); err != nil {
			return err
		}
	}
}

// importRow creates one row's user, or records why not, and advances the
// job, in one transaction.
func (im *Importer) importRow(ctx context.Context, id, token string, row int64, corr string, u User, rowErr error) error {
	s := im.users
	for try := 0; ; try++ {
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			rerr := rowErr
			if rerr == nil {
				// Checked first: on PostgreSQL a failed INSERT would abort
				// the transaction that must record the row's error.
				if _, err := s.GetByUMALocal(ctx, tx, u.UMALocal); err == nil {
					rerr = addressExists(u.UMALocal)
				} else if vaspd.AsError(err).Code != vaspd.CodeUserNotFound {
					return err
				} else if _, err := s.Create(ctx, tx, u); err != nil {
					if vaspd.AsError(err).Code == vaspd.CodeUMAAddressExists {
						return errRowRace
					}
					rerr = err
				}
			}
			ok, failed := int64(1), int64(0)
			if rerr != nil {
				body, isRow := asRowError(rerr)
				if !isRow {
					return rerr
				}
				ok, failed = 0, 1
				if _, err := tx.ExecContext(ctx, `INSERT INTO user_import_errors (import_id, row_number, correlation_id,
					status, code, message) VALUES ($1, $2, $3, $4, $5, $6)`,
					id, row, corr, body.Status, body.Code, body.Message); err != nil {
					return fmt.Errorf("users: record import error: %w", err)
				}
			}
			now := s.clock.Now()
			res, err := tx.ExecContext(ctx, `UPDATE user_imports SET next_row = $1, successful = successful + $2,
				failed = failed + $3, lease_until = $4, updated_at = $5
				WHERE id = $6 AND lease_token = $7 AND next_row = $8`,
				row, ok, failed, store.Micros(now.Add(im.opt.Lease)), store.Micros(now), id, token, row-1)
			if err != nil {
				return fmt.Errorf("users: advance import job: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errLeaseLost
			}
			return nil
		})
		if errors.Is(err, errRowRace) && try < 3 {
			continue
		}
		if err != nil && !errors.Is(err, errLeaseLost) {
			return fmt.Errorf("users: import row %d: %w", row, err)
		}
		return err
	}
}

// finish ends job id with status and announces it, in one transaction.
// The stored file is emptied: nothing reads it once the job has ended (a
// retry under the upload's key is compared by csv_sha256), and it holds
// every row's personal data and bank details, which must not outlive the
// users' own records (a PATCH keeps no copy of what it replaced).
//
// It is not cut short by ctx ending (the importer stopping): cancelling a
// transaction while its COMMIT is on the wire leaves its outcome unknown
// here — the job finished and announced in the database, while this
// process saw an error and ran none of its after-commit work. A short,
// bounded transaction is let finish instead.
func (im *Importer) finish(ctx context.Context, id, token, status, failure string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s := im.users
	var j ImportJob
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := store.Micros(s.clock.Now())
		var fail any
		if failure != "" {
			fail = truncate(failure)
		}
		res, err := tx.ExecContext(ctx, `UPDATE user_imports SET status = $1, failure = $2, completed_at = $3,
			updated_at = $3, lease_token = NULL, lease_until = 0, csv = $6 WHERE id = $4 AND lease_token = $5`,
			status, fail, now, id, token, []byte{})
		if err != nil {
			return fmt.Errorf("users: finish import job: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errLeaseLost
		}
		if j, err = getImport(ctx, tx, id); err != nil {
			return err
		}
		if im.opt.Announcer == nil {
			return nil
		}
		return im.opt.Announcer.AnnounceImport(ctx, tx, j)
	})
	if err == nil {
		im.opt.Log.Info("bulk user import finished", "job", id, "status", status,
			"successful", j.Successful, "failed", j.Failed)
	}
	return err
}
