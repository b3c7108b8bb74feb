package api_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

const uploadCSV = "umaAddress,platformUserId,userType,fullName\n" +
	"john.doe@vasp.example,user123,INDIVIDUAL,John Doe\n" +
	"$jane,user124,INDIVIDUAL,Jane Roe\n" +
	"bad@elsewhere.example,user125,INDIVIDUAL,Bad Domain\n"

// multipartBody is a multipart/form-data body with the given fields.
func multipartBody(t *testing.T, fields map[string]string) (contentType, body string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, v := range fields {
		fw, err := mw.CreateFormFile(name, name+".csv")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(v))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.String()
}

// newImportsFixture is a fixture serving /users/bulk for the UMA domain
// domain, and the importer behind it, which runs a job when stepped.
func newImportsFixture(t *testing.T, db *store.DB, domain string) (*fixture, *users.Importer) {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	im := users.NewImporter(users.New(db, nil, users.WithRates(p)), users.ImporterOptions{})
	return newFixture(t, db, func(s *api.Server) { s.MountUserImports(im, domain) }), im
}

func TestBulkUserUpload(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, im := newImportsFixture(t, db, "VASP.example")

		ct, body := multipartBody(t, map[string]string{"file": uploadCSV})
		st, resp := f.do(t, "POST", "/users/bulk/csv", &f.admin, ct, body)
		if st != 202 || resp["status"] != "PENDING" || !strings.HasPrefix(resp["jobId"].(string), "Job:") {
			t.Fatalf("upload: %d %v", st, resp)
		}
		id := resp["jobId"].(string)
		st, resp = f.do(t, "GET", "/users/bulk/jobs/"+id, &f.viewer, "", "")
		if st != 200 || resp["status"] != "PENDING" || resp["progress"].(map[string]any)["total"] != float64(3) {
			t.Fatalf("pending job: %d %v", st, resp)
		}
		if found, err := im.Step(context.Background()); !found || err != nil {
			t.Fatalf("step %v %v", found, err)
		}
		st, resp = f.do(t, "GET", "/users/bulk/jobs/"+id, &f.viewer, "", "")
		prog, _ := resp["progress"].(map[string]any)
		errs, _ := resp["errors"].([]any)
		if st != 200 || resp["status"] != "COMPLETED" || prog["processed"] != float64(3) || prog["successful"] != float64(2) ||
			prog["failed"] != float64(1) || len(errs) != 1 || resp["completedAt"] == nil {
			t.Fatalf("finished job: %d %v", st, resp)
		}
		e := errs[0].(map[string]any)
		if e["correlationId"] != "user125" || e["error"].(map[string]any)["code"] != vaspd.CodeInvalidUMAAddress {
			t.Fatalf("row error %v", e)
		}

		// A text/csv body is accepted too.
		st, resp = f.do(t, "POST", "/users/bulk/csv", &f.admin, "text/csv", "umaAddress,platformUserId,userType\n$x,p,INDIVIDUAL\n")
		if st != 202 {
			t.Fatalf("text/csv upload: %d %v", st, resp)
		}

		for _, c := range []struct {
			name, ct, body string
			status         int
			code           string
		}{
			{"json", "application/json", `{}`, 415, vaspd.CodeUnsupportedMediaType},
			{"no content type", "", uploadCSV, 415, vaspd.CodeUnsupportedMediaType},
			{"broken multipart", "multipart/form-data; boundary=xyz", "--xyz\r\nnot a part", 400, vaspd.CodeInvalidRequestFormat},
			{"multipart without boundary", "multipart/form-data", "x", 400, vaspd.CodeInvalidRequestFormat},
			{"bad header", "text/csv", "umaAddress,userType\n", 400, vaspd.CodeInvalidInput},
			{"empty file", "text/csv", "", 400, vaspd.CodeInvalidInput},
		} {
			st, resp := f.do(t, "POST", "/users/bulk/csv", &f.admin, c.ct, c.body)
			if st != c.status || resp["code"] != c.code {
				t.Errorf("%s: %d %v, want %d %s", c.name, st, resp, c.status, c.code)
			}
		}
		ct, body = multipartBody(t, map[string]string{"other": uploadCSV})
		if st, resp := f.do(t, "POST", "/users/bulk/csv", &f.admin, ct, body); st != 400 || resp["code"] != vaspd.CodeInvalidInput {
			t.Errorf("no file field: %d %v", st, resp)
		}
		big := "umaAddress,platformUserId,userType\n" + strings.Repeat("$a,p,INDIVIDUAL\n", users.MaxImportBytes/16+1)
		if st, resp := f.do(t, "POST", "/users/bulk/csv", &f.admin, "text/csv", big); st != 413 || resp["code"] != vaspd.CodeRequestTooLarge {
			t.Errorf("too large: %d %v", st, resp)
		}
		ct, body = multipartBody(t, map[string]string{"file": uploadCSV})
		if st, _ := f.do(t, "POST", "/users/bulk/csv", &f.viewer, ct, body); st != 403 {
			t.Errorf("a VIEW token uploaded: %d", st)
		}
		if st, _ := f.do(t, "POST", "/users/bulk/csv", nil, ct, body); st != 401 {
			t.Errorf("anonymous upload: %d", st)
		}
		for _, p := range []string{"/users/bulk/jobs/" + vaspd.NewID(vaspd.IDJob), "/users/bulk/jobs/nope", "/users/bulk/jobs/" + vaspd.NewID(vaspd.IDUser)} {
			if st, resp := f.do(t, "GET", p, &f.viewer, "", ""); st != 404 || resp["code"] != vaspd.CodeBulkUploadJobNotFound {
				t.Errorf("GET %s: %d %v", p, st, resp)
			}
		}
	})
}

// TestBulkUserUploadIdempotencyKey: a platform retrying POST
// /users/bulk/csv after a lost response, with its Idempotency-Key, gets the
// job the first upload created (its 202, marked Idempotent-Replayed), never
// a second job importing the file again; the key sent with another file is
// refused, and of concurrent retries one creates.
func TestBulkUserUploadIdempotencyKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, im := newImportsFixture(t, db, "vasp.example")
		// upload sends file as multipart/form-data, a new boundary each
		// time.
		upload := func(t *testing.T, file, key string) (int, map[string]any, http.Header) {
			t.Helper()
			ct, body := multipartBody(t, map[string]string{"file": file})
			return f.send(t, "POST", "/users/bulk/csv", &f.admin, ct, body, "Idempotency-Key", key)
		}
		testIdempotencyKey(t, db, idempotentCreate{
			send: upload, status: http.StatusAccepted, id: "jobId", table: "user_imports",
			body: uploadCSV, key: "csv-1",
			retries: []string{uploadCSV}, // another multipart boundary
			others:  []string{uploadCSV + "$late,user126,INDIVIDUAL,Late\n"},
			then: func(t *testing.T, first map[string]any) {
				// The same file sent as text/csv is the same upload.
				st, got, h := f.send(t, "POST", "/users/bulk/csv", &f.admin, "text/csv", uploadCSV, "Idempotency-Key", "csv-1")
				if st != http.StatusAccepted || h.Get("Idempotent-Replayed") != "true" || got["jobId"] != first["jobId"] {
					t.Fatalf("retry as text/csv: %d %v %v, want job %v", st, got, h, first["jobId"])
				}
				// Once the job ran, a retry answers the first answer's
				// 202, PENDING, and starts nothing: the 202's schema allows
				// only PENDING and PROCESSING, and a client generated from
				// it may refuse COMPLETED, failing each retry alike. The
				// job's read has its status now.
				if found, err := im.Step(context.Background()); !found || err != nil {
					t.Fatalf("step %v %v", found, err)
				}
				if st, got, h := upload(t, uploadCSV, "csv-1"); st != http.StatusAccepted || got["jobId"] != first["jobId"] ||
					got["status"] != "PENDING" || h.Get("Idempotent-Replayed") != "true" {
					t.Fatalf("retry after the job: %d %v", st, got)
				}
				if st, got := f.do(t, "GET", "/users/bulk/jobs/"+first["jobId"].(string), &f.admin, "", ""); st != http.StatusOK ||
					got["status"] != "COMPLETED" {
					t.Fatalf("the job after the retry: %d %v", st, got)
				}
				if found, err := im.Step(context.Background()); found || err != nil {
					t.Fatalf("a retry left a job to run: %v %v", found, err)
				}
			},
			total: 3,
		})
	})
}

// TestBulkUserUploadTwoFileParts: a multipart body with two "file" parts is
// ambiguous (which one is the upload?): it is refused with a 400 naming the
// problem, rather than the first imported and the second silently dropped,
// and no job is created.
func TestBulkUserUploadTwoFileParts(t *testing.T) {
	t.Parallel()
	f, im := newImportsFixture(t, storetest.SQLite(t), "vasp.example")
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, part := range []struct{ name, body string }{
		{"file", "umaAddress,platformUserId,userType\n$first,p1,INDIVIDUAL\n"},
		{"note", "not the file"},
		{"file", "umaAddress,platformUserId,userType\n$second,p2,INDIVIDUAL\n"},
	} {
		fw, err := mw.CreateFormFile(part.name, part.name+".csv")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(part.body))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	st, resp := f.do(t, "POST", "/users/bulk/csv", &f.admin, mw.FormDataContentType(), b.String())
	wantError(t, st, resp, 400, vaspd.CodeInvalidInput)
	if msg, _ := resp["message"].(string); !strings.Contains(msg, `more than one "file"`) {
		t.Errorf("message %q does not say there are two file parts", msg)
	}
	if found, err := im.Step(context.Background()); found || err != nil {
		t.Fatalf("a refused upload left a job: %v %v", found, err)
	}
}

// TestBulkUserUploadOverLimitInPartHeader: a multipart body over the
// upload limit is a 413 wherever the limit cuts it, also inside a part's
// headers, where the multipart reader reports the cut-off header as
// malformed rather than the limit it met.
func TestBulkUserUploadOverLimitInPartHeader(t *testing.T) {
	t.Parallel()
	f, im := newImportsFixture(t, storetest.SQLite(t), "vasp.example")
	const limit = users.MaxImportBytes + 64<<10 // readCSVUpload's: the file and its multipart framing
	head := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\n\r\n" +
		"umaAddress,platformUserId,userType\n$a,p,INDIVIDUAL\n" +
		"\r\n--B\r\nContent-Disposition: form-data; name=\"pad\"\r\n\r\n"
	cut := "\r\n--B\r\nConte" // the limit falls right after this
	body := head + strings.Repeat("x", limit-len(head)-len(cut)) + cut +
		"nt-Disposition: form-data; name=\"late\"\r\n\r\nx\r\n--B--\r\n"
	st, resp := f.do(t, "POST", "/users/bulk/csv", &f.admin, "multipart/form-data; boundary=B", body)
	wantError(t, st, resp, 413, vaspd.CodeRequestTooLarge)
	if found, err := im.Step(context.Background()); found || err != nil {
		t.Fatalf("a refused upload left a job: %v %v", found, err)
	}
}
