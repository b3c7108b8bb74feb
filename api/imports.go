package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/users"
)

// MountUserImports adds the bulk CSV user upload (UMAaaS):
//
//	POST /users/bulk/csv             MANAGE  multipart field "file" (or a text/csv body) → 202 {jobId, status};
//	                                         idempotent (Idempotency-Key): a retry → the first answer (202,
//	                                         PENDING), Idempotent-Replayed
//	GET  /users/bulk/jobs/{jobId}    VIEW    BulkUserImportJob
//
// The file's header is checked at once (400 for a bad header, 413 for a file
// over users.MaxImportBytes); its rows are imported by a durable background
// job, which ends with a BULK_UPLOAD webhook. domain is this VASP's UMA
// domain: addresses in the file may omit it.
func (s *Server) MountUserImports(im *users.Importer, domain string) {
	h := &importHandlers{im: im, domain: strings.ToLower(domain)}
	s.Handle("POST /users/bulk/csv", vaspd.PermManage, h.upload, Audited)
	s.Handle("GET /users/bulk/jobs/{jobId}", vaspd.PermView, h.get)
}

type importHandlers struct {
	im     *users.Importer
	domain string
}

func (h *importHandlers) upload(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key, idempotencyMaxKey); err != nil {
		return err
	}
	file, err := readCSVUpload(w, r)
	if err != nil {
		return err
	}
	j, err := h.im.SubmitOnce(r.Context(), file, h.domain, key)
	if err != nil {
		return err
	}
	status := j.Status
	if j.Replayed {
		// The first answer, 202 and PENDING: the UMAaaS operation
		// declares 202 only, with a status of PENDING or PROCESSING, and
		// a client generated from it may refuse a finished job's
		// COMPLETED or FAILED, failing every retry alike. The job's read
		// (GET /users/bulk/jobs/{jobId}) has its status now.
		w.Header().Set("Idempotent-Replayed", "true")
		status = users.ImportPending
	}
	noteCreated(r, j.ID)
	WriteJSON(w, http.StatusAccepted, map[string]string{"jobId": j.ID, "status": status})
	return nil
}

func (h *importHandlers) get(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "jobId", vaspd.IDJob, vaspd.CodeBulkUploadJobNotFound)
	if err != nil {
		return err
	}
	j, err := h.im.Get(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, j.Webhook())
	return nil
}

// readCSVUpload returns the uploaded file: the "file" part of a
// multipart/form-data body, as UMAaaS specifies, or a text/csv body.
func readCSVUpload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := uncompressed(r); err != nil {
		return nil, err
	}
	const slack = 64 << 10 // multipart headers and boundaries
	body := &overLimit{ReadCloser: http.MaxBytesReader(w, r.Body, users.MaxImportBytes+slack)}
	r.Body = body
	file, err := readCSVBody(r)
	if err != nil && body.err != nil {
		// The limit cut the body short, whatever the reader made of the
		// cut (a part header cut off is "malformed" to the multipart
		// reader): the body is too large, not malformed.
		return nil, uploadError(body.err)
	}
	return file, err
}

// overLimit remembers the error http.MaxBytesReader answered once the body
// went over its limit.
type overLimit struct {
	io.ReadCloser
	err *http.MaxBytesError
}

func (o *overLimit) Read(p []byte) (int, error) {
	n, err := o.ReadCloser.Read(p)
	if err != nil && o.err == nil {
		errors.As(err, &o.err)
	}
	return n, err
}

// readCSVBody reads the file from r's body, which readCSVUpload has limited.
func readCSVBody(r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	switch mt {
	case "text/csv":
		return readLimited(r.Body)
	case "multipart/form-data":
	default:
		return nil, vaspd.Errorf(http.StatusUnsupportedMediaType, vaspd.CodeUnsupportedMediaType,
			"Content-Type must be multipart/form-data with the CSV in the field \"file\" (or text/csv)")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "malformed multipart body: %s", vaspd.Truncate(err.Error(), 200))
	}
	// The whole body is read: a second "file" part would make the upload
	// ambiguous (which file did the platform mean?), so it is refused
	// rather than dropped unseen.
	var file []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if file == nil {
				return nil, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidInput, "the multipart body has no \"file\" field")
			}
			return file, nil
		}
		if err != nil {
			return nil, uploadError(err)
		}
		if part.FormName() != "file" {
			_ = part.Close()
			continue
		}
		if file != nil {
			return nil, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidInput,
				"the multipart body has more than one \"file\" field: upload one CSV file per request")
		}
		if file, err = readLimited(part); err != nil {
			return nil, err
		}
		if file == nil {
			file = []byte{} // an empty part is still the file: its header is checked as such
		}
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, users.MaxImportBytes+1))
	if err != nil {
		return nil, uploadError(err)
	}
	if len(b) > users.MaxImportBytes {
		return nil, vaspd.Errorf(http.StatusRequestEntityTooLarge, vaspd.CodeRequestTooLarge,
			"the CSV file is larger than %d bytes", users.MaxImportBytes)
	}
	return b, nil
}

func uploadError(err error) error {
	if readFailed(err) {
		return bodyReadError(err)
	}
	return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "malformed upload: %s", vaspd.Truncate(err.Error(), 200))
}
